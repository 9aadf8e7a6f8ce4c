"""The register (sampling frame): unit ids and register checks.

Unit ids follow the 18-character unified social credit code (USCC) of
GB 32100-2015:

=========  ======================================================
position   meaning
=========  ======================================================
1          registration authority code (e.g. ``9`` = market regulator)
2          entity type code (e.g. ``1`` = enterprise)
3-8        administrative division code (GB/T 2260, ``45....`` = Guangxi)
9-17       organisation code (GB 11714: 8 characters + its own check)
18         check character (weighted sum modulo 31)
=========  ======================================================

The characters are ``0-9`` and the 21 capital letters that cannot be confused
with digits (no I, O, S, V, Z).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "Frame",
    "as_columns",
    "as_flags",
    "check_code_types",
    "join_labels",
    "stratum_labels",
    "uscc_check_character",
    "valid_uscc",
]

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = np.array([pow(3, i, 31) for i in range(17)], dtype=np.int64)
# byte value -> code value (-1 for characters outside the alphabet)
_CODE = np.full(256, -1, dtype=np.int64)
for _k, _c in enumerate(USCC_ALPHABET):
    _CODE[ord(_c)] = _k
_ORG_WEIGHTS = np.array([3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
_ORG_VALUE = np.full(256, -1, dtype=np.int64)
for _k, _c in enumerate("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"):
    _ORG_VALUE[ord(_c)] = _k


def _as_bytes(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return an (n, 18) matrix of character codes and a mask of rows with 18 ASCII chars.

    Vectorised: the strings become a fixed-width unicode array viewed as code points.
    """
    # missing values become "None"/"nan" and fail the length check
    text = np.asarray(codes).ravel().astype("U19")  # 19: longer strings stay detectable
    all_points = text.view(np.uint32).reshape(-1, 19)
    ok = (all_points[:, :18] != 0).all(axis=1) & (all_points[:, 18] == 0)
    points = all_points[:, :18]
    ok &= (points < 128).all(axis=1)
    return np.where(points < 256, points, 0).astype(np.uint8), ok


def uscc_check_character(first17: str) -> str:
    """Check character (18th position) of a unified social credit code.

    Parameters
    ----------
    first17 : str
        The first 17 characters of the code.

    Returns
    -------
    str
        The check character from ``0-9A-HJ-NPQRTUWXY``.

    Examples
    --------
    >>> uscc_check_character("91450100MA5KA1B2C")
    'M'
    """
    if len(first17) != 17 or any(c not in USCC_ALPHABET for c in first17):
        from survey.errors import FrameError

        raise FrameError(
            f"uscc_check_character needs 17 characters from {USCC_ALPHABET!r}, got {first17!r}"
        )
    values = np.array([USCC_ALPHABET.index(c) for c in first17], dtype=np.int64)
    check = (31 - int(values @ _USCC_WEIGHTS) % 31) % 31
    return USCC_ALPHABET[check]


def org_check_character(first8: str) -> str:
    """Check character of a GB 11714 organisation code from its first 8 characters."""
    values = np.array([int(c, 36) for c in first8], dtype=np.int64)
    check = (11 - int(values @ _ORG_WEIGHTS) % 11) % 11
    return "X" if check == 10 else str(check)


def valid_uscc(codes: Any) -> Any:
    """Check unified social credit codes (GB 32100-2015).

    A code is valid when it has 18 characters from the USCC alphabet, its
    administrative division part is 6 digits, and its 18th character equals
    the weighted-sum check character.

    Parameters
    ----------
    codes : str or array-like of str
        One code or many (list, array, pandas Series).

    Returns
    -------
    bool or numpy.ndarray of bool
        ``bool`` for a single string, otherwise a boolean array of the same
        length (vectorised, no Python loop over the check arithmetic).

    Examples
    --------
    >>> valid_uscc("91450100MA5KA1B2CM")
    True
    >>> valid_uscc(["91450100MA5KA1B2CM", "91450100MA5KA1B2C0"]).tolist()
    [True, False]
    """
    scalar = isinstance(codes, str)
    mat, ok = _as_bytes(np.atleast_1d(np.asarray(codes, dtype=object)))
    values = _CODE[mat]
    ok &= (values >= 0).all(axis=1)
    ok &= ((mat[:, 2:8] >= ord("0")) & (mat[:, 2:8] <= ord("9"))).all(axis=1)
    weighted = (values[:, :17].astype(np.float64) @ _USCC_WEIGHTS.astype(np.float64)).astype(np.int64)
    expected = (31 - weighted % 31) % 31
    ok &= values[:, 17] == expected
    return bool(ok[0]) if scalar else ok


# ---------------------------------------------------------------------------
# The sampling frame
# ---------------------------------------------------------------------------


def _rows_text(index: pd.Index, positions: np.ndarray, limit: int = 5) -> str:
    """Describe offending rows by their index labels, ``limit`` at most."""
    labels = [repr(x) if isinstance(x, str) else str(x) for x in index[positions[:limit]]]
    more = f" and {positions.size - limit} more" if positions.size > limit else ""
    return ", ".join(labels) + more


_TRUE = frozenset({"y", "yes", "true", "t", "1", "1.0", "是", "对", "√"})
_FALSE = frozenset({"n", "no", "false", "f", "0", "0.0", "否", "不是", "×", ""})


def as_flags(values: Any, column: str, *, missing: bool | None = False) -> np.ndarray:
    """A yes/no column as booleans: bool, 0/1, or text Y/N, 是/否, true/false, yes/no, 1/0.

    Text is read case-insensitively with surrounding spaces ignored; anything
    else is refused, naming the column, the values and the rows (a text flag
    ``"N"`` must never count as true, as ``bool("N")`` would).

    Parameters
    ----------
    values : array-like or pandas.Series
    column : str
        Name of the column in messages.
    missing : bool or None, default=False
        Value of missing cells; ``None`` refuses them.

    Returns
    -------
    numpy.ndarray of bool

    Raises
    ------
    FrameError
        A value is not a yes/no value (or missing with ``missing=None``).

    Examples
    --------
    >>> as_flags(["Y", "n", " 是 ", "否", "TRUE", "0", None], "above_size").tolist()
    [True, False, True, False, True, False, False]
    >>> as_flags(["Y", "maybe"], "above_size")
    Traceback (most recent call last):
    ...
    survey.errors.FrameError: column 'above_size' must hold yes/no values (Y/N, 是/否, true/false, 1/0); 1 value(s) are not, e.g. 'maybe' in row 1
    """
    from survey.errors import FrameError

    series = values if isinstance(values, pd.Series) else pd.Series(values)
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.fillna(bool(missing)).to_numpy(dtype=bool)
    na = series.isna().to_numpy()
    if na.any() and missing is None:
        raise FrameError(f"column {column!r}: {int(na.sum())} missing yes/no value(s), rows "
                         f"{_rows_text(series.index, np.flatnonzero(na))}; fill them")
    if pd.api.types.is_numeric_dtype(series.dtype):
        numbers = series.to_numpy(dtype=float, na_value=np.nan)
        bad = np.flatnonzero(~na & ~np.isin(numbers, (0.0, 1.0)))
        text = None
    else:
        text = series.astype(str).str.strip().str.lower().to_numpy(dtype=object)
        known = np.isin(text, list(_TRUE | _FALSE))
        bad = np.flatnonzero(~na & ~known)
    if bad.size:
        shown = series.iloc[bad[0]]
        raise FrameError(
            f"column {column!r} must hold yes/no values (Y/N, 是/否, true/false, 1/0); "
            f"{bad.size} value(s) are not, e.g. {shown!r} in row "
            f"{_rows_text(series.index, bad)}")
    out = (numbers == 1.0) if text is None else np.isin(text, list(_TRUE))
    out[na] = bool(missing)
    return out


def check_code_types(values: pd.Series, column: str, role: str = "code") -> None:
    """Refuse a code column that mixes text and numbers whose printed forms collide.

    An Excel column often holds the code ``450102`` as a number in some rows
    and as the text ``"450102"`` in others; grouped as they are, they would be
    two strata or domains instead of one. A column of one type, or of mixed
    types without such pairs, passes.

    Parameters
    ----------
    values : pandas.Series
    column : str
        Name of the column in messages.
    role : str, default="code"
        What the column is (``"stratum"``, ``"domain"``, ``"cluster"``).

    Raises
    ------
    ColumnError
        Naming the column, the colliding values and a row of each.

    Examples
    --------
    >>> check_code_types(pd.Series(["450102", 450102, "450103"]), "county", "domain")
    Traceback (most recent call last):
    ...
    survey.errors.ColumnError: domain column 'county' mixes text and numbers that print alike: '450102' (text, row 0) and 450102 (number, row 1); the rows would be counted as different domains. Make the column one type (e.g. text: df['county'] = df['county'].astype(str))
    """
    from survey.errors import ColumnError

    if values.dtype != object:
        return
    kind = pd.api.types.infer_dtype(values, skipna=True)
    if kind not in ("mixed", "mixed-integer", "mixed-integer-float"):
        return
    is_text = values.map(lambda v: isinstance(v, str), na_action="ignore").fillna(False).to_numpy(dtype=bool)
    if not is_text.any() or is_text.all():
        return
    def printed(v: Any) -> str:
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v).strip()
    forms = values.map(printed, na_action="ignore")
    text_forms = pd.Series(forms[is_text].to_numpy(), index=np.flatnonzero(is_text))
    other = ~is_text & values.notna().to_numpy()
    other_forms = pd.Series(forms[other].to_numpy(), index=np.flatnonzero(other))
    common = set(text_forms) & set(other_forms)
    if common:
        key = sorted(common)[0]
        i = int(text_forms.index[text_forms.to_numpy() == key][0])
        j = int(other_forms.index[other_forms.to_numpy() == key][0])
        raise ColumnError(
            f"{role} column {column!r} mixes text and numbers that print alike: "
            f"{values.iloc[i]!r} (text, row {values.index[i]}) and {values.iloc[j]!r} (number, "
            f"row {values.index[j]}){f' and {len(common) - 1} more' if len(common) > 1 else ''}; "
            f"the rows would be counted as different {role}s. Make the column one type (e.g. "
            f"text: df[{column!r}] = df[{column!r}].astype(str))")


def as_columns(columns: str | Sequence[str] | None) -> tuple[str, ...]:
    """Column names as a tuple: ``None`` -> ``()``, ``"a"`` -> ``("a",)``.

    Examples
    --------
    >>> as_columns("county"), as_columns(["city", "industry"]), as_columns(None)
    (('county',), ('city', 'industry'), ())
    """
    if columns is None:
        return ()
    if isinstance(columns, str):
        return (columns,)
    return tuple(columns)


def join_labels(data: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """``"a/b/c"`` labels of the combinations of ``columns`` (the label of a stratum
    defined by several register columns), built once per group (vectorised).

    Examples
    --------
    >>> df = pd.DataFrame({"city": ["Yulin", "Yulin", "Wuzhou"], "industry": [4215, 2110, 4215]})
    >>> join_labels(df, ["city", "industry"]).tolist()
    ['Yulin/4215', 'Yulin/2110', 'Wuzhou/4215']
    """
    columns = list(columns)
    if len(columns) == 1:
        return data[columns[0]].astype(str).to_numpy(dtype=object)
    grouped = data.groupby(columns, sort=False, observed=True, dropna=False)
    codes = grouped.ngroup().to_numpy()
    keys = grouped.size().reset_index()[columns].astype(str)
    labels = keys[columns[0]].to_numpy(dtype=object)
    for c in columns[1:]:
        labels = labels + "/" + keys[c].to_numpy(dtype=object)
    return labels[codes]


def stratum_labels(data: pd.DataFrame, columns: Sequence[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """Integer stratum codes ``0 .. H-1`` (in sorted label order) and one row of labels per
    stratum (the columns and their joined ``stratum`` label; one stratum ``"all"`` without
    columns).

    Raises
    ------
    SelectionError
        A stratum code is missing.

    Examples
    --------
    >>> df = pd.DataFrame({"h": ["b", "a", "b"]})
    >>> codes, labels = stratum_labels(df, ["h"])
    >>> codes.tolist(), labels["stratum"].tolist()
    ([1, 0, 1], ['a', 'b'])
    """
    from survey.errors import SelectionError

    columns = tuple(columns)
    if not columns:
        return np.zeros(len(data), dtype=np.intp), pd.DataFrame({"stratum": ["all"]})
    for column in columns:
        check_code_types(data[column], column, "stratum")
    if len(columns) == 1:
        codes, uniques = pd.factorize(data[columns[0]], sort=True)
        labels = pd.DataFrame({columns[0]: np.asarray(uniques)})
    else:
        grouped = data.groupby(list(columns), sort=True, observed=True, dropna=False)
        codes = grouped.ngroup().to_numpy()
        labels = grouped.size().reset_index()[list(columns)]
    if np.any(codes < 0):
        bad = np.flatnonzero(codes < 0)[:5]
        raise SelectionError(
            f"select: missing stratum codes in {list(columns)} at rows "
            f"{data.index[bad].tolist()}; code or drop them"
        )
    labels = labels.copy()
    if len(columns) == 1:
        labels["stratum"] = labels[columns[0]].astype(str)
    else:
        labels["stratum"] = join_labels(labels, columns)
    return codes.astype(np.intp), labels


@dataclass(frozen=True, kw_only=True, eq=False)
class Frame:
    """A checked register used as sampling frame.

    The constructor checks the register and raises :class:`~survey.errors.FrameError`
    listing the offending rows (by index label) when a unit id is missing or
    duplicated, a size is missing, negative or not finite, a stratum code is
    missing, or a code is outside its code list. The data are never changed:
    methods return new frames or new tables.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per unit.
    id : str, default="firm_id"
        Column of unit ids (unique, not missing).
    size : str or None, default=None
        Column of the size measure (finite and >= 0), e.g. ``"revenue_prev_year"``.
    strata : str, sequence of str or None, default=None
        Column(s) whose combinations define strata (not missing).
    codes : mapping of column to collection, default=None
        Allowed values of coded columns, e.g. ``{"county": county_codes}``.
    check_ids : bool or None, default=None
        Check that every unit id is a valid USCC (:func:`valid_uscc`):
        ``True`` always, ``False`` never, ``None`` (default) when the ids have
        the USCC's form (18 characters of digits and capital letters), so a
        mistyped check character is caught where the register enters.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"firm_id": ["a", "b", "c"], "size": [5.0, 1.0, 2.0],
    ...                    "county": ["X", "X", "Y"]})
    >>> frame = Frame(df, id="firm_id", size="size", strata="county")
    >>> frame.counts()
      county  N
    0      X  2
    1      Y  1
    >>> frame.totals(["size"]).loc[0, "size"]
    np.float64(6.0)
    """

    data: pd.DataFrame = field(kw_only=False)
    id: str = "firm_id"
    size: str | None = None
    strata: str | tuple[str, ...] | None = None
    codes: Mapping[str, Collection[Any]] | None = None
    check_ids: bool | None = None

    def __post_init__(self) -> None:
        from survey.errors import ColumnError, FrameError

        if not isinstance(self.data, pd.DataFrame):
            raise FrameError(f"Frame needs a pandas DataFrame, got {type(self.data).__name__}")
        # a shallow copy (copy-on-write): later changes to the caller's frame do not reach us
        object.__setattr__(self, "data", self.data.copy(deep=False))
        if self.strata is not None and not isinstance(self.strata, str):
            object.__setattr__(self, "strata", tuple(self.strata))
        data = self.data
        needed = [self.id, *(as_columns(self.size)), *self.strata_columns, *(self.codes or {})]
        missing = [c for c in needed if c not in data.columns]
        if missing:
            raise ColumnError(
                f"Frame: column(s) {missing} not in the register; available: {list(data.columns)}"
            )
        ids = data[self.id]
        bad = np.flatnonzero(ids.isna().to_numpy())
        if bad.size:
            raise FrameError(
                f"Frame: {bad.size} missing unit id(s) in column {self.id!r}, rows "
                f"{_rows_text(data.index, bad)}; give every unit an id."
            )
        dup = np.flatnonzero(ids.duplicated(keep=False).to_numpy())
        if dup.size:
            shown = ", ".join(
                f"{data.index[i]!r} ({ids.iloc[i]!r})" for i in dup[:5]
            ) + (f" and {dup.size - 5} more" if dup.size > 5 else "")
            raise FrameError(
                f"Frame: duplicate unit ids in column {self.id!r}: rows {shown}; "
                "merge or remove the duplicates."
            )
        check = self.check_ids
        if check is None:  # ids shaped like USCCs are checked
            text = ids.astype(str)
            check = bool(len(text)) and bool(text.str.fullmatch(r"[0-9A-Z]{18}").all())
        if check:
            ok = valid_uscc(ids.astype(str).to_numpy())
            bad = np.flatnonzero(~ok)
            if bad.size:
                raise FrameError(
                    f"Frame: {bad.size} invalid USCC id(s) in column {self.id!r}, rows "
                    f"{_rows_text(data.index, bad)}; correct them or use check_ids=False."
                )
        if self.size is not None:
            col = data[self.size]
            if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
                raise ColumnError(
                    f"Frame: size column {self.size!r} must be numeric, it has dtype {col.dtype}"
                )
            values = col.to_numpy(dtype=float, na_value=np.nan)
            bad = np.flatnonzero(~np.isfinite(values))
            if bad.size:
                raise FrameError(
                    f"Frame: {bad.size} missing or infinite size value(s) in column "
                    f"{self.size!r}, rows {_rows_text(data.index, bad)}; impute a size or "
                    "drop those units."
                )
            bad = np.flatnonzero(values < 0)
            if bad.size:
                raise FrameError(
                    f"Frame: {bad.size} negative size value(s) in column {self.size!r}, rows "
                    f"{_rows_text(data.index, bad)}; sizes must be >= 0."
                )
        for column in self.strata_columns:
            bad = np.flatnonzero(data[column].isna().to_numpy())
            if bad.size:
                raise FrameError(
                    f"Frame: {bad.size} missing stratum code(s) in column {column!r}, rows "
                    f"{_rows_text(data.index, bad)}; code them (e.g. 'unknown') or drop them."
                )
        for column, allowed in (self.codes or {}).items():
            allowed_list = list(allowed)
            bad = np.flatnonzero(~data[column].isin(allowed_list).to_numpy())
            if bad.size:
                values = pd.unique(data[column].iloc[bad[:50]])[:5]
                raise FrameError(
                    f"Frame: {bad.size} unknown code(s) in column {column!r} (e.g. "
                    f"{list(values)}), rows {_rows_text(data.index, bad)}; allowed codes are "
                    f"{allowed_list[:10]}{' ...' if len(allowed_list) > 10 else ''}."
                )

    # -- basic properties ---------------------------------------------------
    @property
    def strata_columns(self) -> tuple[str, ...]:
        """Stratum columns as a tuple (empty when there are no strata)."""
        return as_columns(self.strata)

    @property
    def N(self) -> int:
        """Number of units."""
        return len(self.data)

    def size_values(self) -> np.ndarray:
        """Size measure as a float array (a :class:`FrameError` if no size column).

        Examples
        --------
        >>> import pandas as pd
        >>> Frame(pd.DataFrame({"firm_id": [1, 2], "s": [3, 4]}), size="s").size_values()
        array([3., 4.])
        """
        from survey.errors import FrameError

        if self.size is None:
            raise FrameError("Frame has no size column; build it with Frame(data, size=...)")
        return self.data[self.size].to_numpy(dtype=float)

    def stratum_codes(self) -> tuple[np.ndarray, pd.DataFrame]:
        """Integer stratum code per unit and the table of stratum labels.

        Returns
        -------
        codes : numpy.ndarray of int
            Stratum of each unit, ``0 .. H-1`` in sorted label order.
        labels : pandas.DataFrame
            One row per stratum with the stratum columns.

        Examples
        --------
        >>> import pandas as pd
        >>> f = Frame(pd.DataFrame({"firm_id": [1, 2, 3], "h": ["b", "a", "b"]}), strata="h")
        >>> codes, labels = f.stratum_codes()
        >>> codes.tolist(), labels["h"].tolist()
        ([1, 0, 1], ['a', 'b'])
        """
        columns = list(self.strata_columns)
        if not columns:
            return np.zeros(self.N, dtype=np.intp), pd.DataFrame(index=range(1))
        grouped = self.data.groupby(columns, sort=True, observed=True, dropna=False)
        codes = grouped.ngroup().to_numpy(dtype=np.intp)
        labels = grouped.size().reset_index()[columns]
        return codes, labels

    # -- tables -------------------------------------------------------------
    def counts(self, by: str | Sequence[str] | None = None) -> pd.DataFrame:
        """Number of units ``N`` per group (default: per stratum).

        Parameters
        ----------
        by : str, sequence of str or None, default=None
            Grouping columns; ``None`` uses the frame's strata.

        Returns
        -------
        pandas.DataFrame
            The grouping columns and ``N``.

        Examples
        --------
        >>> import pandas as pd
        >>> f = Frame(pd.DataFrame({"firm_id": [1, 2, 3], "h": ["b", "a", "b"]}), strata="h")
        >>> f.counts()["N"].tolist()
        [1, 2]
        """
        return self.totals([], by=by)

    def totals(
        self, columns: Sequence[str], *, by: str | Sequence[str] | None = None
    ) -> pd.DataFrame:
        """Auxiliary totals (and counts ``N``) per group, for calibration or planning.

        Parameters
        ----------
        columns : sequence of str
            Numeric columns to total (missing values count as 0).
        by : str, sequence of str or None, default=None
            Grouping columns; ``None`` uses the frame's strata (or the whole frame).

        Returns
        -------
        pandas.DataFrame
            The grouping columns, ``N`` and one column per total.

        Examples
        --------
        >>> import pandas as pd
        >>> f = Frame(pd.DataFrame({"firm_id": [1, 2, 3], "x": [1.0, 2.0, 4.0]}))
        >>> f.totals(["x"])
           N    x
        0  3  7.0
        """
        from survey.errors import ColumnError

        columns = list(as_columns(columns))
        by_columns = list(self.strata_columns if by is None else as_columns(by))
        unknown = [c for c in [*columns, *by_columns] if c not in self.data.columns]
        if unknown:
            raise ColumnError(f"Frame.totals: unknown column(s) {unknown}")
        values = self.data[columns].astype(float).fillna(0.0) if columns else None
        if not by_columns:
            out = {"N": [self.N]}
            for c in columns:
                out[c] = [float(values[c].sum())]
            return pd.DataFrame(out)
        grouped = self.data.groupby(by_columns, sort=True, observed=True, dropna=False)
        out = grouped.size().rename("N").reset_index()
        if columns:
            sums = values.groupby([self.data[c] for c in by_columns], sort=True, observed=True,
                                  dropna=False).sum().reset_index(drop=True)
            out = pd.concat([out, sums], axis=1)
        return out

    def margins(self, counts: Sequence[str] = (), totals: Sequence[str] = ()
                ) -> dict[str, Any]:
        """Calibration margins from the register: the count of units in each category of
        every column of ``counts``, and the total of every column of ``totals``, in the
        form :meth:`survey.Survey.calibrate` takes.

        Examples
        --------
        >>> import pandas as pd
        >>> f = Frame(pd.DataFrame({"firm_id": [1, 2, 3], "h": ["b", "a", "b"],
        ...                         "x": [1.0, 2.0, 4.0]}))
        >>> f.margins(counts=["h"], totals=["x"])
        {'h': {'a': 1.0, 'b': 2.0}, 'x': 7.0}
        """
        out: dict[str, Any] = {}
        for column in counts:
            n = self.counts(by=column)
            out[column] = dict(zip(n[column], n["N"].astype(float), strict=True))
        if totals:
            sums = self.totals(list(totals), by=[])
            out.update({column: float(sums[column].iloc[0]) for column in totals})
        return out

    # -- derived frames -------------------------------------------------------
    def with_prn(self, *, seed: int | np.random.Generator | None, column: str = "prn") -> Frame:
        """A new frame with permanent random numbers (uniform on [0, 1)) in ``column``.

        PRNs are drawn once for the register and kept from period to period;
        new units get new PRNs (:meth:`with_prn` only fills missing values of an
        existing column).

        Parameters
        ----------
        seed : int, numpy.random.Generator or None
            Seed of the PRN stream (record it with the register).
        column : str, default="prn"
            Column that holds the PRNs.

        Examples
        --------
        >>> import pandas as pd
        >>> f = Frame(pd.DataFrame({"firm_id": [1, 2, 3]})).with_prn(seed=1)
        >>> bool(f.data["prn"].between(0, 1).all())
        True
        """
        rng = np.random.default_rng(seed)
        data = self.data.copy(deep=False)
        if column in data.columns:
            old = data[column].to_numpy(dtype=float, na_value=np.nan)
            fill = np.isnan(old)
            new = old.copy()
            new[fill] = rng.random(int(fill.sum()))
        else:
            new = rng.random(len(data))
        data[column] = new
        return Frame(data, id=self.id, size=self.size, strata=self.strata, codes=self.codes)

    def subset(self, mask: Any) -> Frame:
        """A new frame with the rows where ``mask`` is true.

        Examples
        --------
        >>> import pandas as pd
        >>> f = Frame(pd.DataFrame({"firm_id": [1, 2, 3], "s": [1, 5, 9]}), size="s")
        >>> f.subset(f.data["s"] > 2).N
        2
        """
        mask = np.asarray(mask, dtype=bool)
        return Frame(self.data.loc[mask], id=self.id, size=self.size, strata=self.strata,
                     codes=self.codes)

    def __repr__(self) -> str:
        return (f"Frame(N={self.N}, id={self.id!r}, size={self.size!r}, "
                f"strata={self.strata!r})")
