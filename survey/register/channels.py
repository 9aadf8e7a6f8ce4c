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
* (totals from **samples of frames that cannot be linked by id** are
  estimated in the estimation room:
  :func:`survey.estimation.multiframe.multiple_frame_total`, Hartley's
  dual-frame estimator or the single-frame multiplicity estimator).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Mapping, Sequence

import numpy as np
import pandas as pd

from survey.errors import ChannelError, ColumnError, SurveyWarning
from survey.register.frame import as_flags, valid_uscc

if TYPE_CHECKING:  # pragma: no cover
    pass

__all__ = ['UnitList', 'link_channels']


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
    id: str = "firm_id",
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
        The business register: one row per firm, ``id`` plus attributes.
    channels : mapping of str to pandas.DataFrame
        Channel name (e.g. ``"bureau"``, ``"federation"``, ``"zone"``) to its
        list of firms (one row per firm). The order is the order of
        precedence for attributes of firms missing from the register.
    id : str, default="firm_id"
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
        ``id`` or an attribute column is missing everywhere.

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
        if id not in frame.columns:
            raise ColumnError(f"{name} has no id column {id!r}; its columns are {list(frame.columns)[:10]}")
    if attributes is None:
        seen: dict[str, None] = {}
        for frame in sources.values():
            for c in frame.columns:
                if c != id and not str(c).startswith("in_"):
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
        ids = _normalise_ids(frame[id])
        ok = ids.notna().to_numpy().copy()
        if check_ids:
            ok = ok & valid_uscc(ids.fillna("").to_numpy(dtype=object))
        if (~ok).any():
            invalid.append(
                pd.DataFrame({"source": name, "row": frame.index[~ok], "firm_id": frame[id][~ok].to_numpy()})
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
        reg_ids = _normalise_ids(register[id])
        flags = register[carried].set_axis(reg_ids.to_numpy()).loc[lambda f: ~f.index.duplicated()]
        for c in carried:
            units[c] = as_flags(flags[c].reindex(units["firm_id"].to_numpy()), c)

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
