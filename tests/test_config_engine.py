"""Issue 18: the [engine] section of the survey configuration (kind, memory_limit,
temp_directory, threads, spark_master, spark_config): checked with errors that name the key,
and turned into the Engine the ledger opens with."""

from __future__ import annotations

import pytest

from survey.form import DEMO_FORM
from survey.pipeline.config import load_config, validate_config
from survey.returns.ledger import Ledger

BASE = '[survey]\nname = "demo"\nseed = 1\n[register]\ndataset = "register"\nyear = 2006\n'


def _write(tmp_path, text):
    path = tmp_path / "survey.toml"
    path.write_text(BASE + text, encoding="utf-8")
    return path


def test_engine_section_builds_the_engine_the_ledger_uses(tmp_path):
    path = _write(tmp_path, '[engine]\nmemory_limit = "300MB"\ntemp_directory = "spill"\n'
                            'threads = 1\n')
    assert validate_config(path) == []
    config = load_config(path)
    engine = config.make_engine()
    assert engine.kind == "duckdb" and engine.memory_limit == "300MB" and engine.threads == 1
    assert engine.temp_directory == str(tmp_path.resolve() / "spill")  # relative to the file
    assert config.section("engine")["memory_limit"] == "300MB"
    with Ledger.open(tmp_path / "l.duckdb", form=DEMO_FORM, engine=engine) as ledger:
        got = ledger._con.execute("SELECT current_setting('memory_limit'), "
                                  "current_setting('temp_directory')").fetchall()[0]
    assert got == ("286.1 MiB", str(tmp_path.resolve() / "spill"))
    # without the section: no engine (the ledger's own default, Engine(): 4 GB)
    assert load_config(_write(tmp_path, "")).make_engine() is None


def test_spark_engine_settings(tmp_path):
    path = _write(tmp_path, '[engine]\nkind = "spark"\nspark_master = "local[2]"\n'
                            'memory_limit = "2GB"\n[engine.spark_config]\n'
                            '"spark.sql.caseSensitive" = "true"\n')
    engine = load_config(path).make_engine()
    assert (engine.kind, engine.spark_master) == ("spark", "local[2]")
    assert dict(engine.spark_config) == {"spark.sql.caseSensitive": "true"}


@pytest.mark.parametrize(("text", "message"), [
    ('kind = "duckbd"', "engine.kind: must be one of 'duckdb', 'spark'"),
    ('memory_limit = "lots"', "engine.memory_limit: 'lots' is not a size like '4GB'"),
    ("memory_limit = 4", "engine.memory_limit: must be"),
    ("threads = 0", "engine.threads: must be in (0, inf)"),
    ('spark_master = "local[2]"', "engine.spark_master: only with kind = 'spark'"),
    ('memory_limt = "4GB"', "engine.memory_limt: unknown key; did you mean 'memory_limit'?"),
])
def test_engine_errors_name_the_key(tmp_path, text, message):
    problems = validate_config(_write(tmp_path, f"[engine]\n{text}\n"))
    assert any(message in p for p in problems), problems
