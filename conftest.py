"""Test-session settings for the whole tree (the docstring examples in survey/ and tests/).

Fixtures live in tests/conftest.py. The suite runs on every core (pytest-xdist, ``-n auto``
in pyproject.toml); the tests and docstring examples that use the demo run
(``survey.pipeline.demo.demo_result``, the ``demo`` fixture) are in the files of
:data:`DEMO_FILES`, which one worker runs, so the demo cycle runs once per session. (The
xdist_group marker cannot do this with pytest 9: pytest-xdist 3.8 renames node ids, which
pytest 9 no longer allows.) A test elsewhere that uses the demo still works; its worker
runs the cycle once more.
"""

from __future__ import annotations

import gc
import os

# One BLAS (OpenBLAS/MKL) and OpenMP/Arrow thread per process: the suite runs one xdist worker
# per core, so a second BLAS thread per worker only competes for the cores (OpenBLAS threads
# spin while they wait). Measured on 2 cores: 412 -> 378 s user CPU, 3 min 46 s -> 3 min 28 s.
# Set here, before the workers (and the subprocesses of the tests) start; a value you set
# yourself is kept.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")


def _pin_openblas_kernel() -> None:
    """Run OpenBLAS's Haswell (AVX2) kernels on every x86-64 machine that has them.

    OpenBLAS picks its kernels by CPU: on an AVX-512 machine (AMD Zen 4, Intel Skylake-X and
    later) the matrix products sum in another order, so the full-precision figures of the demo
    bulletin's CSV files differ in their last digits (up to 3.6e-12 relative, measured; the
    figures a reader sees are the same) and the pinned hashes of the golden bulletin
    (tests/conftest.py, pinned on AVX2 machines) would not match. Pinning the kernel makes
    those tests mean the same on every x86-64 machine with AVX2 and FMA; a value you set
    yourself is kept. docs/user-guide.md says the same for users.
    """
    import platform

    if platform.machine().lower() not in ("x86_64", "amd64"):
        return
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return
    if "avx2" in flags and "fma" in flags:
        os.environ.setdefault("OPENBLAS_CORETYPE", "Haswell")


_pin_openblas_kernel()

#: Files whose tests and examples use the demo run: one unit of work for one worker.
DEMO_FILES = frozenset({
    "tests/test_cycle.py",
    "survey/pipeline/run.py",
    "survey/pipeline/steps.py",
    "survey/returns/panel.py",
    "survey/publish/report/build.py",
    "survey/publish/report/assemble.py",
    "survey/publish/report/quality.py",
    "survey/publish/report/tables.py",
    "survey/estimation/levels.py",
    "survey/estimation/quarters.py",
    "survey/pipeline/demo.py",
})
#: Files whose module fixture runs a cycle of their own (the national chain, the coverage
#: simulations) or builds what several tests share (the two matplotlib caches and the
#: reference screenshots of the chart-font tests): one unit each, so the fixture is built
#: once, not once per worker.
MODULE_UNITS = frozenset({"tests/test_national_cycle.py", "tests/test_national_user.py",
                          "tests/test_quarterly.py", "tests/test_report_fonts.py"})
#: Tests that run the whole cycle in a subprocess (a minute each): started early.
SUBPROCESS_TESTS = ("test_wheel_runs_the_demo_from_an_empty_folder",
                    "test_python_api_demo_writes_the_demo_bulletin")

try:
    from xdist.scheduler import LoadScopeScheduling
except ImportError:  # pragma: no cover - pytest-xdist is in the test extra
    pass
else:
    class _DemoOnOneWorker(LoadScopeScheduling):
        """Each test is its own unit of work (the finest packing of the two workers;
        measured better than one unit per file, whose long files came last), except the
        demo files (one unit), the subprocess runs (one unit) and each file of
        :data:`MODULE_UNITS`."""

        def _split_scope(self, nodeid: str) -> str:
            if nodeid.split("::", 1)[0] in DEMO_FILES:
                return "demo"
            if nodeid.rsplit("::", 1)[-1] in SUBPROCESS_TESTS:
                return "subprocess"
            path = nodeid.split("::", 1)[0]
            return path if path in MODULE_UNITS else nodeid

    def pytest_xdist_make_scheduler(config, log):
        if config.getvalue("dist") == "load":
            return _DemoOnOneWorker(config, log)
        return None


def pytest_collection_finish(session):
    """Move what collection built (modules, test items, fixtures' definitions) out of the
    garbage collector's view (:func:`gc.freeze`): the full collections during the tests
    then walk only what the tests create."""
    gc.collect()
    gc.freeze()
