"""Checks of a design's inputs against each other (issue 13): weights against the fpc.

Small functions called at one place each (``Survey.__init__``), so that the
estimation code itself stays free of input policing.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from survey.errors import DesignError, SurveyWarning

__all__ = ["check_weights_fpc", "FPC_TOLERANCE"]

#: Relative tolerance of :func:`check_weights_fpc`: the weights of a stratum may add up to
#: between (1 - t) and (1 + t) times its population size from the fpc.
FPC_TOLERANCE = 0.1

_CONVENTION = ("the fpc is the population size N_h of the stratum (a number >= n_h) or the "
               "sampling fraction n_h / N_h (a number <= 1); a percentage such as 50 for 50% is "
               "read as N_h = 50")


def check_weights_fpc(data: pd.DataFrame, design: Any, arrays: Any, weights: np.ndarray, *,
                      strict: bool = False, tolerance: float = FPC_TOLERANCE) -> pd.DataFrame:
    """Compare, per stratum, the weights with the population size the fpc implies.

    With both weights (or probabilities) and an fpc, a single-stage design (or
    one-stage clusters) should have PSU weights that add up to the stratum's
    population size: ``sum_PSU w = N_h = n_h / f_h``. A mismatch beyond
    ``tolerance`` (relative) means the weights or the fpc are wrong (an fpc
    typed as a percentage, weights in the wrong unit, a sample of respondents
    with weights that were not adjusted for nonresponse).

    Parameters
    ----------
    data : pandas.DataFrame
    design : Design
    arrays : DesignArrays
        From :func:`survey.estimation.structure.design_arrays`.
    weights : numpy.ndarray
    strict : bool, default=False
        Raise :class:`~survey.errors.DesignError` instead of warning.
    tolerance : float, default=0.1

    Returns
    -------
    pandas.DataFrame
        The strata out of tolerance: ``stratum, n, N_fpc, weight_sum, ratio``
        (empty when all agree or nothing can be compared).

    Examples
    --------
    >>> import pandas as pd, survey as sv
    >>> df = pd.DataFrame({"h": ["a", "a", "b", "b"], "w": [5.0, 5, 2, 2], "N": [10, 10, 50, 50],
    ...                    "y": [1.0, 2, 3, 4]})
    >>> sv.Survey(df, sv.Design(strata="h", weights="w", fpc="N"), strict=True)
    Traceback (most recent call last):
    ...
    survey.errors.DesignError: the weights do not match the fpc in 1 stratum (the PSU weights of a stratum should add up to its population size N_h): b: weights add up to 4, fpc N_h = 50 (ratio 0.08); the fpc is the population size N_h of the stratum (a number >= n_h) or the sampling fraction n_h / N_h (a number <= 1); a percentage such as 50 for 50% is read as N_h = 50
    """
    empty = pd.DataFrame(columns=["stratum", "n", "N_fpc", "weight_sum", "ratio"])
    if not design.fpc or (design.weights is None and design.probs is None) or \
            len(design.clusters) > 1 or design.pps is not None:
        return empty
    fraction = np.asarray(arrays.stage1_fraction, dtype=float)
    strata = np.asarray(arrays.strata_codes)
    if not np.all(fraction > 0):
        return empty
    if arrays.psu_codes is None:  # element sampling: every row its own PSU
        psu_weight, psu_stratum = np.asarray(weights, dtype=float), strata
    else:
        psu = np.asarray(arrays.psu_codes)
        n_psu = int(psu.max()) + 1
        size = np.bincount(psu, minlength=n_psu)
        psu_weight = np.bincount(psu, weights=weights, minlength=n_psu) / np.maximum(size, 1)
        psu_stratum = np.zeros(n_psu, dtype=np.intp)
        psu_stratum[psu] = strata
    H = len(arrays.strata_labels)
    n_h = np.bincount(psu_stratum, minlength=H)
    w_h = np.bincount(psu_stratum, weights=psu_weight, minlength=H)
    f_h = np.zeros(H)
    f_h[strata] = fraction
    with np.errstate(divide="ignore", invalid="ignore"):
        N_h = n_h / f_h
        ratio = w_h / N_h
    bad = np.flatnonzero(np.isfinite(ratio) & (np.abs(ratio - 1.0) > tolerance))
    if not bad.size:
        return empty
    labels = np.asarray(arrays.strata_labels, dtype=object)
    out = pd.DataFrame({"stratum": labels[bad], "n": n_h[bad], "N_fpc": N_h[bad],
                        "weight_sum": w_h[bad], "ratio": ratio[bad]})
    shown = "; ".join(f"{r.stratum}: weights add up to {r.weight_sum:.6g}, fpc N_h = "
                      f"{r.N_fpc:.6g} (ratio {r.ratio:.3g})" for r in out.head(5).itertuples())
    more = f" and {len(out) - 5} more" if len(out) > 5 else ""
    word = "stratum" if len(out) == 1 else "strata"
    message = (f"the weights do not match the fpc in {len(out)} {word} (the PSU weights of a "
               f"stratum should add up to its population size N_h): {shown}{more}; {_CONVENTION}")
    if strict:
        raise DesignError(message)
    warnings.warn(message + " (strict=True makes this an error)", SurveyWarning, stacklevel=4)
    return out
