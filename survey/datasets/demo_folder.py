"""The folder ``survey demo`` writes into: its own, never the user's files.

:func:`prepare_demo_folder` accepts a new or empty folder, or (with ``force``)
an earlier demo run, whose files it removes first; anything else is refused,
changing nothing. :func:`mark_demo_folder` leaves the marker file
(:data:`MARKER`) that lists what the run wrote (path, size, modification
time), so ``--force`` removes exactly those files, provided none changed since.

The demo is the only writer that refuses a folder it did not write: the
configured commands write into their configured output folder (a rerun
replaces their own files) and ``survey demo --national`` resumes in its
folder (its ``.done/`` step markers), so this stays with the bundled demo
rather than in the foundation.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from survey.errors import ConfigError

__all__ = ["DEMO_OUTPUTS", "MARKER", "mark_demo_folder", "prepare_demo_folder"]

#: The marker file :func:`mark_demo_folder` writes into the demo's folder.
MARKER = "survey-demo.json"
#: What the demo writes at the top of its folder.
DEMO_OUTPUTS = ("plan", "sample", "returns", "ledger.duckdb", "ledger.duckdb.wal", "edit",
                "panel", "estimates", "disclosure", "bulletin")


def _files(folder: Path) -> dict[str, list[int]]:
    """Every file under ``folder`` but the marker: relative path -> [size, mtime in ns]."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != MARKER:
            stat = path.stat()
            out[path.relative_to(folder).as_posix()] = [stat.st_size, stat.st_mtime_ns]
    return out


def mark_demo_folder(folder: str | Path, status: Literal["running", "complete"]) -> None:
    """Write the marker of a demo run into ``folder``.

    Parameters
    ----------
    folder : str or pathlib.Path
        The demo's folder (it exists).
    status : {"running", "complete"}
        ``"complete"`` lists every file under ``folder`` (path, size,
        modification time); ``"running"`` lists none (an unfinished run is
        never removed).

    Examples
    --------
    >>> import json, tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "bulletin.csv").write_text("a,b")
    >>> mark_demo_folder(folder, "complete")
    >>> list(json.loads((folder / MARKER).read_text(encoding="utf-8"))["files"])
    ['bulletin.csv']
    """
    folder = Path(folder)
    files = _files(folder) if status == "complete" else {}
    text = {"written_by": "survey demo", "status": status, "files": files,
            "note": "survey demo --force removes the files listed here (and nothing else)"}
    (folder / MARKER).write_text(json.dumps(text, indent=1), encoding="utf-8")


def prepare_demo_folder(folder: str | Path, *, force: bool = False) -> list[str]:
    """Check that ``folder`` may receive the demo; with ``force``, remove an earlier run.

    Parameters
    ----------
    folder : str or pathlib.Path
        New or empty, or (with ``force``) an earlier complete demo run, none
        of its files changed and no other file where the demo writes
        (:data:`DEMO_OUTPUTS`).
    force : bool, default=False
        Remove the files of the earlier run (and the folders it made).

    Returns
    -------
    list of str
        The files removed (relative paths).

    Raises
    ------
    survey.errors.ConfigError
        Anything else; nothing is changed.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> prepare_demo_folder(folder)
    []
    >>> _ = (folder / "mine.csv").write_text("my own file")
    >>> prepare_demo_folder(folder, force=True)
    Traceback (most recent call last):
    ...
    survey.errors.ConfigError: ... is not empty and was not written by `survey demo`; nothing was changed. Run the demo into a new or empty folder (survey demo --output NEW_FOLDER)
    """
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
    foreign = sorted(f for f in now if f not in own and f.split("/")[0] in DEMO_OUTPUTS)
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
