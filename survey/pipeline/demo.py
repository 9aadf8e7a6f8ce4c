"""``survey demo``: the whole cycle on the bundled data, into a folder of its own.

The demo configuration ships inside the package (:data:`DEMO_CONFIG`, found with
:mod:`importlib.resources`); its output never goes into the package. The folder is new or
empty, or an earlier demo run (with ``force``): :mod:`survey.datasets.demo_folder` checks
it and marks it, so the demo never deletes or overwrites a file it did not write.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from importlib import resources
from pathlib import Path

from survey.datasets.demo_folder import MARKER, mark_demo_folder, prepare_demo_folder
from survey.pipeline.run import CycleResult, Progress, run_cycle

__all__ = ["DEMO_CONFIG", "MARKER", "demo_result", "run_demo"]

#: The demo configuration (bundled synthetic data), inside the installed package.
DEMO_CONFIG = Path(str(resources.files("survey.pipeline").joinpath("demo.toml")))


def run_demo(output: str | Path | None = None, *, force: bool = False,
             progress: Progress | None = None) -> CycleResult:
    """The whole cycle of :data:`DEMO_CONFIG` into a folder of its own.

    Parameters
    ----------
    output : str, pathlib.Path or None, default=None
        The folder (default: ``survey-demo`` in the current folder). It must
        be new or empty, or hold an earlier demo run (with ``force``).
    force : bool, default=False
        Replace an earlier demo run in ``output``: the files listed in its
        marker (:data:`MARKER`) are removed, provided none changed since and
        no other file is where the demo writes.
    progress : callable or None, default=None
        As for :func:`~survey.pipeline.run.run_cycle`.

    Returns
    -------
    survey.pipeline.run.CycleResult

    Raises
    ------
    survey.errors.ConfigError
        The folder is not empty and not an earlier demo run, or ``force`` is
        needed; nothing is changed.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "mine.csv").write_text("my own file")
    >>> run_demo(folder)
    Traceback (most recent call last):
    ...
    survey.errors.ConfigError: ... is not empty and was not written by `survey demo`; nothing was changed. Run the demo into a new or empty folder (survey demo --output NEW_FOLDER)
    """
    folder = Path(output if output is not None else Path.cwd() / "survey-demo")
    folder = folder.expanduser().resolve()
    prepare_demo_folder(folder, force=force)
    folder.mkdir(parents=True, exist_ok=True)
    mark_demo_folder(folder, "running")
    result = run_cycle(DEMO_CONFIG, output=folder, progress=progress)
    mark_demo_folder(folder, "complete")
    return result


@functools.lru_cache(maxsize=1)
def demo_result() -> CycleResult:
    """The demo cycle, run once per process into a temporary folder (removed at exit).

    For examples and tests that need a full run: the first call takes the
    time of ``survey demo``, later calls return the same result. Do not
    change what it holds.

    Examples
    --------
    >>> demo_result().period  # doctest: +SKIP
    '2006Q4'
    """
    folder = Path(tempfile.mkdtemp(prefix="survey-demo-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return run_demo(folder)
