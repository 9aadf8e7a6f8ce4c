"""The national synthetic register and returns: structure, reproducibility, bounded memory."""

from __future__ import annotations

import pandas as pd
import pytest

import survey as sv
from survey.datasets import load_register
from survey.datasets.national import (
    generate_national_register,
    generate_national_returns,
    read_dataset_metadata,
)
from survey.errors import PeriodError


@pytest.fixture(scope="module")
def national(tmp_path_factory):
    folder = tmp_path_factory.mktemp("national")
    reg = generate_national_register(folder / "reg.parquet", 60_000, seed=11, chunk_size=25_000)
    return reg, pd.read_parquet(reg.path), folder


def test_register_structure(national):
    """The bundled register's columns, valid unique USCC ids, 31 provinces, about 1.5% above size."""
    _, df, _ = national
    bundled = load_register(2006)
    shared = set(bundled.columns) - {"name", "county"}
    assert shared <= set(df.columns)
    assert len(df) == 60_000 and df["firm_id"].is_unique
    assert sv.valid_uscc(df["firm_id"].to_numpy()).all()
    assert df["province"].nunique() == 31 and df["city"].nunique() > 300
    assert (df["county_code"].str[:4] == df["city"]).all()
    assert (df["firm_id"].str[2:8] == df["county_code"]).all()
    assert 0.008 < df["above_size"].mean() < 0.025
    assert (df["revenue_prev_year"].isna() == (df["status"] == "new")).all()
    assert (df["above_size"] == (df["revenue_prev_year"] >= 20000)).all()
    assert (df["in_federation"] == (df["ownership"] == "urban collective")).all()
    assert (df["in_zone"] == df["zone"].notna()).all()


def test_register_is_reproducible_whatever_the_chunks(national, tmp_path):
    """Counter-based randomness: another chunk size gives the same file; the seed is recorded."""
    reg, df, _ = national
    again = generate_national_register(tmp_path / "again.parquet", 60_000, seed=11, chunk_size=7_001)
    pd.testing.assert_frame_equal(pd.read_parquet(again.path), df)
    meta = read_dataset_metadata(reg.path)
    assert meta["seed"] == 11 and meta["n_firms"] == 60_000 and meta["year"] == 2018
    other = generate_national_register(tmp_path / "other.parquet", 1000, seed=12)
    assert not pd.read_parquet(other.path)["firm_id"].isin(df["firm_id"].iloc[:1000]).all()


def test_returns_take_all_and_sample(national):
    """Returns for every above-size firm and every sampled firm, year to date, one file per quarter."""
    reg, df, folder = national
    sample = df.loc[~df["above_size"], "firm_id"].sample(3000, random_state=1)
    paths = generate_national_returns(reg, folder / "ret", ["2018Q1", "2018Q2", "2018Q3"], sample=sample,
                                      seed=5, chunk_size=20_000)
    q1, q3 = pd.read_parquet(paths[0]), pd.read_parquet(paths[2])
    expected = set(df.loc[df["above_size"], "firm_id"]) | set(sample)
    assert set(q1["firm_id"]) == expected and len(q1) == len(expected)
    assert 0.8 < q3["responded"].mean() < 0.97
    both = q1.merge(q3, on="firm_id", suffixes=("_1", "_3"))
    ok = both["gross_output_ytd_1"].notna() & both["gross_output_ytd_3"].notna()
    assert (both.loc[ok, "gross_output_ytd_3"] >= both.loc[ok, "gross_output_ytd_1"]).all()
    assert (q3["export_delivery_ytd"].dropna() <= q3["sales_output_ytd"].max()).all()
    # the returns of a firm do not depend on which other firms are asked
    alone = generate_national_returns(reg, folder / "alone", ["2018Q3"], sample=list(sample[:10]), seed=5)
    a = pd.read_parquet(alone[0]).set_index("firm_id")
    b = q3.set_index("firm_id").loc[a.index]
    pd.testing.assert_frame_equal(a, b)
    assert read_dataset_metadata(paths[0])["seed"] == 5
    with pytest.raises(PeriodError):
        generate_national_returns(reg, folder / "bad", ["2018Q4", "2019Q1"])
