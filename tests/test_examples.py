"""The scripts in examples/: each runs and prints its result; the Python-API demo gives the
demo bulletin."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.py"))
API_DEMO = Path(__file__).parent.parent / "examples" / "demo_bulletin.py"


def _run(script: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True,
                            timeout=600, cwd=cwd)
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(result.stdout.strip()) > 100, "an example should print its result"
    return result


@pytest.mark.parametrize("script", [p for p in EXAMPLES if p != API_DEMO],
                         ids=[p.name for p in EXAMPLES if p != API_DEMO])
def test_example_runs(script, tmp_path):
    _run(script, cwd=tmp_path)


@pytest.mark.pinned
def test_python_api_demo_writes_the_demo_bulletin(tmp_path, base_bulletin):
    """examples/demo_bulletin.py runs the cycle with library calls only (no TOML) and writes
    the bulletin of `survey demo`, byte for byte (the pinned hashes of the demo bulletin)."""
    result = _run(API_DEMO, "out", cwd=tmp_path)
    assert "2006Q4工业总产值: 158.45 亿元" in result.stdout
    assert "2006年1-12月累计规模以上企业工业总产值: 144.80 亿元" in result.stdout
    folder = tmp_path / "out" / "bulletin"
    assert {n: base_bulletin.sha256(folder / n) for n in base_bulletin.hashes} == base_bulletin.hashes
    assert base_bulletin.cells_hash(folder / "bulletin.xlsx") == base_bulletin.xlsx_cells
    code = API_DEMO.read_text(encoding="utf-8").split('"""', 2)[2]
    assert "survey.pipeline" not in code and ".toml" not in code  # the library alone
