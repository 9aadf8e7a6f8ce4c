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
#: - merge of 14 and 16: the year to date includes the take-none model part; the above-size
#:   cards leave out the key units (enumerated, but below the size): 144.80 亿元, truth 145.
#: - issue 16: the series and growth chart captions say they include the model part (html only).
#: - issue 16: case studies (典型调查) and revisions are Excel sheets; their HTML headers and the
#:   levels table's headers in the bulletin's language (no raw `{what}代码`), growth as %; the
#:   levels sheet named 按区、市、县分 (html and xlsx only; every CSV byte-identical).
BASE_HASHES = {
    "bulletin.html": "e3dc5b46454f1ca16fc73c14d68c1724ea42735fc60eaf5d3430557959c313d6",
    "case_studies.csv": "4213dab3c6b8655ea863639f5fb15169f74c9461e8733e9654e1ac20f5b8f976",
    "channel.csv": "aa4a12a8dffbbd48a3fc9d4c7b15d99eacc915209d858d0a6ac0bbda062f32b5",
    "city.csv": "53bcc9b97b69c1a38eb4d8e5955234f71a3e01fcef6ac4b1340b3ebac6f2f64a",
    "growth.csv": "c13af984c89f5c689ab86c9c67d75452d4428387a7b2b2fa302e8f7ab524ed39",
    "headline.csv": "3e4987f286ee8df70ac7d790c29f74e20ceadae94e1f89675af8304e3b6ecde3",
    "industry.csv": "0173374d1fbdfc6cff89180d40e2a40a86e5ce59deeddf3b312f46252e0765f7",
    "levels.csv": "6bb8e4678fa5811a4f2befb8a2e039c54b49950e0b336495b49b288eb1dfc744",
    "parts.csv": "373d8eaee5965ec1eab65f90d951f34d709906f71036f397c5285884255f4125",
    "quality.csv": "21b907afb46dfb0ef8ec0dbb2dbc69fb7dd5a493444dae94fa614d69719b5ea6",
    "sector.csv": "98dbdbea9877c3670484cc71817fb38690a8fc698e658f69da5e5f857fd633ed",
    "series.csv": "3cfaeae95a66b342cd474813be8b1cb07ccf97384659d7015edf2485c2eeb092",
    "targets.csv": "2f2d0c00c6e0b2d16930891e93bc2966762b90ea9e7b5f8b5ff0c1860500c5f5",
    "ytd.csv": "a502517dd8f73d920995fbd68275399e78882da96140241beafd2bef7cf50295",
    "ytd_city.csv": "0ad7eaf4ba1d49fceb0c1038705883aa19bfa1c33d8c7ea016d94aec11483f23",
    "ytd_industry.csv": "a676f7c2eac77084b78ff64d800e8c02e3c5203f8d01c2a482a18bb1b82297ab",
    "ytd_zone.csv": "8a72ecb8052873f2ee08eed3c512e7146bffb2a044c555603a559c3591369ca9",
    "zone.csv": "2be6ac09c112837751812ad71ba83522b2668637fe4ef5352d4190fdd1e4cb52",
}
#: :func:`xlsx_cells_hash` of the pre-move bulletin.xlsx (its bytes were not reproducible:
#: zip dates; its cells, values and number formats are).
BASE_XLSX_CELLS = "a917b7ef5ec6df1bd9f5b359b44c7ee4e3f3c757ddf343079b11042f566c30ad"


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
