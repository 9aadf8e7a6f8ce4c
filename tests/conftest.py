"""Shared fixtures: the R reference data and numbers (copied from shared/reference), and the
demo cycle run once per session."""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

REFERENCE = Path(__file__).parent / "reference"


@pytest.fixture(scope="session")
def expected() -> pd.DataFrame:
    return pd.read_csv(REFERENCE / "expected.csv", keep_default_na=False)


@pytest.fixture(scope="session")
def ref(expected):
    """ref(case, quantity, variable, domain='') -> float, from R's expected.csv."""

    def get(case: str, quantity: str, variable: str = "", domain: str = "") -> float:
        rows = expected[
            (expected.case == case)
            & (expected.quantity == quantity)
            & (expected.variable == variable)
            & (expected.domain == domain)
        ]
        assert len(rows) == 1, (case, quantity, variable, domain)
        return float(rows.value.iloc[0])

    return get


def load(name: str) -> pd.DataFrame:
    return pd.read_csv(REFERENCE / "data" / f"{name}.csv")


@pytest.fixture(scope="session")
def apistrat() -> pd.DataFrame:
    return load("apistrat")


@pytest.fixture(scope="session")
def apipop() -> pd.DataFrame:
    return load("apipop")


@pytest.fixture(scope="session")
def apisrs() -> pd.DataFrame:
    return load("apisrs")


@pytest.fixture(scope="session")
def apiclus1() -> pd.DataFrame:
    return load("apiclus1")


@pytest.fixture(scope="session")
def apiclus2() -> pd.DataFrame:
    return load("apiclus2")


@pytest.fixture(scope="session")
def mu284() -> pd.DataFrame:
    return load("MU284")


@pytest.fixture(scope="session")
def mu284_sample() -> pd.DataFrame:
    return load("MU284_sample")


@pytest.fixture(scope="session")
def demo():
    """The demo cycle (`survey demo`), run once per test session and shared by every test
    and docstring example that needs a full run (:func:`survey.pipeline.demo.demo_result`).
    Tests read it; none may change it."""
    from survey.pipeline.demo import demo_result

    return demo_result()


#: sha256 of the demo bulletin's files (the pinned "golden" bulletin). First pinned from the
#: code before the move into rooms (issue 12: the move changed no byte). Every deliberate
#: change of the bulletin re-pins them and says why here:
#: - issue 15 (two-phase variance after the nonresponse adjustment): only the se, cv, ci and
#:   growth-interval columns changed (estimates equal to 1e-12; SEs 0.5-12% smaller).
#: - issue 16 (below-size surveys): the demo plan gains a take-none part (under 300), key
#:   units (industries 2221, 3153) and 4 typical units, so the sample and every estimate
#:   change (2006Q4 gross output 160.58 -> 158.45 亿元, truth 158.80; model part 1.3%); the
#:   tables get a first column `method`; new files case_studies.csv and levels.csv.
BASE_HASHES = {
    "bulletin.html": "72dc135b8bbe392cd117163a4e11854a20ff99c01cd31c0e1b6a2ad844fb5ab3",
    "case_studies.csv": "4213dab3c6b8655ea863639f5fb15169f74c9461e8733e9654e1ac20f5b8f976",
    "channel.csv": "4d6c657001598a31c4874889eea39f2dd046ec8ff73c6d910e2b86af8a44d231",
    "city.csv": "9c6149549fdaa33331cbd905fb35a7176484b5747bdaaad80b6160d6be64f3af",
    "growth.csv": "c13af984c89f5c689ab86c9c67d75452d4428387a7b2b2fa302e8f7ab524ed39",
    "headline.csv": "b7a3b5c00ea966cdcdf4f3063ecf3a66b15ebc5e368c0622ebac847d4c3e031e",
    "industry.csv": "694c1222c088abbf7db187c665dd2c846af87c0ef2bba76b2f3514bb07e2738b",
    "levels.csv": "6616ed233097681a6acb2d5c5c9a708bad2ab41c05a27921ec81c9a25b98cca1",
    "parts.csv": "8dd7ed2e56546985d23a6d6d863882cf9c276c4e15fc28e67bc618f2051721d2",
    "quality.csv": "06ddb101106bb27271a25ea99f504e5edacdf02d40636df183d48b05f9f104cd",
    "sector.csv": "1163c9ea9f6dcd58d52a5fab88cfcfb54f92c3242421b0eb64ceaf9e471a7d51",
    "series.csv": "a5884b1941479c480089150d85c594d96bf66e0cae01900dabedf87ddc3baf8d",
    "zone.csv": "39be53a52c305a2fc18bf3144eb721604e7a6e35c63165f3340287956f9be61e",
}
#: :func:`xlsx_cells_hash` of the pre-move bulletin.xlsx (its bytes were not reproducible:
#: zip dates; its cells, values and number formats are).
BASE_XLSX_CELLS = "14be8a810fcf986070a370671a8e8739eba2528f57b92aa86c294ddf0319db26"


def xlsx_cells_hash(path) -> str:
    """sha256 over every non-empty cell of a workbook: sheet, coordinate, value, number format."""
    import openpyxl

    h = hashlib.sha256()
    for ws in openpyxl.load_workbook(path).worksheets:
        h.update(f"sheet {ws.title}\n".encode())
        for row in ws.iter_rows():
            for c in row:
                if c.value is not None:
                    h.update(f"{c.coordinate}={c.value!r}|{c.number_format}\n".encode())
    return h.hexdigest()


@pytest.fixture(scope="session")
def base_bulletin():
    """The demo bulletin before the move into rooms: ``hashes`` (file name -> sha256),
    ``xlsx_cells`` and ``cells_hash(path)`` (:func:`xlsx_cells_hash`)."""
    return SimpleNamespace(hashes=BASE_HASHES, xlsx_cells=BASE_XLSX_CELLS,
                           cells_hash=xlsx_cells_hash, sha256=lambda p: hashlib.sha256(
                               Path(p).read_bytes()).hexdigest())
