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
#: - issue 17 (merged with 15: centred variance sums, plain whole-population sums, low-rank
#:   residuals): last digits only, every number within 1e-13 relative of the issue-15 bulletin.
BASE_HASHES = {
    "bulletin.html": "2ec4523dfe17bd30dc06073b0b478bea841b89dda237f622728fec854f0fea63",
    "channel.csv": "d6b2a556e536797294db7c54038d72fde752d834be02874cfd69af761c6c0eda",
    "city.csv": "0d1bd3b54082cbd3a5f7e83ee52fbd6091736f4fbda954185fa0187b9b44936e",
    "growth.csv": "423d90fd8066ad651977bc542b84260bb45dcac9aa7fb72b665c898766aa6464",
    "headline.csv": "9e08a92be7c9fb55f3898e241e22da128175b5ee6721bbe6a07e8b978b4982b4",
    "industry.csv": "dd540edfb26ba25aae97174db01f58d3f16cc40b7b839643d16eab2724bb8ee8",
    "parts.csv": "7936e3d20077bba9da8059465e87895145f3e0a6e2083b4e3c3a5864ea7d7fa8",
    "quality.csv": "f5b2b0fa08794fe4d3c0938e2528d1efdbfb25fd78e0f6fb0ceda49aaf1f8b82",
    "sector.csv": "9b663377e886b75eae080e564a65a144e588d493693588f0dc4e321aa5ff8cef",
    "series.csv": "fbd2180604bf23477cfe68a468e0c78328a0f39e3edc0093889dc470918d7214",
    "zone.csv": "56754e9795599369969533c547d2abd688e6531a90d8890722e2ba55eb97a643",
}
#: :func:`xlsx_cells_hash` of the pre-move bulletin.xlsx (its bytes were not reproducible:
#: zip dates; its cells, values and number formats are).
BASE_XLSX_CELLS = "d6c19f89fc0c4faf413d1f410bb49baab32735a708ef7c8ff8a2ef011fe8e903"


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
