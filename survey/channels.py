"""The three reporting channels: one unit list, overlap counted once.

The sector is seen through three channels (the statistics bureau's register
and returns, the federation's collective-enterprise returns, the special-zone
returns). They overlap: a collective firm in a special zone above the size
threshold is in all three. This module

* builds **one unit list** from the channel lists, matched exactly on the
  unified social credit code (:func:`link_channels`), with a report of units
  found in a channel but not in the register, of conflicting attributes, and
  of unusable ids; each firm is one row, and channel membership stays as
  boolean domain columns (``in_bureau``, ``in_federation``, ``in_zone``) so
  every channel still gets its own table;
* estimates totals from **samples of frames that cannot be linked by id**
  (:func:`multiple_frame_total`): Hartley's dual-frame estimator or the
  single-frame multiplicity estimator, with their variances.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Mapping, Sequence

import numpy as np
import pandas as pd

from .errors import ChannelError, ColumnError, SurveyWarning
from .frame import valid_uscc
from .results import t_quantile

if TYPE_CHECKING:  # pragma: no cover
    from .design import Survey

__all__ = ["UnitList", "link_channels", "MultipleFrameEstimate", "multiple_frame_total"]

CHANNELS = ("bureau", "federation", "zone")


# --------------------------------------------------------------------------- unit list
@dataclass(frozen=True, kw_only=True, eq=False)
class UnitList:
    """The linked unit list of the sector and the reports of the linkage.

    Attributes
    ----------
    units : pandas.DataFrame
        One row per firm: ``firm_id``, the attributes (register values first),
        ``in_register`` and one ``in_<channel>`` boolean column per channel,
        ``channels`` (e.g. ``"bureau+federation+zone"``) and ``n_channels``.
    not_in_register : pandas.DataFrame
        Firms found in a channel but not in the register: ``firm_id``, ``channel``.
    conflicts : pandas.DataFrame
        Attributes on which sources disagree: ``firm_id``, ``column``,
        ``source``, ``value`` (one row per source value), ``kept`` (the value
        in :attr:`units`).
    invalid_ids : pandas.DataFrame
        Rows whose id is not a valid USCC (left out of :attr:`units`):
        ``source``, ``row``, ``firm_id``.
    channels : tuple of str
        Channel names in order of precedence.

    Examples
    --------
    See :func:`link_channels`.
    """

    units: pd.DataFrame
    not_in_register: pd.DataFrame
    conflicts: pd.DataFrame
    invalid_ids: pd.DataFrame
    channels: tuple[str, ...]

    def overlap(self) -> pd.DataFrame:
        """Firms by combination of channels (each firm counted once).

        Returns
        -------
        pandas.DataFrame
            One row per observed combination: the ``in_<channel>`` flags,
            ``channels`` and ``firms``; a last row ``channels == "total"``.
        """
        flags = [f"in_{c}" for c in self.channels]
        table = (
            self.units.groupby([*flags, "channels"], observed=True, sort=True)
            .size()
            .rename("firms")
            .reset_index()
            .sort_values("firms", ascending=False, kind="stable")
            .reset_index(drop=True)
        )
        total = pd.DataFrame({**{f: [pd.NA] for f in flags}, "channels": ["total"], "firms": [len(self.units)]})
        return pd.concat([table.astype({f: "boolean" for f in flags}), total.astype({f: "boolean" for f in flags})],
                         ignore_index=True)

    def channel(self, name: str) -> pd.DataFrame:
        """The units of one channel (a new frame).

        Parameters
        ----------
        name : str
            A channel name from :attr:`channels`.
        """
        if name not in self.channels:
            raise ChannelError(f"unknown channel {name!r}; the unit list has {list(self.channels)}")
        return self.units[self.units[f"in_{name}"].to_numpy()].reset_index(drop=True)

    def __repr__(self) -> str:
        return (
            f"<UnitList {len(self.units)} firms; channels {', '.join(self.channels)}; "
            f"{len(self.not_in_register)} not in register; "
            f"{self.conflicts['firm_id'].nunique() if len(self.conflicts) else 0} firms with conflicts; "
            f"{len(self.invalid_ids)} invalid ids>"
        )


def _normalise_ids(values: pd.Series) -> pd.Series:
    return values.astype("string").str.strip().str.upper()


def link_channels(
    register: pd.DataFrame,
    channels: Mapping[str, pd.DataFrame],
    *,
    id_column: str = "firm_id",
    attributes: Sequence[str] | None = None,
    on_conflict: Literal["register", "error"] = "register",
    keep_unregistered: bool = True,
    check_ids: bool = True,
) -> UnitList:
    """Link the channel lists to the register on the firm id; count each firm once.

    Ids are matched exactly after removing surrounding blanks and upper-casing
    (the USCC alphabet has capitals only). A firm in several channels is one
    row with several ``in_<channel>`` flags set.

    Parameters
    ----------
    register : pandas.DataFrame
        The business register: one row per firm, ``id_column`` plus attributes.
    channels : mapping of str to pandas.DataFrame
        Channel name (e.g. ``"bureau"``, ``"federation"``, ``"zone"``) to its
        list of firms (one row per firm). The order is the order of
        precedence for attributes of firms missing from the register.
    id_column : str, default="firm_id"
        Column holding the 18-character unified social credit code.
        Channel flags the register already has (``in_bureau`` ...) for channels
        not given in ``channels`` are carried over unchanged.
    attributes : list of str, optional
        Attribute columns to carry and compare. Default: every column of the
        register or of a channel other than the id and ``in_*`` flags.
    on_conflict : {"register", "error"}, default="register"
        Keep the register's value (else the first channel's) and report the
        conflict, or raise a :class:`~survey.errors.ChannelError`.
    keep_unregistered : bool, default=True
        Keep firms found only in channels (``in_register == False``) in the
        unit list; they are reported in ``not_in_register`` either way.
    check_ids : bool, default=True
        Leave out (and report, with a warning) ids that are not valid USCCs.

    Returns
    -------
    UnitList

    Raises
    ------
    ChannelError
        An id appears twice in one source, or attributes conflict and
        ``on_conflict="error"``.
    ColumnError
        ``id_column`` or an attribute column is missing everywhere.

    Examples
    --------
    >>> reg = pd.DataFrame({"firm_id": ["A1", "B2", "C3"], "county": ["Bobai", "Lipu", "Lipu"]})
    >>> fed = pd.DataFrame({"firm_id": ["A1", "C3"], "county": ["Bobai", "Binyang"]})
    >>> zone = pd.DataFrame({"firm_id": ["A1", "D4"]})
    >>> ul = link_channels(reg, {"federation": fed, "zone": zone}, check_ids=False)
    >>> ul.units[["firm_id", "county", "channels"]]
      firm_id county                  channels
    0      A1  Bobai  register+federation+zone
    1      B2   Lipu                  register
    2      C3   Lipu       register+federation
    3      D4    NaN                      zone
    >>> ul.not_in_register["firm_id"].tolist(), ul.conflicts["value"].tolist()
    (['D4'], ['Lipu', 'Binyang'])
    """
    if on_conflict not in ("register", "error"):
        raise ChannelError(f"on_conflict must be 'register' or 'error', got {on_conflict!r}")
    names = list(channels)
    if not names:
        raise ChannelError("give at least one channel list")
    if "register" in names:
        raise ChannelError("'register' is reserved for the register; name the channels otherwise")
    sources: dict[str, pd.DataFrame] = {"register": register, **dict(channels)}
    for name, frame in sources.items():
        if not isinstance(frame, pd.DataFrame):
            raise ChannelError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}")
        if id_column not in frame.columns:
            raise ColumnError(f"{name} has no id column {id_column!r}; its columns are {list(frame.columns)[:10]}")
    if attributes is None:
        seen: dict[str, None] = {}
        for frame in sources.values():
            for c in frame.columns:
                if c != id_column and not str(c).startswith("in_"):
                    seen[c] = None
        attributes = list(seen)
    else:
        attributes = list(attributes)
        missing = [a for a in attributes if not any(a in f.columns for f in sources.values())]
        if missing:
            raise ColumnError(f"attribute column(s) {missing} are in neither the register nor a channel")

    # ids: normalise, check, reject duplicates within a source
    long_parts = []
    invalid = []
    for rank, (name, frame) in enumerate(sources.items()):
        ids = _normalise_ids(frame[id_column])
        ok = ids.notna().to_numpy().copy()
        if check_ids:
            ok = ok & valid_uscc(ids.fillna("").to_numpy(dtype=object))
        if (~ok).any():
            invalid.append(
                pd.DataFrame({"source": name, "row": frame.index[~ok], "firm_id": frame[id_column][~ok].to_numpy()})
            )
        cols = [a for a in attributes if a in frame.columns]
        part = frame.loc[ok, cols].copy()
        part.insert(0, "firm_id", ids[ok].to_numpy())
        dup = part["firm_id"].duplicated(keep=False).to_numpy()
        if dup.any():
            first = part["firm_id"][dup].unique()[:5].tolist()
            raise ChannelError(
                f"{name} lists {int(part['firm_id'][dup].nunique())} firm id(s) more than once "
                f"(e.g. {first}); each source must have one row per firm: merge or drop duplicates first"
            )
        part["_source"] = name
        part["_rank"] = rank
        long_parts.append(part)
    invalid_ids = (
        pd.concat(invalid, ignore_index=True)
        if invalid
        else pd.DataFrame({"source": pd.Series(dtype="str"), "row": pd.Series(dtype="int64"),
                           "firm_id": pd.Series(dtype="str")})
    )
    if len(invalid_ids):
        warnings.warn(
            f"{len(invalid_ids)} row(s) have ids that are not valid USCCs and are left out of the unit "
            f"list (first: {invalid_ids['source'].iloc[0]} row {invalid_ids['row'].iloc[0]!r}); see "
            "UnitList.invalid_ids",
            SurveyWarning,
            stacklevel=2,
        )
    stacked = pd.concat(long_parts, ignore_index=True)
    # one row per firm; source order: register first, then channels in the given order
    stacked = stacked.sort_values(["firm_id", "_rank"], kind="stable")
    firms = pd.Index(stacked["firm_id"].unique())
    code = firms.get_indexer(stacked["firm_id"])
    member = np.zeros((firms.size, len(sources)), dtype=bool)
    member[code, stacked["_rank"].to_numpy()] = True

    units = pd.DataFrame({"firm_id": firms.to_numpy()})
    conflicts = []
    for col in attributes:
        sub = stacked.loc[stacked[col].notna(), ["firm_id", "_source", col]] if col in stacked else None
        if sub is None or sub.empty:
            units[col] = pd.NA
            continue
        kept = sub.groupby("firm_id", sort=False)[col].first()  # first = highest precedence
        units[col] = kept.reindex(units["firm_id"]).to_numpy()
        n_values = sub.groupby("firm_id", sort=False)[col].nunique()
        bad = n_values.index[n_values.to_numpy() > 1]
        if len(bad):
            rows = sub[sub["firm_id"].isin(bad)]
            conflicts.append(
                pd.DataFrame(
                    {
                        "firm_id": rows["firm_id"].to_numpy(),
                        "column": col,
                        "source": rows["_source"].to_numpy(),
                        "value": rows[col].astype("string").to_numpy(),
                        "kept": kept.reindex(rows["firm_id"]).astype("string").to_numpy(),
                    }
                )
            )
    conflicts_df = (
        pd.concat(conflicts, ignore_index=True)
        if conflicts
        else pd.DataFrame({k: pd.Series(dtype="str") for k in ("firm_id", "column", "source", "value", "kept")})
    )
    if len(conflicts_df) and on_conflict == "error":
        first = conflicts_df.iloc[0]
        raise ChannelError(
            f"{conflicts_df['firm_id'].nunique()} firm(s) have conflicting attributes, e.g. firm "
            f"{first['firm_id']} column {first['column']!r}: "
            + ", ".join(
                f"{r.source}={r.value}"
                for r in conflicts_df[(conflicts_df.firm_id == first.firm_id) & (conflicts_df.column == first.column)].itertuples()
            )
            + "; correct the sources or use on_conflict='register'"
        )
    source_names = list(sources)
    units["in_register"] = member[:, 0]
    for j, name in enumerate(names, start=1):
        units[f"in_{name}"] = member[:, j]
    labels = np.array(source_names, dtype=object)
    units["channels"] = _pattern_labels(member, labels)
    units["n_channels"] = member[:, 1:].sum(axis=1).astype(np.int64)
    # flags the register already carries for channels not given as lists are kept as they are
    carried = [c for c in register.columns if str(c).startswith("in_") and str(c)[3:] not in names
               and c != "in_register"]
    if carried:
        reg_ids = _normalise_ids(register[id_column])
        flags = register[carried].set_axis(reg_ids.to_numpy()).loc[lambda f: ~f.index.duplicated()]
        for c in carried:
            units[c] = flags[c].reindex(units["firm_id"].to_numpy()).fillna(False).to_numpy(dtype=bool)

    not_reg = ~member[:, 0]
    first_channel = np.argmax(member[:, 1:], axis=1)
    not_in_register = pd.DataFrame(
        {"firm_id": units["firm_id"].to_numpy()[not_reg], "channel": np.asarray(names, dtype=object)[first_channel[not_reg]]}
    )
    if not keep_unregistered:
        units = units[member[:, 0]].reset_index(drop=True)
    return UnitList(
        units=units,
        not_in_register=not_in_register,
        conflicts=conflicts_df,
        invalid_ids=invalid_ids,
        channels=tuple(names),
    )


def _pattern_labels(member: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """'register+federation+zone' style labels, computed once per distinct pattern."""
    powers = 1 << np.arange(member.shape[1], dtype=np.int64)
    key = member.astype(np.int64) @ powers
    uniq, inverse = np.unique(key, return_inverse=True)
    names = np.array(
        ["+".join(labels[(u & powers) > 0]) or "(none)" for u in uniq], dtype=object
    )
    return names[inverse]


# --------------------------------------------------------------------------- multiple frames
@dataclass(frozen=True, kw_only=True, eq=False)
class MultipleFrameEstimate:
    """Totals estimated from independent samples of overlapping frames.

    Attributes
    ----------
    method : {"hartley", "multiplicity"}
    variables : tuple of str
    point, se : numpy.ndarray
        One value per variable.
    theta : numpy.ndarray
        Hartley's weight of the first frame's overlap estimate (NaN for the
        multiplicity estimator).
    parts : pandas.DataFrame
        Contribution of each frame's sample: ``frame``, ``variable``,
        ``estimate``, ``se``.
    df : int
        Degrees of freedom (sum over the samples).
    """

    method: str
    variables: tuple[str, ...]
    point: np.ndarray
    se: np.ndarray
    theta: np.ndarray
    parts: pd.DataFrame
    df: int

    def table(self, *, level: float = 0.95) -> pd.DataFrame:
        """``variable, estimate, se, cv, ci_low, ci_high, df, theta``."""
        q = t_quantile(level, self.df)
        with np.errstate(divide="ignore", invalid="ignore"):
            cv = np.where(self.point != 0, self.se / np.abs(self.point), np.nan)
        return pd.DataFrame(
            {
                "variable": list(self.variables),
                "estimate": self.point,
                "se": self.se,
                "cv": cv,
                "ci_low": self.point - q * self.se,
                "ci_high": self.point + q * self.se,
                "df": self.df,
                "theta": self.theta,
            }
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
    >>> float(m.point[0])  # 2*10 + 2*20/2 + 2*30/2 + 3*20/2 + 3*5
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
        pa = ests[fa].point.reshape(k, 2)
        pb = ests[fb].point.reshape(k, 2)
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
        point=total,
        se=np.sqrt(np.maximum(var, 0.0)),
        theta=thetas,
        parts=parts,
        df=int(df),
    )


def _has(s: "Survey", column: str, frame: str) -> bool:
    if column not in s.data.columns:
        raise ColumnError(f"the sample of frame {frame!r} has no column {column!r}")
    return True
