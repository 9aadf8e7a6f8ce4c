"""Two-phase variance of a weighting-class nonresponse adjustment (Särndal et al. 1992, Result 9.3.1).

The sample ``s`` (phase 1) is drawn by the design; the respondents ``r``
(phase 2) are taken as a stratified simple random sample of ``r_c`` units from
the ``n_c`` sampled units of every weighting class ``c`` (the response
homogeneity group model), with phase-2 inclusion probability ``pi2_c`` (the
weighted response rate of the class, ``r_c / n_c`` when the design weights
are constant within the class). The adjusted estimator is a calibration of the
respondents to the class totals estimated from the whole sample, and its
variance has two parts (R ``twophase(..., method = "full")``, with the
phase-1 strata sizes of the fixed version, see ``docs/weighting.md``)::

    V = x' (D1 o (1 - D2)) x  +  x' D2 x
      = V1(x) - sum_c (1 - pi2_c) [ r_c/(r_c-1) sum_{k in c} d1_k x_k x_k' - V1(x_c)/(r_c-1) ]
        + sum_c (1 - pi2_c) r_c/(r_c-1) sum_{k in c} e_k e_k'

with ``x`` the influence values (``w y`` for a total), ``V1`` the design's own
variance (``D1``), ``x_c`` the values of class ``c`` only, ``d1_k`` the
diagonal of ``D1`` (the design variance of a single unit's value) and
``e_k = x_k - w_k sum_c x / sum_c w`` the class residuals. The first term is
the phase-1 variance (what a complete sample would have), the second the
phase-2 (nonresponse) variance. ``V1`` is computed by the design's own engine
(stratified multistage linearisation or πps), so every design the toolkit
knows can be the first phase.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np

from survey.errors import SurveyWarning

__all__ = ["TwoPhase", "twophase_covariance"]

Blocks = Callable[[np.ndarray, np.ndarray, int], np.ndarray]


@dataclass(frozen=True, eq=False, kw_only=True)
class TwoPhase:
    """The second phase of a nonresponse adjustment: classes, respondents, response rates.

    Attributes
    ----------
    classes : numpy.ndarray of int
        Weighting class of every respondent row, ``-1`` for other rows.
    n_classes : int
    pi2 : numpy.ndarray
        Phase-2 inclusion probability (weighted response rate) of every class.
    respondents : numpy.ndarray of int
        Number of respondents ``r_c`` of every class.
    weights : numpy.ndarray
        Row weights after the adjustment (0 for nonrespondents).

    Examples
    --------
    >>> tp = TwoPhase(classes=np.array([0, -1, 0]), n_classes=1, pi2=np.array([2 / 3]),
    ...               respondents=np.array([2]), weights=np.array([3.0, 0.0, 3.0]))
    >>> tp.n_classes
    1
    """

    classes: np.ndarray
    n_classes: int
    pi2: np.ndarray
    respondents: np.ndarray
    weights: np.ndarray


def _group_sum(codes: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    keep = codes >= 0
    return np.column_stack(
        [np.bincount(codes[keep], weights=values[keep, j], minlength=size) for j in range(values.shape[1])]
    ) if values.shape[1] else np.zeros((size, 0))


def twophase_covariance(
    scores: np.ndarray,
    domain: np.ndarray,
    n_domains: int,
    tp: TwoPhase,
    blocks: Blocks,
    *,
    parts: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Covariance matrices (D, k, k) of domain totals of scores after a two-phase adjustment.

    Parameters
    ----------
    scores : numpy.ndarray, shape (n, k)
        Influence values, zero outside the domains and for nonrespondents.
    domain : numpy.ndarray of int, shape (n,)
        Domain of every row, ``-1`` outside every domain.
    n_domains : int
    tp : TwoPhase
    blocks : callable
        ``blocks(z, groups, G)``: the phase-1 (design) covariance matrices
        (G, k, k) of the totals of ``z`` over the rows of each group.
    parts : bool, default=False
        Also return the phase-2 part.

    Returns
    -------
    numpy.ndarray, shape (D, k, k)
        The total variance, and with ``parts=True`` the phase-2 part too.

    Examples
    --------
    A sample of 4 units with replacement, one class, 3 respondents (``x' D x`` with
    ``D_kk = 1``, ``D_kl = -1/3 - 1/8 - 1/24 = -1/2``):

    >>> import numpy as np
    >>> from survey.estimation.variance import linearization_variance
    >>> import pandas as pd, survey as sv
    >>> s = sv.Survey(pd.DataFrame({"w": [5.0] * 4}), sv.Design(weights="w"))
    >>> blocks = lambda z, g, G: linearization_variance(z, g, G, s.variance_structure)
    >>> w = np.array([20 / 3, 20 / 3, 20 / 3, 0.0])
    >>> tp = TwoPhase(classes=np.array([0, 0, 0, -1]), n_classes=1, pi2=np.array([0.75]),
    ...               respondents=np.array([3]), weights=w)
    >>> x = (w * np.array([1.0, 2.0, 6.0, 0.0]))[:, None]
    >>> round(float(twophase_covariance(x, np.zeros(4, dtype=np.intp), 1, tp, blocks)[0, 0, 0]), 6)
    933.333333
    """
    x = np.asarray(scores, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    n, k = x.shape
    D = n_domains
    C = tp.n_classes
    cls = tp.classes
    r = tp.respondents.astype(float)
    q = 1.0 - tp.pi2  # 1 - pi2_c
    single = (r < 2) & (q > 1e-12)
    if single.any():
        warnings.warn(
            f"{int(single.sum())} weighting class(es) have a single respondent: their phase-2 "
            "variance cannot be estimated and is taken as 0; collapse small cells "
            "(adjust_nonresponse(small_cells='collapse', min_respondents=2))",
            SurveyWarning,
            stacklevel=4,
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        off = np.where(r > 1, q / (r - 1.0), 0.0)  # weight of V1(x_c)
        g = np.where(r > 1, q * r / (r - 1.0), 0.0)  # phase-2 coefficient and d1 coefficient
    diag_coef = np.where(r > 1, g, q)  # r_c = 1: only the diagonal of D2
    v1 = blocks(x, domain, D)
    # V1 of every (domain, class) part
    inside = (domain >= 0) & (cls >= 0)
    dc = np.where(inside, domain * C + np.maximum(cls, 0), -1)
    vdc = blocks(x, dc, D * C).reshape(D, C, k, k)
    term_b = np.einsum("c,dcij->dij", off, vdc)
    # the diagonal d1_k of the design's D1, from single-row "domains"
    d1 = blocks(np.ones((n, 1)), np.arange(n), n)[:, 0, 0]
    u = np.where(cls >= 0, diag_coef[np.maximum(cls, 0)] * d1, 0.0)
    term_c = np.zeros((D, k, k))
    dom_ok = np.where(domain >= 0, domain, 0)
    keep = (domain >= 0) & (u != 0)
    for a in range(k):
        for b in range(a, k):
            val = np.bincount(dom_ok[keep], weights=(u * x[:, a] * x[:, b])[keep], minlength=D)
            term_c[:, a, b] = val
            term_c[:, b, a] = val
    # phase 2: class residuals e = x - w * sum_c x / sum_c w within every domain
    w = tp.weights
    wc = np.bincount(np.maximum(cls, 0), weights=np.where(cls >= 0, w, 0.0), minlength=C)
    w2c = np.bincount(np.maximum(cls, 0), weights=np.where(cls >= 0, w * w, 0.0), minlength=C)
    Sx = _group_sum(dc, x, D * C).reshape(D, C, k)
    Swx = _group_sum(dc, w[:, None] * x, D * C).reshape(D, C, k)
    with np.errstate(divide="ignore", invalid="ignore"):
        B = np.where(wc[None, :, None] > 0, Sx / wc[None, :, None], 0.0)
    term2 = np.zeros((D, k, k))
    gk = g[None, :]
    for a in range(k):
        for b in range(a, k):
            sxx = np.bincount(dc[dc >= 0], weights=(x[:, a] * x[:, b])[dc >= 0], minlength=D * C).reshape(D, C)
            val = sxx - B[:, :, a] * Swx[:, :, b] - Swx[:, :, a] * B[:, :, b] + B[:, :, a] * B[:, :, b] * w2c[None, :]
            t = (gk * val).sum(axis=1)
            term2[:, a, b] = t
            term2[:, b, a] = t
    total = v1 + term_b - term_c + term2
    return (total, term2) if parts else total
