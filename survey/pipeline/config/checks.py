"""Checks of single configuration values (intervals, encodings, quarter labels, memory sizes) and the `setting_key` field helper the sections are declared with.

Part of :mod:`survey.pipeline.config` (see its docstring and ``docs/configuration.md``).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import field
from pathlib import Path
from typing import Any

from survey.periods import QUARTER_PATTERN
from survey.plan.spec import leaves

__all__: list[str] = []  # helpers of sections.py and core.py (no user API)

PACKAGE_DIR = Path(__file__).resolve().parents[2]  # the installed survey package
_PERIOD = re.compile(QUARTER_PATTERN)  # strict: the canonical form only
CHANNEL_NAME = re.compile(r"^[^\W][\w-]*$")
INVALID = object()
# names users write for an allowed value (used in "did you mean", never accepted)
LANGUAGE_ALIASES = {"cn": "zh", "zh-cn": "zh", "zh_cn": "zh", "chinese": "zh", "english": "en",
            "en-us": "en", "en_us": "en", "excel": "xlsx"}


def setting_key(doc: str, *, check: Any = None, exists: bool = False, **kwargs: Any) -> Any:
    """A dataclass field with a description, an optional check and path options."""
    return field(metadata={"doc": doc, "check": check, "exists": exists}, **kwargs)


# ---------------------------------------------------------------------------
# checks (return a list of (relative key path, message))
# ---------------------------------------------------------------------------


def join_path(base: str, sub: str) -> str:
    if not sub:
        return base
    return f"{base}{sub}" if sub.startswith("[") else f"{base}.{sub}"


def interval_check(low: float | None, high: float | None, *, low_open: bool = True,
                   high_open: bool = True) -> Any:
    """Check every number in the value (nested tables too) lies in the interval."""
    lo_b = "(" if low_open else "["
    hi_b = ")" if high_open else "]"
    text = f"{lo_b}{'-inf' if low is None else low}, {'inf' if high is None else high}{hi_b}"

    def check(value: Any) -> list[tuple[str, str]]:
        out = []
        for sub, v in leaves(value):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                continue
            bad = (low is not None and (v <= low if low_open else v < low)) or (
                high is not None and (v >= high if high_open else v > high))
            if bad:
                out.append((sub, f"must be in {text}, got {v!r}"))
        return out

    return check


def encoding_check(value: Any) -> list[tuple[str, str]]:
    import codecs

    try:
        codecs.lookup(value)
    except LookupError:
        return [("", f"unknown encoding {value!r}; use e.g. 'utf-8', 'gbk', 'gb18030' or 'big5'")]
    return []


def period_label_check(value: Any) -> list[tuple[str, str]]:
    values = value if isinstance(value, (list, tuple)) else [value]
    out = []
    for i, v in enumerate(values):
        if isinstance(v, str) and not _PERIOD.match(v):
            sub = f"[{i}]" if isinstance(value, (list, tuple)) else ""
            out.append((sub, f"{v!r} is not a quarter label like '2006Q4'"))
    return out


def memory_size_check(value: Any) -> list[tuple[str, str]]:
    from survey.engine import EngineError, memory_bytes

    try:
        memory_bytes(value)
    except EngineError:
        return [("", f"{value!r} is not a size like '4GB', '500MB' or '2GiB'")]
    return []


def plain_settings(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain_settings(getattr(value, f.name)) for f in dataclasses.fields(value)
                if getattr(value, f.name) is not None}
    if isinstance(value, Mapping):
        return {str(k): plain_settings(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_settings(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value
