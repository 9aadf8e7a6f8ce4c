"""The `survey` command: it parses, calls the library and prints the library's numbers."""

from __future__ import annotations

import io
import json
import shutil
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import survey as sv
from survey.cli import main
from survey.pipeline import DEMO_CONFIG

SAMPLE = Path(__file__).parent.parent / "survey" / "datasets" / "data" / "sample_2006Q4.csv"
ARGS = ["estimate", str(SAMPLE), "--strata", "stratum", "--weights", "weight", "--fpc", "N_h",
        "--total", "gross_output,export_delivery", "--by", "city"]


def run(argv):
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(argv)
    return code, out.getvalue()


def test_estimate_csv_equals_library():
    code, text = run([*ARGS, "--format", "csv"])
    assert code == 0
    printed = pd.read_csv(io.StringIO(text))
    data = pd.read_csv(SAMPLE)
    est = sv.Survey(data, sv.Design(strata="stratum", weights="weight", fpc="N_h")).total(
        ["gross_output", "export_delivery"], by="city").table()
    assert printed.columns.tolist() == ["statistic", *est.columns]
    np.testing.assert_allclose(printed[["estimate", "se"]].to_numpy(), est[["estimate", "se"]].to_numpy(), rtol=1e-12)


def test_estimate_json_and_table_formats():
    code, text = run([*ARGS, "--format", "json", "--mean", "employees"])
    rows = json.loads(text)
    assert code == 0 and {r["statistic"] for r in rows} == {"total", "mean"}
    code, text = run(ARGS)
    assert code == 0 and "gross_output" in text and "ci_low" in text


def test_bundled_sample_has_take_all_stratum_with_zero_variance():
    data = pd.read_csv(SAMPLE)
    take_all = data[data.part == "take_all"]
    assert (take_all.N_h == len(take_all)).all() and (take_all.weight == 1).all()
    s = sv.Survey(data, sv.Design(strata="stratum", weights="weight", fpc="N_h"))
    est = s.subset(data.part.eq("take_all").to_numpy()).total("gross_output")
    assert est.se[0] == 0.0
    assert est.estimate[0] == pytest.approx(take_all.gross_output.sum())


def test_errors_are_reported_with_exit_code_2(capsys):
    assert main(["estimate", str(SAMPLE), "--strata", "stratum", "--fpc", "N_h", "--total", "gross_outptu"]) == 2
    err = capsys.readouterr().err
    assert "gross_outptu" in err and "did you mean 'gross_output'" in err
    assert main(["estimate", str(SAMPLE), "--weights", "weight"]) == 2
    assert "nothing to estimate" in capsys.readouterr().err


def test_validate_config(capsys, tmp_path):
    assert main(["validate-config", str(DEMO_CONFIG)]) == 0
    bad = tmp_path / "bad.toml"
    bad.write_text('[survey]\nname = "x"\nseed = 1\nlangauge = "zh"\n[register]\ndataset = "register"\nyear = 2006\n')
    assert main(["validate-config", str(bad)]) == 1
    assert "survey.langauge" in capsys.readouterr().out


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_plan_command_prints_one_line(tmp_path, capsys):
    assert main(["plan", str(DEMO_CONFIG), "--output", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("survey plan: 2005: n = ")
    assert lines[0].endswith(f"-> {tmp_path.resolve() / 'plan'}")
    assert (tmp_path / "plan" / "2006" / "plan_strata.csv").is_file()


def test_cycle_commands_refuse_to_write_into_the_package(capsys):
    """Without --output, the demo configuration's output folder would be inside the package."""
    assert main(["plan", str(DEMO_CONFIG)]) == 2
    err = capsys.readouterr().err
    assert "inside the survey package" in err and "--output" in err
    assert not (DEMO_CONFIG.parent / "output").exists()


def test_ingest_needs_period_equals_file(tmp_path, capsys):
    assert main(["ingest", str(DEMO_CONFIG), "2006Q4", "--output", str(tmp_path)]) == 2
    assert "PERIOD=FILE" in capsys.readouterr().err


def test_demo_refuses_a_folder_it_did_not_write(tmp_path, capsys, monkeypatch):
    """issue 13, 1: `survey demo` never deletes or overwrites a file it did not write: a
    folder that is not empty and has no demo marker is refused, byte for byte unchanged
    (the user's own ledger.duckdb too)."""
    (tmp_path / "ledger.duckdb").write_bytes(b"the user's own returns ledger")
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    before = _tree(tmp_path)
    for argv in (["demo", "--output", str(tmp_path)], ["demo", "--output", str(tmp_path), "--force"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "not empty and was not written by `survey demo`" in err and "nothing" in err
        assert _tree(tmp_path) == before
    # the default folder is ./survey-demo; a file of that name is refused too
    monkeypatch.chdir(tmp_path)
    (tmp_path / "survey-demo").write_text("a file", encoding="utf-8")
    assert main(["demo"]) == 2
    assert "is a file" in capsys.readouterr().err
    assert (tmp_path / "survey-demo").read_text(encoding="utf-8") == "a file"


@pytest.mark.slow
def test_wheel_runs_the_demo_from_an_empty_folder(tmp_path):
    """Packaging: the wheel (built from a copy of the sources) installed into a fresh virtual
    environment runs `survey demo` from an empty folder: the demo configuration and the
    bundled data come from the installed package (importlib.resources), the bulletin appears
    in ./survey-demo and nothing is written into the package or anywhere else in the test
    folder.

    The wheel is installed without its dependencies, which the fresh environment reads from
    this test environment's site-packages (a .pth file): installing numpy, pandas, scipy...
    again takes a minute and 600 MB. SURVEY_TEST_WHEEL_DEPS=1 installs them from the package
    index instead."""
    import os
    import subprocess
    import sys
    import sysconfig

    root = Path(__file__).resolve().parent.parent
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(root / name, source / name)
    shutil.copytree(root / "survey", source / "survey",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "output"))
    wheels = tmp_path / "wheels"
    # without build isolation: the backend of [build-system] (setuptools>=77) is in the test
    # extra, so pip does not install it into a temporary environment first (saves ~4 s)
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "-q",
                    "--no-build-isolation", "-w", str(wheels)],
                   check=True, capture_output=True, timeout=600)
    wheel = next(wheels.glob("survey_toolkit-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    python = venv / "bin" / "python"
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
               "--no-compile", str(wheel)]
    if not os.environ.get("SURVEY_TEST_WHEEL_DEPS"):
        site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                               "['purelib'])"], check=True, capture_output=True, text=True)
        Path(site.stdout.strip(), "_test_dependencies.pth").write_text(
            sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
        install.append("--no-deps")
    subprocess.run(install, check=True, capture_output=True, timeout=900)
    where = subprocess.run([str(python), "-B", "-c", "import survey; print(survey.__file__)"],
                           check=True, capture_output=True, text=True, cwd=tmp_path)
    package = Path(where.stdout.strip()).parent
    assert package.is_relative_to(venv)  # the installed wheel, not these sources
    assert (package / "pipeline" / "demo.toml").is_file()
    assert (package / "datasets" / "data" / "register.parquet").is_file()
    installed = sorted(package.rglob("*"))

    empty = tmp_path / "empty"
    empty.mkdir()
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run([str(venv / "bin" / "survey"), "demo"], cwd=empty, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "survey demo: the bulletin of 2006Q4 is" in done.stdout
    assert [p.name for p in empty.iterdir()] == ["survey-demo"]
    bulletin = empty / "survey-demo" / "bulletin"
    assert {"bulletin.html", "bulletin.xlsx", "headline.csv", "city.csv"} <= {
        p.name for p in bulletin.iterdir()}
    assert (empty / "survey-demo" / "survey-demo.json").is_file()
    assert sorted(package.rglob("*")) == installed  # nothing written into the package
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "source", "venv", "wheels"]


def test_report_level_and_area_reach_the_report_step(monkeypatch, tmp_path, capsys):
    """`survey report CONFIG --level city --area 450900` passes the federation's level and
    area to run_command (whose bulletin of one federation is tested in test_levels.py and
    test_cycle.py on the demo)."""
    from types import SimpleNamespace

    from survey import cli
    from survey.pipeline import DEMO_CONFIG, run

    seen = {}

    def fake_report(config, command, *, output, level=None, area=None):
        seen.update(level=level, area=area, output=output, command=command)
        return None, SimpleNamespace(html=tmp_path / "bulletin" / "city_450900" / "bulletin.html")

    monkeypatch.setattr(run, "run_command", fake_report)
    rc = cli.main(["report", str(DEMO_CONFIG), "--output", str(tmp_path), "--level", "city",
                   "--area", "450900"])
    assert rc == 0 and seen["level"] == "city" and seen["area"] == "450900"
    assert seen["command"] == "report"
    assert "city_450900" in capsys.readouterr().out
