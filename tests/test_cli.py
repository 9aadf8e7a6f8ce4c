"""The `survey` command: it parses, calls the library and prints the library's numbers."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import survey as sv
from survey.cli import main

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
    demo = Path(__file__).parent.parent / "examples" / "demo.toml"
    assert main(["validate-config", str(demo)]) == 0
    bad = tmp_path / "bad.toml"
    bad.write_text('[survey]\nname = "x"\nseed = 1\nlangauge = "zh"\n[register]\ndataset = "register"\nyear = 2006\n')
    assert main(["validate-config", str(bad)]) == 1
    assert "survey.langauge" in capsys.readouterr().out
