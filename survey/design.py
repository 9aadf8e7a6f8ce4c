"""The sample design (:class:`Design`) and the sample with its design (:class:`Survey`).

A :class:`Design` names the columns that carry the design; it holds no data
(except, for exact πps variances, the joint inclusion probabilities of the
sample, :class:`JointProbabilities`). A :class:`Survey` joins a data frame and
a design, checks both once, prepares the variance structure, and offers the
estimators. It is immutable: every method returns a new object.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal, Sequence

import numpy as np

from survey.errors import DesignError

#: What to do with a stratum that has a single PSU (R ``survey.lonely.psu``).
LONELY_PSU_RULES = ("fail", "remove", "adjust", "average", "certainty")
#: Variance approximations for πps sampling without replacement (R ``svydesign(pps=)``).
PPS_METHODS = ("brewer", "overton", "hartley-rao", "poisson")

__all__ = ["Design", "JointProbabilities", "HartleyRao", "LONELY_PSU_RULES", "PPS_METHODS"]


def _as_tuple(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


@dataclass(frozen=True, eq=False)
class JointProbabilities:
    """Joint inclusion probabilities ``pi_ij`` of a πps sample: the exact HT / SYG variance.

    Give it as ``Design(pps=JointProbabilities(matrix))`` (R ``pps = ppsmat(matrix)``).
    The variance of an estimated total with influence values ``x_i`` is the
    Horvitz-Thompson form ``x' D x`` (or, with ``Design(pps_variance="YG")``, the
    Sen-Yates-Grundy form ``-1/2 sum_ij D_ij (x_i - x_j)^2``), with
    ``D_ij = (pi_ij - pi_i pi_j) / pi_ij`` within strata.

    Parameters
    ----------
    matrix : numpy.ndarray or scipy.sparse matrix
        ``P x P`` joint inclusion probabilities of the sampled PSUs (every row
        is a PSU without clusters), rows and columns in the order of the data
        rows (of :attr:`survey.Survey.psu_codes` with clusters); the diagonal
        holds ``pi_i``. A sparse matrix lists only the pairs it stores: pairs
        not stored are taken as independent (``pi_ij = pi_i pi_j``, no
        covariance term), so a stratified sample can store its diagonal blocks.
        Pairs in different strata are never used.
    tolerance : float, default=0.0
        Entries with ``|D_ij| < tolerance`` are set to 0 (R ``ppsmat`` uses
        ``tolerance = 1e-4`` by default; 0 keeps the exact variance).

    Examples
    --------
    >>> import numpy as np
    >>> jp = JointProbabilities(np.array([[0.5, 0.2], [0.2, 0.5]]))
    >>> jp.shape
    (2, 2)
    """

    matrix: Any
    tolerance: float = 0.0

    def __post_init__(self) -> None:
        m = self.matrix
        if not hasattr(m, "shape") or len(m.shape) != 2 or m.shape[0] != m.shape[1]:
            raise DesignError("JointProbabilities needs a square matrix (numpy array or scipy.sparse)")
        if not np.isfinite(float(self.tolerance)) or self.tolerance < 0:
            raise DesignError(f"JointProbabilities tolerance must be >= 0, got {self.tolerance!r}")

    @property
    def shape(self) -> tuple[int, int]:
        """Shape of the matrix."""
        return tuple(int(s) for s in self.matrix.shape)  # type: ignore[return-value]

    def __repr__(self) -> str:
        kind = "sparse" if not isinstance(self.matrix, np.ndarray) else "dense"
        return f"JointProbabilities({kind} {self.shape[0]}x{self.shape[1]}, tolerance={self.tolerance:g})"


@dataclass(frozen=True)
class HartleyRao:
    """Hartley-Rao's approximation with the population sum of squared inclusion probabilities.

    ``Design(pps=HartleyRao("sum_pi2"))`` reads, in column ``sum_pi2``, the
    population sum ``sum_U pi_k^2`` of the row's stratum (constant within a
    stratum); R ``pps = HR(sum(pi^2) / n)``. ``Design(pps="hartley-rao")``
    estimates it from the sample instead (R ``HR()``).

    Parameters
    ----------
    sum_pi2 : str
        Column with the stratum's population sum of squared inclusion probabilities.

    Examples
    --------
    >>> HartleyRao("sum_pi2")
    HartleyRao(sum_pi2='sum_pi2')
    """

    sum_pi2: str


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
    lonely_psu_in_domain : bool, default=False
        Apply ``lonely_psu`` also to a stratum that has a single PSU *within a
        domain* (R ``options(survey.adjust.domain.lonely = TRUE)``): ``"adjust"``
        does not centre that PSU's total, ``"average"`` replaces the stratum's
        contribution by the average of the domain's other strata.
    pps : {"brewer", "overton", "hartley-rao", "poisson"}, HartleyRao or JointProbabilities, optional
        πps sampling without replacement (R ``svydesign(pps=)``): the
        inclusion probabilities are ``probs`` (or ``1 / weights``) and the
        variance is Brewer's approximation, Overton's or Hartley-Rao's
        approximation of the joint probabilities, the exact variance of
        Poisson sampling, or the exact HT/SYG variance from
        :class:`JointProbabilities`. Formulas: ``docs/variance.md``.
    pps_variance : {"HT", "YG"}, default="HT"
        Horvitz-Thompson or Sen-Yates-Grundy form (``"overton"``,
        ``"hartley-rao"``, joint probabilities; R ``variance=``).

    Examples
    --------
    >>> Design(strata="stratum", weights="w", fpc="N_h")
    Design(strata='stratum', clusters=(), weights='w', probs=None, fpc=('N_h',), lonely_psu='fail')
    >>> Design(probs="pi", pps="brewer")
    Design(strata=None, clusters=(), weights=None, probs='pi', fpc=(), lonely_psu='fail', pps='brewer')
    """

    strata: str | None = None
    clusters: tuple[str, ...] | str | None = ()
    weights: str | None = None
    probs: str | None = None
    fpc: tuple[str, ...] | str | None = ()
    lonely_psu: Literal["fail", "remove", "adjust", "average", "certainty"] = "fail"
    lonely_psu_in_domain: bool = field(default=False, repr=False)
    pps: str | HartleyRao | JointProbabilities | None = field(default=None, repr=False)
    pps_variance: Literal["HT", "YG"] = field(default="HT", repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "clusters", _as_tuple(self.clusters))
        object.__setattr__(self, "fpc", _as_tuple(self.fpc))
        if self.lonely_psu not in LONELY_PSU_RULES:
            raise DesignError(
                f"lonely_psu={self.lonely_psu!r} is not one of {', '.join(LONELY_PSU_RULES)}"
            )
        if not isinstance(self.lonely_psu_in_domain, (bool, np.bool_)):
            raise DesignError(f"lonely_psu_in_domain must be True or False, got {self.lonely_psu_in_domain!r}")
        if self.weights is not None and self.probs is not None:
            raise DesignError("give either weights= or probs=, not both")
        n_stages = max(len(self.clusters), 1)
        if len(self.fpc) > n_stages:
            raise DesignError(
                f"fpc names {len(self.fpc)} columns but the design has {n_stages} stage(s); "
                "give one fpc column per stage of clusters"
            )
        self._check_pps()

    def _check_pps(self) -> None:
        pps = self.pps
        if self.pps_variance not in ("HT", "YG"):
            raise DesignError(f"pps_variance={self.pps_variance!r} is not 'HT' or 'YG'")
        if pps is None:
            if self.pps_variance != "HT":
                raise DesignError("pps_variance='YG' needs a pps design (pps=...)")
            return
        if isinstance(pps, str):
            if pps not in PPS_METHODS:
                raise DesignError(
                    f"pps={pps!r} is not one of {', '.join(map(repr, PPS_METHODS))}, a HartleyRao(...) "
                    "or a JointProbabilities(...)"
                )
            if pps in ("brewer", "poisson") and self.pps_variance == "YG":
                raise DesignError(
                    f"pps={pps!r} has no Sen-Yates-Grundy form (it is for fixed-size designs with "
                    "joint probabilities): use pps_variance='HT'"
                )
        elif not isinstance(pps, (HartleyRao, JointProbabilities)):
            raise DesignError(f"pps must be a method name, HartleyRao or JointProbabilities, got {type(pps).__name__}")
        if self.weights is None and self.probs is None:
            raise DesignError(
                "a pps design needs the inclusion probabilities: give probs= (or weights= = 1/pi); "
                "R's fpc = ~pi is probs= here"
            )
        if self.fpc:
            raise DesignError(
                "a pps design takes its finite population correction from the inclusion "
                "probabilities: drop fpc= (R's fpc = ~pi is probs= here)"
            )
        if len(self.clusters) > 1:
            raise DesignError("pps designs are single-stage (one clusters column at most), as in R")

    def __repr__(self) -> str:
        parts = [
            f"strata={self.strata!r}", f"clusters={self.clusters!r}", f"weights={self.weights!r}",
            f"probs={self.probs!r}", f"fpc={self.fpc!r}", f"lonely_psu={self.lonely_psu!r}",
        ]
        for f in fields(self):
            if not f.repr and getattr(self, f.name) != f.default:
                parts.append(f"{f.name}={getattr(self, f.name)!r}")
        return f"Design({', '.join(parts)})"

    @property
    def columns(self) -> tuple[str, ...]:
        """All column names the design uses."""
        cols = [self.strata, *self.clusters, self.weights, self.probs, *self.fpc]
        if isinstance(self.pps, HartleyRao):
            cols.append(self.pps.sum_pi2)
        return tuple(c for c in cols if c is not None)
