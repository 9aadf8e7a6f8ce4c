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


def test_demo_force_removes_only_its_own_earlier_output(demo, tmp_path):
    """--force replaces an earlier demo run: the files its marker lists (unchanged since) are
    removed and nothing else; a changed file or a stranger where the demo writes stops it
    before anything is removed."""
    from survey.errors import ConfigError
    from survey.pipeline.demo import MARKER, prepare_demo_folder

    folder = tmp_path / "demo"
    shutil.copytree(demo.output, folder)  # copy2: sizes and modification times kept
    (folder / "mine.txt").write_text("my notes", encoding="utf-8")
    (folder / "bulletin" / "my_chart.png").write_bytes(b"png")
    before = _tree(folder)
    with pytest.raises(ConfigError, match="earlier demo run; give --force"):
        prepare_demo_folder(folder)
    with pytest.raises(ConfigError, match="bulletin/my_chart.png was not written by the demo"):
        prepare_demo_folder(folder, force=True)
    assert _tree(folder) == before
    (folder / "bulletin" / "my_chart.png").unlink()
    (folder / "bulletin" / "city.csv").write_text("edited by hand", encoding="utf-8")
    with pytest.raises(ConfigError, match="bulletin/city.csv changed since the demo wrote it"):
        prepare_demo_folder(folder, force=True)
    (folder / "bulletin" / "city.csv").write_bytes(before["bulletin/city.csv"])
    import os

    stat = (demo.output / "bulletin" / "city.csv").stat()
    os.utime(folder / "bulletin" / "city.csv", ns=(stat.st_atime_ns, stat.st_mtime_ns))
    removed = prepare_demo_folder(folder, force=True)
    assert "ledger.duckdb" in removed and "bulletin/bulletin.html" in removed
    assert _tree(folder) == {"mine.txt": b"my notes"}
    assert sorted(p.name for p in folder.iterdir()) == ["mine.txt"]
    # an interrupted run lists no files: --force cannot tell them from the user's
    (folder / MARKER).write_text('{"status": "running", "files": {}}', encoding="utf-8")
    with pytest.raises(ConfigError, match="did not finish"):
        prepare_demo_folder(folder, force=True)


def test_demo_prints_one_line_per_step(demo, monkeypatch, capsys):
    """`survey demo` prints a summary line per step and where the bulletin is (the run is the
    session's demo run, replayed through the progress callback)."""
    import survey.pipeline.demo as module
    from survey.pipeline.run import STEPS

    values = {"plan": demo.plans, "select": demo.samples,
              "simulate": (demo.returns_files, demo.injected), "ingest": [], "edit": demo.edits,
              "impute": (demo.take_all, demo.sample), "weight": demo.surveys,
              "estimate": demo.estimates, "protect": demo.protected,
              "report": (demo.content, demo.files)}

    def replay(output, *, force, progress):
        for step in STEPS:
            progress(step, None, None)
            progress(step, values[step], demo.seconds[step])
        return demo

    monkeypatch.setattr(module, "run_demo", replay)
    assert main(["demo"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[0] for line in lines[:10]] == list(STEPS)
    assert "664 unit errors corrected" in lines[4] and "9377 values imputed" in lines[5]
    assert lines[7].startswith("estimate  gross_output 2006Q4: 16,057,564 (cv 0.6%, growth +8.8%)")
    assert lines[-1].startswith(f"survey demo: the bulletin of 2006Q4 is {demo.files.html}")
