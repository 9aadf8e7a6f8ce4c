"""Modules imported on first use, so that ``import survey`` stays light.

SciPy's submodules take a noticeable share of the import time; the toolkit's
modules refer to them through :func:`lazy_module` and pay for them only when a
function first needs them.

Examples
--------
>>> sp = lazy_module("scipy.sparse")
>>> sp.issparse(sp.csr_array((2, 2)))
True
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

__all__ = ["lazy_module"]


class _LazyModule(ModuleType):
    """A module object that imports the real module on its first attribute access."""

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") and attr.endswith("__"):  # introspection: no import
            raise AttributeError(attr)
        value = getattr(importlib.import_module(self.__name__), attr)
        setattr(self, attr, value)  # next time a plain attribute
        return value

    def __repr__(self) -> str:
        return f"<lazy module {self.__name__!r}>"


def lazy_module(name: str) -> ModuleType:
    """A stand-in for ``import name`` that imports the module on first use.

    Parameters
    ----------
    name : str
        Full module name, e.g. ``"scipy.sparse"``.

    Returns
    -------
    types.ModuleType
        Attribute access (``sp.csr_array``) imports the module once.

    Examples
    --------
    >>> special = lazy_module("scipy.special")
    >>> float(special.expit(0.0))
    0.5
    """
    return _LazyModule(name)
