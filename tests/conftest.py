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


#: sha256 of the demo bulletin's files written by the code before the move into rooms
#: (/work/notes/base_demo/base_hashes.txt, two runs, identical).
BASE_HASHES = {
    "bulletin.html": "bbba231d271438fc55528f7eebfd0771b5bc7c4ca6c5f174fb918af0e07f7716",
    "channel.csv": "eab2a3c145499667a1c299f8a4c7e4cccdf771be9237657051fe9a649eb9206b",
    "city.csv": "05c5218249b2591161a34525d1d3689cc0c471a4a80e469db0e1469ab45c90cc",
    "growth.csv": "1b7285de39067735be27dbda35a4178d4c1fbab842d99e9e2483ed7d4a896d75",
    "headline.csv": "3a6eea65e5dd32ef7cfaeb6de12bb1531f864f9e09162c3c0f29a5202a332bdd",
    "industry.csv": "676e89a6b0d6e56525bea3f3137e74d6c7c6cc940711c7a361bea4c1a7d90a95",
    "parts.csv": "92365b60c3c8d90664c44727ceba9408ebf0880a9878e617b79ccccec9a724b8",
    "quality.csv": "a03bd0a12a734b9b40c94452121bfaf246adb9dfdd600984d4dca47618becb88",
    "sector.csv": "ab28e3052761f981943d14b4687fa0bfbaa8ba2336286fb67619f2969a27555f",
    "series.csv": "efcd6816c52d501e96d70fdd1d2d14690a084f0e2cc3f9a95efc178ff7241502",
    "zone.csv": "8e81c876d472d8e0055a9602ce0b787a31fec6c1ba5907feb32ce4751967c9ec",
}
#: :func:`xlsx_cells_hash` of the pre-move bulletin.xlsx (its bytes were not reproducible:
#: zip dates; its cells, values and number formats are).
BASE_XLSX_CELLS = "ac0ef0cb6835db0bbb86d1ae79dd6f5ce0d9eb9c1fdb5c65d662537f82db642e"


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
