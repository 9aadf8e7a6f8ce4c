"""``survey demo``: the whole cycle on the bundled data, into a folder of its own.

The demo configuration ships inside the package (:data:`DEMO_CONFIG`, found
with :mod:`importlib.resources`); its output never goes into the package.
:func:`run_demo` writes into a fresh folder (default ``./survey-demo``) and
leaves a marker file there listing what it wrote. It never deletes or
overwrites a file it did not write: a folder that is not empty is refused,
unless it holds an earlier demo run and ``force=True``, in which case the
files of that run (recognised by the marker, unchanged since) are removed
first.
"""

from __future__ import annotations

import atexit
import functools
import json
import shutil
import tempfile
from importlib import resources
from pathlib import Path

from survey.errors import ConfigError
from survey.pipeline.run import CycleResult, Progress, run_cycle

__all__ = ["DEMO_CONFIG", "MARKER", "demo_result", "run_demo"]

#: The demo configuration (bundled synthetic data), inside the installed package.
DEMO_CONFIG = Path(str(resources.files("survey.pipeline").joinpath("demo.toml")))
#: The marker file :func:`run_demo` writes into its output folder.
MARKER = "survey-demo.json"
#: What the demo writes at the top of its folder.
_OUTPUTS = ("plan", "sample", "returns", "ledger.duckdb", "ledger.duckdb.wal", "edit", "panel",
            "estimates", "disclosure", "bulletin")


def _files(folder: Path) -> dict[str, list[int]]:
    """Every file under ``folder`` but the marker: relative path -> [size, mtime in ns]."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != MARKER:
            stat = path.stat()
            out[path.relative_to(folder).as_posix()] = [stat.st_size, stat.st_mtime_ns]
    return out


def _mark(folder: Path, status: str) -> None:
    files = _files(folder) if status == "complete" else {}
    text = {"written_by": "survey demo", "status": status, "files": files,
            "note": "survey demo --force removes the files listed here (and nothing else)"}
    (folder / MARKER).write_text(json.dumps(text, indent=1), encoding="utf-8")


def prepare_demo_folder(folder: str | Path, *, force: bool = False) -> list[str]:
    """Checks that ``folder`` may receive the demo (new or empty; with ``force``, an earlier
    complete demo run, none of its files changed and no other file where the demo writes,
    whose files are then removed and returned); anything else is refused with a
    :class:`~survey.errors.ConfigError`, changing nothing."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{folder} is a file, not a folder; choose another (--output DIR)")
    if not folder.exists() or not any(folder.iterdir()):
        return []
    marker = folder / MARKER
    if not marker.is_file():
        raise ConfigError(f"{folder} is not empty and was not written by `survey demo`; nothing "
                          "was changed. Run the demo into a new or empty folder "
                          "(survey demo --output NEW_FOLDER)")
    try:
        record = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{marker} cannot be read ({exc}); remove the folder yourself or "
                          "choose another (--output NEW_FOLDER)") from exc
    if not force:
        raise ConfigError(f"{folder} holds an earlier demo run; give --force to replace it "
                          "(only the files that run wrote are removed), or --output NEW_FOLDER")
    if record.get("status") != "complete":
        raise ConfigError(f"the earlier demo run in {folder} did not finish, so its files are "
                          "not listed; remove the folder yourself or choose another "
                          "(--output NEW_FOLDER)")
    own = record.get("files", {})
    now = _files(folder)
    changed = sorted(f for f, stat in own.items() if f in now and now[f] != list(stat))
    foreign = sorted(f for f in now if f not in own and f.split("/")[0] in _OUTPUTS)
    if changed or foreign:
        raise ConfigError(f"{folder}: {', '.join((changed + foreign)[:3])} "
                          f"{'changed since the demo wrote it' if changed else 'was not written by the demo'}"
                          "; nothing was removed. Move it away or choose another folder")
    removed = [name for name in own if name in now]
    for name in removed:
        (folder / name).unlink()
    emptied = {folder / parent for name in removed for parent in Path(name).parents}
    for path in sorted(emptied - {folder}, key=lambda p: len(p.parts), reverse=True):
        if path.is_dir() and not any(path.iterdir()):
            path.rmdir()  # a folder the demo made for its files
    (folder / MARKER).unlink()
    return removed


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
    _mark(folder, "running")
    result = run_cycle(DEMO_CONFIG, output=folder, progress=progress)
    _mark(folder, "complete")
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
