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
#: - issue 14 (the bulletin a federation director can read): by design, the year-to-date view
#:   (new ytd*.csv, headline cards of the take-all part and the sector's year to date), the
#:   display unit (a `unit` column in every table CSV), targets.csv, quality.csv in % with
#:   integer counts and suppressed cells split by published / unpublished tables, the HTML
#:   layout and Excel sheet names/formats; the quarter's estimates, SEs and growth are unchanged.
#: - merge of 13, 14, 15, 17: the numbers equal the issue-14 bulletin within 1e-10 relative (last
#:   digits from issue 17's sums); formula-like labels written as text (issue 13; none in the demo).
#: - issue 16 (below-size surveys): the demo plan gains a take-none part (under 300), key
#:   units (industries 2221, 3153) and 4 typical units, so the sample and every estimate
#:   change (2006Q4 gross output 160.58 -> 158.45 亿元, truth 158.80; model part 1.3%); the
#:   tables get a first column `method`; new files case_studies.csv and levels.csv.
BASE_HASHES = {
    "bulletin.html": "9987742b56394909a290925c73a3eb36683cc57ab05d2da4e06e2ed6f0da688c",
    "case_studies.csv": "4213dab3c6b8655ea863639f5fb15169f74c9461e8733e9654e1ac20f5b8f976",
    "channel.csv": "ed573141df23df3340d0c3f735254b33fa2c2bce2af5d2606c7518c9cfd999ac",
    "city.csv": "39d0388a02be312bad80e224191e2343ceb9d7954fbcd1183b0027ffd00922f4",
    "growth.csv": "423d90fd8066ad651977bc542b84260bb45dcac9aa7fb72b665c898766aa6464",
    "headline.csv": "a0e886a858694e1ec09b1e517a993ac5c2c11c09a66c2efd8a6fa2e2df058259",
    "industry.csv": "31d1738dbca02e6cfeaf6b7d367982fb4f9d106a1bc48f646b6efff0c1e5ef5b",
    "levels.csv": "6616ed233097681a6acb2d5c5c9a708bad2ab41c05a27921ec81c9a25b98cca1",
    "parts.csv": "7936e3d20077bba9da8059465e87895145f3e0a6e2083b4e3c3a5864ea7d7fa8",
    "quality.csv": "2bcb45b5db40f1d8377a68915451464220d34ff660419f6ade73863db2560b57",
    "sector.csv": "63b8c0136cb6ed13efacaf92c47959e91d4352a99b30903f5cf491a1100859c1",
    "series.csv": "fbd2180604bf23477cfe68a468e0c78328a0f39e3edc0093889dc470918d7214",
    "targets.csv": "844fefc9eb330ed37b0fe3dc051f1b4120962596abfc3435fd4ac7612dfecae3",
    "ytd.csv": "850d016feccd803ac50c43b6d8d6e330581626e44907d1468e3fe46fda2c59d2",
    "ytd_city.csv": "234045a5c83cce2ff2fc5d49eb9a7f7fda783d65c4b33e31d9fa5c9f337dda6e",
    "ytd_industry.csv": "3aab2470421a4ddc6724b0dc3381776b9ec660ed708ead5152ce71dfc85622f2",
    "ytd_zone.csv": "d76a0915013084c11a612a95d81736e74a3629d8770b2a70137a66719cac581f",
    "zone.csv": "f00f4ee16ee6ee61a04c564bf55be7b69aee576e063ef511379723fbf6704214",
}
#: :func:`xlsx_cells_hash` of the pre-move bulletin.xlsx (its bytes were not reproducible:
#: zip dates; its cells, values and number formats are).
BASE_XLSX_CELLS = "66cf7ebd91dea2fd51703feceef50be605eb182460d46df707e6918821c0b462"


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
