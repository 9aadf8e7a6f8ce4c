"""Disclosure rules: the primary rules (minimum frequency, (n,k) dominance, p%) and the protection levels.

Part of :mod:`survey.publish.disclosure` (see its docstring and ``docs/disclosure.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from survey.errors import DisclosureError

__all__ = ['DisclosureRules', 'LEGEND', 'MIN_PROTECTION']

MIN_PROTECTION = 0.01  # least protection of a sensitive cell, as a share of its value
LEGEND = {
    "en": {
        "suppressed": "suppressed to protect the confidentiality of individual enterprises",
        "empty": "no enterprise in this cell",
        "total": "Total",
    },
    "zh": {
        "suppressed": "为保护单个企业的商业秘密，不予公布",
        "empty": "无企业",
        "total": "合计",
    },
}


# ---------------------------------------------------------------------------
# Rules
# ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class DisclosureRules:
    """Primary suppression rules for a magnitude table.

    Parameters
    ----------
    min_frequency : int, default=3
        A non-empty cell with fewer contributors than this is sensitive
        (``0`` or ``1`` switches the rule off).
    p_percent : float or None, default=10.0
        The p% rule: a cell is sensitive when the second-largest contributor
        can estimate the largest one to within ``p`` percent, that is when
        ``total - x1 - x2 < p/100 * x1``. ``None`` switches it off.
    dominance : tuple of (n, k) pairs, default=()
        The (n,k) dominance rules: a cell is sensitive when its ``n`` largest
        contributors hold more than ``k`` percent of the total. One pair
        ``(2, 85)`` or several ``((1, 60), (2, 85))``.
    frequency_range : float, default=20.0
        Protection (percent of the cell total) required for a cell that fails
        the frequency rule. Cells failing the p% or dominance rule get the
        protection the rule itself implies (``docs/disclosure.md``); a cell
        failing several rules gets the largest. A sensitive cell of total zero
        gets this percentage of the median positive cell.

    Examples
    --------
    >>> rules = DisclosureRules(min_frequency=3, p_percent=15, dominance=(2, 85))
    >>> rules.dominance
    ((2, 85.0),)
    """

    min_frequency: int = 3
    p_percent: float | None = 10.0
    dominance: tuple[tuple[int, float], ...] | tuple[int, float] = ()
    frequency_range: float = 20.0

    def __post_init__(self) -> None:
        if not isinstance(self.min_frequency, (int, np.integer)) or self.min_frequency < 0:
            raise DisclosureError(
                f"min_frequency must be a non-negative integer, got {self.min_frequency!r}"
            )
        if self.p_percent is not None and not (0 < float(self.p_percent) < 100):
            raise DisclosureError(
                f"p_percent must be in (0, 100) or None, got {self.p_percent!r}"
            )
        dom = self.dominance
        if dom is None:
            dom = ()
        if len(dom) == 2 and not isinstance(dom[0], (tuple, list)):
            dom = (tuple(dom),)
        pairs = []
        for i, pair in enumerate(dom):
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise DisclosureError(
                    f"dominance[{i}] must be a pair (n, k), got {pair!r}; "
                    "write dominance=(2, 85) or dominance=((1, 60), (2, 85))"
                )
            n, k = pair
            if int(n) != n or n < 1 or not (0 < float(k) < 100):
                raise DisclosureError(
                    f"dominance[{i}] = {pair!r}: n must be a positive integer and "
                    "k a percentage in (0, 100)"
                )
            pairs.append((int(n), float(k)))
        object.__setattr__(self, "dominance", tuple(pairs))
        if not (0 <= float(self.frequency_range) < 100):
            raise DisclosureError(
                f"frequency_range must be a percentage in [0, 100), got {self.frequency_range!r}"
            )
