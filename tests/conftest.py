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
#: - issue 12 (speed): covariances within each domain computed without the full (m x m) matrix
#:   after calibration: the same figures to 3.5e-13 relative (summation order), last digits
#:   of some SEs and growth SEs in city, industry, zone, levels, growth and ytd_* differ.
BASE_HASHES = {
    "bulletin.html": "e3dc5b46454f1ca16fc73c14d68c1724ea42735fc60eaf5d3430557959c313d6",
    "case_studies.csv": "4213dab3c6b8655ea863639f5fb15169f74c9461e8733e9654e1ac20f5b8f976",
    "channel.csv": "aa4a12a8dffbbd48a3fc9d4c7b15d99eacc915209d858d0a6ac0bbda062f32b5",
    "city.csv": "774e5fc06a9b4468ce4a26bcd9713fb3b7ec5eb96a47aac0468026322d68372f",
    "growth.csv": "2231f47432cc496ef66ebc9f050acd5623870477db6291a720da4cbb2064f03b",
    "headline.csv": "3e4987f286ee8df70ac7d790c29f74e20ceadae94e1f89675af8304e3b6ecde3",
    "industry.csv": "59d2be75ddd73584d7152c1bb9e89e0ca841cbb09848f24b03b38dd3059b7e0c",
    "levels.csv": "eeef3a4557591c00a181175520b365ca0a12068a898511c04b692c2b40cb2d46",
    "parts.csv": "373d8eaee5965ec1eab65f90d951f34d709906f71036f397c5285884255f4125",
    "quality.csv": "21b907afb46dfb0ef8ec0dbb2dbc69fb7dd5a493444dae94fa614d69719b5ea6",
    "sector.csv": "98dbdbea9877c3670484cc71817fb38690a8fc698e658f69da5e5f857fd633ed",
    "series.csv": "3cfaeae95a66b342cd474813be8b1cb07ccf97384659d7015edf2485c2eeb092",
    "targets.csv": "2f2d0c00c6e0b2d16930891e93bc2966762b90ea9e7b5f8b5ff0c1860500c5f5",
    "ytd.csv": "a502517dd8f73d920995fbd68275399e78882da96140241beafd2bef7cf50295",
    "ytd_city.csv": "82af6e51c57a013d80adfa5cb99b5c0369eb7665443dff6146e97e9042f0c475",
    "ytd_industry.csv": "bfdeb11e5d7ba188a796de4961fc5a6f496d8656174eae8f41d9eb8ab92638ae",
    "ytd_zone.csv": "66d6d13b84dbf15fc0afd18765465666810d62b37a8ce55a050d7be5d0b1a1d1",
    "zone.csv": "17a8d1d76a260a32ed9fceb077b2dabc6c137356ad161c38d63f38fd0a310ad9",
}
#: :func:`xlsx_cells_hash` of the pre-move bulletin.xlsx (its bytes were not reproducible:
#: zip dates; its cells, values and number formats are).
BASE_XLSX_CELLS = "e136abfb24b6c9eb06730d589095ddc05ca4bc2543f3a00eafdeae0578003e6b"


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
