"""Multiple-frame estimation over the three channels (overlapping frames)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Mapping, Sequence

import numpy as np
import pandas as pd

from survey.errors import ChannelError, ColumnError
from survey.estimation.results import IntervalResult, t_quantile

if TYPE_CHECKING:  # pragma: no cover
    from survey.estimation.survey import Survey

__all__ = ['MultipleFrameEstimate', 'multiple_frame_total']


# --------------------------------------------------------------------------- multiple frames
@dataclass(frozen=True, kw_only=True, eq=False)
class MultipleFrameEstimate(IntervalResult):
    """Totals estimated from independent samples of overlapping frames.

    Attributes
    ----------
    method : {"hartley", "multiplicity"}
    variables : tuple of str
    estimate, se : numpy.ndarray
        One value per variable.
    theta : numpy.ndarray
        Hartley's weight of the first frame's overlap estimate (NaN for the
        multiplicity estimator).
    parts : pandas.DataFrame
        Contribution of each frame's sample: ``frame``, ``variable``,
        ``estimate``, ``se``.
    df : int
        Degrees of freedom (sum over the samples).
    level : float
        Default confidence level of ``table``, ``ci`` and ``summary`` (0.95).
    """

    method: str
    variables: tuple[str, ...]
    estimate: np.ndarray
    se: np.ndarray
    theta: np.ndarray
    parts: pd.DataFrame
    df: int
    level: float = 0.95

    def table(self, *, level: float | None = None) -> pd.DataFrame:
        """``variable, estimate, se, cv, ci_low, ci_high, df, theta``.

        Parameters
        ----------
        level : float, optional
            Confidence level of the t intervals (default: ``self.level``).

        Returns
        -------
        pandas.DataFrame
        """
        q = t_quantile(self._level(level), self.df)
        return pd.DataFrame(
            {
                "variable": list(self.variables),
                "estimate": self.estimate,
                "se": self.se,
                "cv": self.cv,
                "ci_low": self.estimate - q * self.se,
                "ci_high": self.estimate + q * self.se,
                "df": self.df,
                "theta": self.theta,
            }
        )

    def _summary_title(self, level: float) -> tuple[str, str | None]:
        return (
            f"Multiple-frame total ({self.method}; {int(level * 100)}% t-interval, df = {self.df})",
            None,
        )


def _membership(s: "Survey", frame: str, membership: Mapping[str, str]) -> np.ndarray:
    """(n, F) boolean matrix of frame membership for the sample of ``frame``."""
    cols = []
    for other, col in membership.items():
        if col not in s.data.columns:
            raise ColumnError(f"the sample of frame {frame!r} has no membership column {col!r} (frame {other!r})")
        v = s.data[col]
        if v.isna().any():
            rows = s.data.index[v.isna().to_numpy()][:5].tolist()
            raise ColumnError(f"membership column {col!r} has missing values in the sample of {frame!r}, rows {rows}")
        cols.append(v.to_numpy().astype(bool))
    m = np.column_stack(cols)
    own = list(membership).index(frame)
    if not m[:, own].all():
        rows = s.data.index[~m[:, own]][:5].tolist()
        raise ChannelError(
            f"units sampled from frame {frame!r} must belong to it, but {membership[frame]!r} is False "
            f"in rows {rows}"
        )
    return m


def multiple_frame_total(
    samples: Mapping[str, "Survey"],
    variables: str | Sequence[str],
    *,
    membership: Mapping[str, str],
    method: Literal["multiplicity", "hartley"] = "multiplicity",
    theta: float | None = None,
) -> MultipleFrameEstimate:
    """Totals from independent samples of overlapping frames that cannot be linked by id.

    Each sampled unit reports which frames it belongs to (e.g. "is the firm a
    federation member? in a special zone?").

    * ``method="multiplicity"`` (single-frame multiplicity estimator, Kalton
      and Anderson 1986; Mecatti 2007): every unit's value is divided by the
      number of frames it belongs to,
      ``Y = sum_q sum_{i in s_q} w_i y_i / m_i``; any number of frames.
    * ``method="hartley"`` (Hartley 1962, two frames A and B): units only in
      A, only in B, and in both; ``Y = Y_a + theta Y_ab^A + (1 - theta) Y_ab^B
      + Y_b``. ``theta=None`` takes the variance-minimising value
      ``(V_B(Y_ab) + C_B(Y_b, Y_ab) - C_A(Y_a, Y_ab)) / (V_A(Y_ab) + V_B(Y_ab))``
      (estimated from the samples, one per variable); with ``theta=0.5`` it
      equals the multiplicity estimator.

    The samples are independent, so the variance is the sum of the design
    variances of each sample's part (each from its own design, weighting
    steps included); ``theta`` is treated as fixed.

    Parameters
    ----------
    samples : mapping of str to Survey
        Frame name to the sample drawn from that frame.
    variables : str or list of str
        Numeric columns present in every sample.
    membership : mapping of str to str
        Frame name to the boolean column (in every sample) saying whether
        the unit belongs to that frame. Must name every frame in ``samples``.
    method : {"multiplicity", "hartley"}, default="multiplicity"
    theta : float, optional
        Hartley's weight in [0, 1] of frame A's (the first frame's) overlap
        estimate; ``None``: optimal.

    Returns
    -------
    MultipleFrameEstimate

    Raises
    ------
    ChannelError
        Frames and membership columns do not match, a sampled unit is not in
        its own frame, or Hartley is asked for other than two frames.

    Examples
    --------
    >>> import survey as sv
    >>> a = pd.DataFrame({"y": [10.0, 20, 30], "w": [2.0, 2, 2], "in_a": True, "in_b": [False, True, True]})
    >>> b = pd.DataFrame({"y": [20.0, 5], "w": [3.0, 3], "in_a": [True, False], "in_b": True})
    >>> samples = {"a": sv.Survey(a, sv.Design(weights="w")), "b": sv.Survey(b, sv.Design(weights="w"))}
    >>> m = multiple_frame_total(samples, "y", membership={"a": "in_a", "b": "in_b"})
    >>> float(m.estimate[0])  # 2*10 + 2*20/2 + 2*30/2 + 3*20/2 + 3*5
    115.0
    """
    names = [variables] if isinstance(variables, str) else list(variables)
    frames = list(samples)
    if set(frames) != set(membership):
        raise ChannelError(
            f"membership must name one column per sampled frame: frames {frames}, membership {list(membership)}"
        )
    membership = {f: membership[f] for f in frames}
    if method not in ("multiplicity", "hartley"):
        raise ChannelError(f"method must be 'multiplicity' or 'hartley', got {method!r}")
    if method == "hartley" and len(frames) != 2:
        raise ChannelError(f"Hartley's estimator needs exactly two frames, got {len(frames)}; use 'multiplicity'")
    if theta is not None and not 0.0 <= float(theta) <= 1.0:
        raise ChannelError(f"theta must lie in [0, 1], got {theta!r}")
    k = len(names)
    parts_rows = []
    total = np.zeros(k)
    var = np.zeros(k)
    df = 0
    if method == "multiplicity":
        for f in frames:
            s = samples[f]
            m = _membership(s, f, membership).sum(axis=1).astype(float)
            cols = {f"_mf_{j}": s.data[v].to_numpy(dtype=float) / m for j, v in enumerate(names) if _has(s, v, f)}
            est = s.assign(**cols).total(list(cols))
            total += est.estimate
            var += est.se**2
            df += s.df
            parts_rows += [(f, v, e, se) for v, e, se in zip(names, est.estimate, est.se)]
        thetas = np.full(k, np.nan)
    else:
        fa, fb = frames
        ests = {}
        for f, other in ((fa, fb), (fb, fa)):
            s = samples[f]
            m = _membership(s, f, membership)
            both = m[:, frames.index(other)]
            cols = {}
            for j, v in enumerate(names):
                _has(s, v, f)
                y = s.data[v].to_numpy(dtype=float)
                cols[f"_only_{j}"] = np.where(both, 0.0, y)
                cols[f"_both_{j}"] = np.where(both, y, 0.0)
            order = [c for j in range(k) for c in (f"_only_{j}", f"_both_{j}")]
            ests[f] = s.assign(**cols).total(order)
            df += s.df
        pa = ests[fa].estimate.reshape(k, 2)
        pb = ests[fb].estimate.reshape(k, 2)
        ca = ests[fa].cov[0]
        cb = ests[fb].cov[0]
        i_only = 2 * np.arange(k)
        i_both = i_only + 1
        va_ab, vb_ab = ca[i_both, i_both], cb[i_both, i_both]
        ca_c, cb_c = ca[i_only, i_both], cb[i_only, i_both]
        if theta is None:
            with np.errstate(divide="ignore", invalid="ignore"):
                thetas = np.where(va_ab + vb_ab > 0, (vb_ab + cb_c - ca_c) / (va_ab + vb_ab), 0.5)
            thetas = np.clip(thetas, 0.0, 1.0)
        else:
            thetas = np.full(k, float(theta))
        part_a = pa[:, 0] + thetas * pa[:, 1]
        part_b = pb[:, 0] + (1 - thetas) * pb[:, 1]
        var_a = ca[i_only, i_only] + 2 * thetas * ca_c + thetas**2 * va_ab
        var_b = cb[i_only, i_only] + 2 * (1 - thetas) * cb_c + (1 - thetas) ** 2 * vb_ab
        total = part_a + part_b
        var = var_a + var_b
        parts_rows += [(fa, v, e, np.sqrt(max(s2, 0))) for v, e, s2 in zip(names, part_a, var_a)]
        parts_rows += [(fb, v, e, np.sqrt(max(s2, 0))) for v, e, s2 in zip(names, part_b, var_b)]
    parts = pd.DataFrame(parts_rows, columns=["frame", "variable", "estimate", "se"])
    return MultipleFrameEstimate(
        method=method,
        variables=tuple(names),
        estimate=total,
        se=np.sqrt(np.maximum(var, 0.0)),
        theta=thetas,
        parts=parts,
        df=int(df),
    )


def _has(s: "Survey", column: str, frame: str) -> bool:
    if column not in s.data.columns:
        raise ColumnError(f"the sample of frame {frame!r} has no column {column!r}")
    return True
