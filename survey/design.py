"""The sample design (:class:`Design`) and the sample with its design (:class:`Survey`).

A :class:`Design` names the columns that carry the design; it holds no data.
A :class:`Survey` joins a data frame and a design, checks both once, prepares
the variance structure, and offers the estimators. It is immutable: every
method returns a new object.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

from survey.errors import DesignError

#: What to do with a stratum that has a single PSU (R ``survey.lonely.psu``).
LONELY_PSU_RULES = ("fail", "remove", "adjust", "average", "certainty")

__all__ = ['Design']


def _as_tuple(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class Design:
    """Which columns carry the sample design (a frozen spec, no data).

    Parameters
    ----------
    strata : str, optional
        Stratum column (stage 1). ``None``: one stratum.
    clusters : str or tuple of str, optional
        PSU column, or one column per stage (R's ``id = ~psu + ssu``).
        ``None``: every row is its own unit (element sampling).
    weights : str, optional
        Design (or final) weights. Alternatively give ``probs``.
    probs : str, optional
        Inclusion probabilities; weights are their inverse.
    fpc : str or tuple of str, optional
        Finite population correction per stage: population sizes (values > 1)
        or sampling fractions (values <= 1), read row by row as in R. A
        stratum with ``n_h == N_h`` is take-all and adds no variance.
    lonely_psu : {"fail", "remove", "adjust", "average", "certainty"}, default="fail"
        What to do with a stratum that has a single PSU (R ``survey.lonely.psu``).

    Examples
    --------
    >>> Design(strata="stratum", weights="w", fpc="N_h")
    Design(strata='stratum', clusters=(), weights='w', probs=None, fpc=('N_h',), lonely_psu='fail')
    """

    strata: str | None = None
    clusters: tuple[str, ...] | str | None = ()
    weights: str | None = None
    probs: str | None = None
    fpc: tuple[str, ...] | str | None = ()
    lonely_psu: Literal["fail", "remove", "adjust", "average", "certainty"] = "fail"

    def __post_init__(self) -> None:
        object.__setattr__(self, "clusters", _as_tuple(self.clusters))
        object.__setattr__(self, "fpc", _as_tuple(self.fpc))
        if self.lonely_psu not in LONELY_PSU_RULES:
            raise DesignError(
                f"lonely_psu={self.lonely_psu!r} is not one of {', '.join(LONELY_PSU_RULES)}"
            )
        if self.weights is not None and self.probs is not None:
            raise DesignError("give either weights= or probs=, not both")
        n_stages = max(len(self.clusters), 1)
        if len(self.fpc) > n_stages:
            raise DesignError(
                f"fpc names {len(self.fpc)} columns but the design has {n_stages} stage(s); "
                "give one fpc column per stage of clusters"
            )

    @property
    def columns(self) -> tuple[str, ...]:
        """All column names the design uses."""
        cols = [self.strata, *self.clusters, self.weights, self.probs, *self.fpc]
        return tuple(c for c in cols if c is not None)
