"""The year panel: from the ledger's returns to complete panels, one year at a time.

A quarter's returns are year-to-date values, so a bureau edits and imputes
a firm's quarters of the year together. The two functions of this module
take an open :class:`~survey.returns.ledger.Ledger` and the quarters to
process, record what they decide in the ledger (who: ``author``; why: a
reason naming the library function) and return documented objects:

* :func:`edit_panel`: unit errors corrected (ledger revisions marked
  ``edited``), edit rules checked, values failing a hard rule set aside,
  falling year-to-date pairs decided against the firm's path; returns an
  :class:`EditOutcome`.
* :func:`impute_panel`: deduced values (births, closures), ratio-of-means
  imputation within classes (merged where a class has no link), bounded so
  that no quarter of a non-negative indicator is negative, imputed values
  written to the ledger, quarter values derived; returns a
  :class:`PanelImputation`.

Both start from :func:`returned_frame`: the ledger's values *as returned*
(and corrected), values imputed by an earlier run being missing again, so
editing and imputing a ledger a second time gives the same panels.

Items follow the ledger's naming: ``{var}_ytd``, ``{var}_ytd_last_year``,
``{var}_marker``, ``{var}_ytd_last_year_marker``, ``{var}_ytd_previous``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from survey.errors import ImputationError, SurveyWarning
from survey.io import member
from survey.periods import (
    parse_quarter,
    previous_quarter,
    previous_values,
    quarterly_from_ytd,
    shift_quarter,
    ytd_to_quarters,
)
from survey.returns.detect import cumulative_conflicts, detect_unit_errors
from survey.returns.impute import ratio_of_means
from survey.returns.rules import check

__all__ = [
    "ACCEPTED_MARKERS",
    "IMPUTED_MARKERS",
    "EditOutcome",
    "Lifecycle",
    "PanelImputation",
    "deduce_values",
    "edit_panel",
    "impute_panel",
    "returned_frame",
]

#: Markers of values the imputation wrote (no returns).
IMPUTED_MARKERS = ("forward_imputed", "backward_imputed", "constructed")
#: Markers of accepted values: returned as sent, or corrected by editing.
ACCEPTED_MARKERS = ("returned", "edited")

_ASIDE = ["firm_id", "period", "item", "rule"]
_UNIT_ERRORS = ["firm_id", "period", "column", "value", "reference", "reference_column",
                "ratio", "corrected"]
_FAILURES = ["firm_id", "rule", "severity", "expression", "values", "period"]
_CONFLICTS = ["firm_id", "period", "item", "rule", "value", "marker", "against_period",
              "against_value", "score", "against_score"]


@dataclass(frozen=True, kw_only=True)
class Lifecycle:
    """How the register tells a firm's birth and closure in the register year.

    Parameters
    ----------
    column : str
        Register column of the status (e.g. ``"status"``).
    born : str
        Value of a firm born this year: it had nothing last year.
    closed : str
        Value of a firm closed during the year: no figures after its closure.
    activity : str or None, default=None
        Flow indicator whose zero quarter shows the closure (e.g.
        ``"gross_output"``); ``None``: closures are not deduced.

    Examples
    --------
    >>> Lifecycle(column="status", born="new", closed="dead", activity="gross_output").closed
    'dead'
    """

    column: str
    born: str
    closed: str
    activity: str | None = None


@dataclass(frozen=True, kw_only=True, eq=False)
class EditOutcome:
    """What :func:`edit_panel` found and did.

    Attributes
    ----------
    unit_errors : pandas.DataFrame
        Values corrected as unit errors (``period`` plus the columns of
        :class:`survey.returns.detect.UnitErrors` ``flags``); each one is a
        ledger revision with marker ``edited``.
    failures : pandas.DataFrame
        The failure table of the edit rules after the corrections
        (``period`` plus the columns of :class:`survey.returns.rules.EditReport`);
        ``{var}_ytd_previous`` is the latest accepted earlier value of the
        year.
    set_aside : pandas.DataFrame
        ``firm_id, period, item, rule``: values failing a hard rule (the
        rule's first item; for a falling year-to-date value, the value of
        the pair judged wrong), left out and imputed.
    conflicts : pandas.DataFrame
        The falling year-to-date pairs and how each was decided
        (:func:`survey.returns.detect.cumulative_conflicts`).
    revisions : list of survey.returns.ledger.RevisionReport
        The ledger revisions of the unit-error corrections.

    Examples
    --------
    >>> import pandas as pd
    >>> EditOutcome(unit_errors=pd.DataFrame(), failures=pd.DataFrame(),
    ...             set_aside=pd.DataFrame(columns=["firm_id", "period", "item", "rule"])).revisions
    []
    """

    unit_errors: pd.DataFrame
    failures: pd.DataFrame
    set_aside: pd.DataFrame
    conflicts: pd.DataFrame = field(default_factory=pd.DataFrame)
    revisions: list = field(default_factory=list)


@dataclass(frozen=True, kw_only=True, eq=False)
class PanelImputation:
    """What :func:`impute_panel` returns.

    Attributes
    ----------
    panels : dict of str to pandas.DataFrame
        Per part (the keys of ``classes``, e.g. ``"take_all"``, ``"sample"``):
        one row per firm and period with ``responded``, ``{var}_ytd``,
        ``{var}_ytd_last_year``, quarter values ``{var}`` and
        ``{var}_last_year``, ``{var}_marker`` and boolean ``{var}_imputed``.
    conflicts : pandas.DataFrame
        The falling year-to-date pairs met while imputing and how each was
        decided (rule ``{var}_quarter_nonnegative``).

    Examples
    --------
    >>> import pandas as pd
    >>> PanelImputation(panels={"sample": pd.DataFrame()}, conflicts=pd.DataFrame()).panels.keys()
    dict_keys(['sample'])
    """

    panels: dict
    conflicts: pd.DataFrame


def _years(periods: Sequence[str]) -> dict[int, list[str]]:
    """The quarters of each year, in time order."""
    ordered = sorted(set(periods), key=parse_quarter)
    years: dict[int, list[str]] = {}
    for p in ordered:
        years.setdefault(parse_quarter(p)[0], []).append(p)
    return years


def _stack(parts: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)


def _among(frame: pd.DataFrame, cells: pd.DataFrame) -> np.ndarray:
    """Which rows of ``frame`` have the ``firm_id, period`` of a row of ``cells`` (as text)."""
    def keys(f: pd.DataFrame) -> pd.Series:
        return f["firm_id"].astype("str") + "\x1f" + f["period"].astype("str")
    return member(keys(frame), keys(cells))


# ---------------------------------------------------------------------------
# the ledger's frame as returned
# ---------------------------------------------------------------------------
def returned_frame(ledger: Any, period: str, *, cache: dict[str, pd.DataFrame] | None = None
                   ) -> pd.DataFrame:
    """The ledger's wide frame of a period as returned (and corrected).

    Values the imputation wrote earlier are no returns, so they are missing
    again (``{var}_marker`` ``"missing"``), and ``{var}_ytd_previous`` and
    the quarter values are derived from the returned values only. Editing
    and imputing a ledger a second time therefore starts from the same
    frame as the first time.

    Parameters
    ----------
    ledger : survey.returns.ledger.Ledger
        An open ledger.
    period : str
        The quarter (``"2006Q3"``); the quarters before it in the same year
        are read too (for ``_previous`` values and quarter values).
    cache : dict or None, default=None
        Frames already built, by period (filled by the call).

    Returns
    -------
    pandas.DataFrame
        :meth:`~survey.returns.ledger.Ledger.to_frame` with earlier
        imputations removed, plus ``{var}``, ``{var}_last_year`` (quarter
        values) and ``{var}_ytd_previous`` per indicator; empty when the
        period has no values.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from survey.form import DEMO_FORM
    >>> from survey.returns.ledger import Ledger
    >>> with Ledger.open(pathlib.Path(tempfile.mkdtemp()) / "l.duckdb", form=DEMO_FORM) as ledger:
    ...     returned_frame(ledger, "2006Q1").empty
    True
    """
    cache = {} if cache is None else cache
    if period in cache:
        return cache[period]
    with warnings.catch_warnings():  # its warnings are reported by the edit rules
        warnings.simplefilter("ignore", SurveyWarning)
        frame = ledger.to_frame(period)
    if frame.empty:
        cache[period] = frame
        return frame
    cells = ledger.current(period, markers=IMPUTED_MARKERS)
    indicators = [c.removesuffix("_marker") for c in frame.columns
                  if c.endswith("_marker") and f"{c.removesuffix('_marker')}_ytd" in frame.columns]
    if len(cells):
        firm = frame["firm_id"].astype("str")
        out = frame.copy()
        for item, rows in cells.groupby("item", sort=False):
            if item not in out.columns:
                continue
            hit = member(firm, rows["firm_id"].astype("str"))
            out[item] = out[item].mask(hit)
            var = item.removesuffix("_ytd")
            if item.endswith("_ytd") and var in indicators:
                out[f"{var}_marker"] = out[f"{var}_marker"].mask(hit, "missing")
        frame = out
    previous = previous_quarter(period, same_year=True)
    prev = returned_frame(ledger, previous, cache=cache) if previous is not None else None
    if prev is not None and prev.empty:
        prev = None
    if not len(cells) and (prev is None or prev is cache.get(f"{previous} as read")) and (
            set(indicators) == set(ledger.indicators)
            and all(ledger.form.previous(v) == f"{v}_ytd_previous" for v in indicators)):
        # nothing masked here or in the quarter before: to_frame's quarter values and
        # ``_previous`` values are already those of the returned values
        cache[period] = cache[f"{period} as read"] = frame
        return frame
    frame = ytd_to_quarters(frame, prev, variables=indicators,
                            stocks=[s for s in ledger.form.stocks if s in indicators]).frame
    for name, values in previous_values(frame, prev, {
            f"{var}_ytd_previous": f"{var}_ytd" for var in indicators}).items():
        frame[name] = values
    cache[period] = frame
    return frame


# ---------------------------------------------------------------------------
# edit
# ---------------------------------------------------------------------------
def _mask(panel: pd.DataFrame, cells: pd.DataFrame) -> pd.DataFrame:
    """The panel with the values of ``cells`` (``firm_id, period, item``) missing."""
    if not len(cells):
        return panel
    out = panel.copy()
    for item, rows in cells.groupby("item"):
        if item in out.columns:
            out[item] = out[item].mask(_among(panel, rows))
    return out


def _latest_accepted(panel: pd.DataFrame, item: str, aside: pd.DataFrame) -> np.ndarray:
    """Per row of a one-year panel sorted by firm and period: the latest value of ``item``
    in an earlier quarter of the same firm that was not set aside (NaN if none)."""
    values = panel[item].to_numpy(dtype=float, na_value=np.nan)
    if len(aside):
        rows = aside[aside["item"] == item]
        values = np.where(_among(panel, rows), np.nan, values)
    codes = pd.factorize(panel["firm_id"])[0]  # the firms numbered once for both groupings
    firm = np.where(codes >= 0, codes, np.nan)  # (a missing id in no group, as groupby's)
    filled = pd.Series(values).groupby(firm, sort=False).ffill()
    return filled.groupby(firm, sort=False).shift(1).to_numpy(dtype=float, na_value=np.nan)


def _hard_failures(report: Any, period: str, hard: Mapping[str, str],
                   skip: Sequence[str] = ()) -> pd.DataFrame:
    """``firm_id, period, item, rule`` of the hard failures of an edit report."""
    failures = report.failures
    bad = failures[(failures["severity"] == "hard") & ~failures["rule"].isin(list(skip))]
    return pd.DataFrame({"firm_id": bad["firm_id"].to_numpy(), "period": period,
                         "item": bad["rule"].map(hard).to_numpy(), "rule": bad["rule"].to_numpy()})


def edit_panel(ledger: Any, periods: Sequence[str], rules: Sequence[Any], *,
               indicators: Sequence[str], money: Sequence[str], nonnegative: Sequence[str],
               size: str | None = None, register_scale: Sequence[str] = (),
               employees: str | None = None, by: str | None = None,
               author: str) -> EditOutcome:
    """Correct unit errors as ledger revisions and check the edit rules, a year at a time.

    The returns of each year's quarters are edited together (as a bureau
    re-edits the year to date when a new quarter arrives; only returned or
    corrected values are edited, earlier imputations are redone):

    1. unit errors: values about 1000 times too large (reported in yuan)
       are found with :func:`survey.returns.detect.detect_unit_errors` on the
       year's panel (references: last year, the firm's other quarters, the
       register size, employees, class medians), divided by 1000 and
       recorded as ledger revisions (marker ``edited``; why: the references
       that showed the error);
    2. the rules without ``_previous`` items; a value failing a *hard* rule
       (the rule's first item, e.g. ``export_delivery_ytd`` in
       ``export_delivery_ytd <= gross_output_ytd``) is set aside;
    3. cumulative values of the ``nonnegative`` indicators with a hard
       "not below the previous quarter" rule: a year-to-date value is
       compared with the latest accepted value of an earlier quarter, and
       of a falling pair the value that leaves the firm's path is set aside
       (:func:`survey.returns.detect.cumulative_conflicts`), which may be the
       earlier one. Steps 2 and 3 decide each other (a fallen gross output
       is no reason to blame export delivery for exceeding it): two rounds
       reach the fixed point;
    4. the other rules with ``_previous`` items, against the latest
       accepted earlier value.

    Parameters
    ----------
    ledger : survey.returns.ledger.Ledger
        The open ledger (written: the unit-error revisions).
    periods : sequence of str
        The quarters to edit (any order; grouped by year).
    rules : sequence of survey.returns.rules.Rule
        The edit rules (e.g. :func:`survey.returns.rules.default_rules`).
    indicators : sequence of str
        Indicators of the form (items ``{var}_ytd``); only their returned or
        corrected values are edited.
    money : sequence of str
        Indicators checked for unit errors.
    nonnegative : sequence of str
        Indicators whose year-to-date values cannot fall.
    size, employees : str or None, default=None
        Register size column and employees item, references of the
        unit-error check (skipped when ``None`` or not in the panel).
    register_scale : sequence of str, default=()
        Indicators on the scale of the register size (e.g. output, sales and
        revenue when ``size`` is last year's revenue; see
        :func:`survey.returns.detect.detect_unit_errors`).
    by : str or None, default=None
        Class column of the unit-error check's class medians.
    author : str
        Who the ledger records as the author of the revisions.

    Returns
    -------
    EditOutcome

    Examples
    --------
    >>> from survey.pipeline.demo import demo_result
    >>> outcome = demo_result().edits  # edit_panel on the demo's ledger (run once)
    >>> len(outcome.unit_errors) > 0, set(outcome.failures["severity"]) <= {"hard", "soft"}
    (True, True)
    """
    hard = {r.name: r.variables[0] for r in rules if r.severity == "hard"}
    cumulative = [v for v in indicators if v in nonnegative and any(
        r.severity == "hard" and set(r.variables) == {f"{v}_ytd", f"{v}_ytd_previous"}
        for r in rules)]
    plain = [r for r in rules if not any(x.endswith("_previous") for x in r.variables)]
    previous_rules = [r for r in rules if r not in plain]
    unit_errors, failures, set_aside, conflicts, revisions = [], [], [], [], []
    empty = pd.DataFrame(columns=_ASIDE)
    for quarters in _years(periods).values():
        cache: dict[str, pd.DataFrame] = {}
        frames = [f for f in (returned_frame(ledger, p, cache=cache) for p in quarters)
                  if not f.empty]
        if not frames:
            continue
        panel = pd.concat(frames, ignore_index=True).sort_values(
            ["firm_id", "period"], ignore_index=True)
        for var in indicators:  # earlier imputations are no returns
            if f"{var}_ytd" in panel.columns and f"{var}_marker" in panel.columns:
                returned = panel[f"{var}_marker"].isin(ACCEPTED_MARKERS).to_numpy()
                panel[f"{var}_ytd"] = panel[f"{var}_ytd"].where(returned)
        found = detect_unit_errors(
            panel, list(money), register=size if size in panel.columns else None,
            register_scale=register_scale, size=employees, by=by)
        if len(found.flags):
            for period, flags in found.flags.groupby("period", sort=True):
                fix = flags.pivot_table(index="firm_id", columns="column", values="corrected",
                                        aggfunc="first").reset_index()
                fix.columns.name = None
                revisions.append(ledger.revise(
                    fix, str(period), author=author, marker="edited",
                    reason=f"unit error: reported in yuan, divided by {found.factor:g} "
                           "(survey.returns.detect.detect_unit_errors: median ratio to last year, the "
                           "firm's other quarters, register size and employees)"))
            unit_errors.append(found.flags)
        corrected = found.corrected
        pairs = cumulative_conflicts(corrected.iloc[:0], cumulative)
        for _ in range(2):
            masked = _mask(corrected, pairs)
            reports = {str(p): check(rows, plain, skip_missing_columns=True)
                       for p, rows in masked.groupby("period", sort=True)}
            first = pd.concat([empty, *(_hard_failures(r, p, hard) for p, r in reports.items())],
                              ignore_index=True)
            pairs = cumulative_conflicts(corrected, cumulative, exclude=first)
        failures.extend(r.failures.assign(period=p) for p, r in reports.items())
        conflicts.append(pairs)
        decided = [first, pairs[_ASIDE]]
        # the rules on earlier quarters see the latest accepted earlier value
        latest = corrected.copy()
        for var in indicators:
            if f"{var}_ytd" in latest.columns:
                latest[f"{var}_ytd_previous"] = _latest_accepted(latest, f"{var}_ytd", first)
        for period, rows in latest.groupby("period", sort=True):
            report = check(rows, previous_rules, skip_missing_columns=True)
            failures.append(report.failures.assign(period=str(period)))
            decided.append(_hard_failures(report, str(period), hard,
                                          skip=[f"{v}_cumulative" for v in cumulative]))
        set_aside.append(pd.concat(decided, ignore_index=True))
    return EditOutcome(
        unit_errors=_stack(unit_errors, _UNIT_ERRORS),
        failures=_stack(failures, _FAILURES),
        set_aside=_stack(set_aside, _ASIDE).drop_duplicates(
            ["firm_id", "period", "item"]).reset_index(drop=True),
        conflicts=_stack(conflicts, _CONFLICTS),
        revisions=revisions,
    )


# ---------------------------------------------------------------------------
# impute
# ---------------------------------------------------------------------------
def deduce_values(data: pd.DataFrame, variables: Sequence[str], periods: Sequence[str],
                  lifecycle: Lifecycle, *, stocks: Sequence[str] = ()) -> pd.DataFrame:
    """Values known without a return (deductive edits, marker ``edited``, not imputed).

    * A firm born in the register year (``lifecycle.born``) had nothing last
      year: its missing ``{var}_ytd_last_year`` values are 0.
    * A firm closed during the year (``lifecycle.closed``) has no figures
      after its closure: once an accepted year-to-date value of
      ``lifecycle.activity`` shows a zero quarter (equal to the accepted
      value of the quarter before, or 0 in a first quarter), its missing
      year-to-date values of later quarters stay at the latest accepted
      value (quarter values 0). Before the closure is seen, its values are
      imputed like any other.

    Stocks are left alone. Without the status column nothing changes.

    Parameters
    ----------
    data : pandas.DataFrame
        One year's panel (``firm_id, period``, the status column, items).
    variables : sequence of str
    periods : sequence of str
        The quarters of the panel.
    lifecycle : Lifecycle
    stocks : sequence of str, default=()
        Indicators that are stocks.

    Returns
    -------
    pandas.DataFrame
        ``data`` (same row order) with the deduced values and markers.

    Examples
    --------
    >>> import pandas as pd
    >>> panel = pd.DataFrame({"firm_id": ["a"], "period": ["2006Q1"], "status": ["new"],
    ...     "y_ytd": [5.0], "y_marker": ["returned"], "y_ytd_last_year": [float("nan")],
    ...     "y_ytd_last_year_marker": ["missing"]})
    >>> life = Lifecycle(column="status", born="new", closed="dead")
    >>> deduce_values(panel, ["y"], ["2006Q1"], life)[["y_ytd_last_year", "y_ytd_last_year_marker"]]
       y_ytd_last_year y_ytd_last_year_marker
    0              0.0                 edited
    """
    def before(p: str) -> str | None:
        return None if parse_quarter(p)[1] == 1 else shift_quarter(p, -1)

    column = lifecycle.column
    if column not in data.columns or data.empty:
        return data
    out = data.copy(deep=False)  # the columns set below replace the copy's, never data's
    status = out[column].astype("str").to_numpy()
    born, closed = status == lifecycle.born, status == lifecycle.closed
    flows = [v for v in variables if v not in stocks]
    for v in flows:
        item, marker = f"{v}_ytd_last_year", f"{v}_ytd_last_year_marker"
        if item not in out.columns:
            continue
        values = out[item].to_numpy(dtype=float, na_value=np.nan)
        had = (out[marker].to_numpy(dtype=object) if marker in out.columns
               else np.where(np.isfinite(values), "returned", "missing"))
        fill = born & ~np.isfinite(values)
        out[item] = np.where(fill, 0.0, values)
        out[marker] = pd.array(np.where(fill, "edited", had), dtype="str")
    accepted = {v: np.where(out[f"{v}_marker"].isin(ACCEPTED_MARKERS).to_numpy(),
                            out[f"{v}_ytd"].to_numpy(dtype=float, na_value=np.nan), np.nan)
                for v in flows if f"{v}_ytd" in out.columns and f"{v}_marker" in out.columns}
    activity = lifecycle.activity
    if activity not in accepted or not closed.any():
        return out.sort_index()
    firm = out["firm_id"].astype("str").to_numpy()
    keys = pd.MultiIndex.from_arrays([firm, out["period"].astype("str")])
    earlier = out["period"].map({p: before(p) for p in periods})
    inside = earlier.isin(list(periods)).to_numpy()
    prior = pd.MultiIndex.from_arrays([firm, earlier.astype("str")])
    level = accepted[activity]
    previous = pd.Series(level, index=keys).reindex(prior).to_numpy()
    first = earlier.isna().to_numpy()
    zero = (first & (level == 0)) | (inside & np.isfinite(previous) & (level == previous))
    # the running steps go through each firm's quarters in order: permute the arrays, not the frame
    order = np.lexsort((out["period"].astype("str").to_numpy(), firm))
    back = np.empty_like(order)
    back[order] = np.arange(len(order))
    seen = pd.Series((closed & zero)[order]).groupby(firm[order], sort=False).cummax() \
        .to_numpy(dtype=bool)[back]
    for v, values in accepted.items():
        last = pd.Series(values[order]).groupby(firm[order], sort=False).ffill() \
            .to_numpy(dtype=float)[back]
        fill = seen & ~np.isfinite(values) & np.isfinite(last)
        if fill.any():
            out[f"{v}_ytd"] = np.where(fill, last, out[f"{v}_ytd"].to_numpy(dtype=float,
                                                                            na_value=np.nan))
            out[f"{v}_marker"] = pd.array(np.where(fill, "edited",
                                                   out[f"{v}_marker"].to_numpy(dtype=object)),
                                          dtype="str")
    return out.sort_index()


def _previous_from_panel(panel: pd.DataFrame, periods: Sequence[str]) -> pd.DataFrame:
    """``{var}_ytd_previous``: the accepted value of the previous quarter in the panel itself
    (NaN when it was imputed or set aside), for the rows whose previous quarter is in the
    panel; the same whether the ledger was imputed before or not."""
    before = panel["period"].map({p: previous_quarter(p, same_year=True) for p in periods})
    inside = before.isin(list(periods)).to_numpy()
    firm = panel["firm_id"].astype("str")
    keys = pd.MultiIndex.from_arrays([firm, panel["period"].astype("str")])
    prior = pd.MultiIndex.from_arrays([firm, before.astype("str")])
    where = keys.get_indexer(prior)  # the row of the previous quarter (-1: none)
    out = panel.copy()
    for column in [c for c in panel.columns if c.endswith("_ytd_previous")]:
        item = column.removesuffix("_previous")
        if item not in panel.columns:
            continue
        values = panel[item].to_numpy(dtype=float, na_value=np.nan)
        var = item.removesuffix("_ytd")
        if f"{var}_marker" in panel.columns:
            values = np.where(panel[f"{var}_marker"].isin(ACCEPTED_MARKERS).to_numpy(), values,
                              np.nan)
        values = np.where(where >= 0, values[np.maximum(where, 0)], np.nan) if len(values) \
            else values
        out[column] = np.where(inside, values, panel[column].to_numpy(dtype=float, na_value=np.nan))
    return out


def _impute(data: pd.DataFrame, item: str, *, by: Any, auxiliary: str | None, marker: str,
            cumulative: bool = False) -> pd.DataFrame:
    """Ratio-of-means imputation in the given classes; where a class has no link (no
    returned units, or all zero), the classes are merged (the whole part), as the
    library's error advises."""
    try:
        return ratio_of_means(data, item, by=by, auxiliary=auxiliary, marker=marker,
                              cumulative=cumulative).data
    except ImputationError:
        if by is None:
            raise
        return ratio_of_means(data, item, by=None, auxiliary=auxiliary, marker=marker,
                              cumulative=cumulative).data


def _falling(jobs: Sequence[tuple[str, str, str, pd.DataFrame]]) -> list[pd.DataFrame]:
    """The falling year-to-date pairs of each ``(var, item, marker, frame)`` (``item`` a
    ``{var}_ytd`` or last-year column of ``frame``; the frames have the same rows), judged
    by one :func:`~survey.returns.detect.cumulative_conflicts` call (an item a variable)."""
    if not jobs:
        return []
    view = {"firm_id": jobs[0][3]["firm_id"].to_numpy(), "period": jobs[0][3]["period"].to_numpy()}
    for k, (var, item, marker, data) in enumerate(jobs):
        view[f"x{k}_ytd"] = data[item].to_numpy(dtype=float, na_value=np.nan)
        view[f"x{k}_marker"] = data[marker].to_numpy(dtype=object)
        if item == f"{var}_ytd" and f"{var}_ytd_last_year" in data.columns:
            view[f"x{k}_ytd_last_year"] = data[f"{var}_ytd_last_year"].to_numpy(
                dtype=float, na_value=np.nan)
    pairs = cumulative_conflicts(pd.DataFrame(view), [f"x{k}" for k in range(len(jobs))])
    items = pairs["item"].to_numpy(dtype=object) if len(pairs) else np.array([], dtype=object)
    return [pairs[items == f"x{k}_ytd"].reset_index(drop=True).assign(
        item=item, rule=f"{var}_quarter_nonnegative") for k, (var, item, _, _) in enumerate(jobs)]


def _impute_items(data: pd.DataFrame, jobs: Sequence[tuple[str, str, str]],
                  nonnegative: Sequence[str], *, by: Any, auxiliary: str | None
                  ) -> tuple[dict[str, pd.DataFrame], list[pd.DataFrame]]:
    """Impute each ``(var, item, marker)`` of a part, each from its own columns (an item's
    frame: ids, periods, classes, auxiliary, the item, its marker, and last year's value
    for a ``{var}_ytd``); the year-to-date items of ``nonnegative`` indicators so that no
    quarter value is negative.

    First pass: plain ratio-of-means imputation; a returned value that falls below
    the value before it (returned or imputed) or above the one after it is judged
    against the firm's path (:func:`survey.returns.detect.cumulative_conflicts`). Returned
    values judged wrong are set aside; imputed ones are redone. Second pass:
    imputation with the cumulative bounds (``ratio_of_means(cumulative=True)``).
    Returns the imputed frame of each item and the pairs decided (per bounded item)."""
    base = [c for c in dict.fromkeys(["firm_id", "period", *(
        [] if by is None else [by] if isinstance(by, str) else by),
        *([auxiliary] if auxiliary else [])]) if c in data.columns]
    own = {item: data[list(dict.fromkeys([*base, *(
        c for c in (item, marker, f"{var}_ytd_last_year") if c in data.columns)]))]
        for var, item, marker in jobs}
    done = {item: _impute(own[item], item, by=by, auxiliary=auxiliary, marker=marker)
            for _, item, marker in jobs}
    bounded = [(var, item, marker) for var, item, marker in jobs if var in nonnegative]
    decided = _falling([(var, item, marker, done[item]) for var, item, marker in bounded])
    for (_, item, marker), pairs in zip(bounded, decided, strict=True):
        wrong = pairs[pairs["marker"].isin(ACCEPTED_MARKERS).to_numpy()]
        spoiled = own[item]
        if len(wrong):
            hit = _among(spoiled, wrong)
            spoiled = spoiled.assign(**{item: spoiled[item].mask(hit)})
            if marker in spoiled.columns:
                spoiled[marker] = spoiled[marker].mask(hit, "missing")
        done[item] = _impute(spoiled, item, by=by, auxiliary=auxiliary, marker=marker,
                             cumulative=True)
    for (_, item, _), left in zip(bounded, _falling(
            [(var, item, marker, done[item]) for var, item, marker in bounded]), strict=True):
        if len(left):  # pragma: no cover - the bounds make this impossible
            row = left.iloc[0]
            raise ImputationError(
                f"{item} of {row['firm_id']} falls in {row['period']} after imputation "
                f"({row['value']:g} after {row['against_value']:g}); check its returns")
    return done, decided


def _classes(by: str | Sequence[str] | None, columns: pd.Index) -> Any:
    """The class columns, or ``None`` (all merged) when one is not in the panel."""
    if by is None:
        return None
    names = [by] if isinstance(by, str) else list(by)
    if not names or any(c not in columns for c in names):
        return None
    return by if isinstance(by, str) else names


def impute_panel(ledger: Any, periods: Sequence[str], set_aside: pd.DataFrame, *,
                 variables: Sequence[str], classes: Mapping[str, str | Sequence[str] | None],
                 auxiliary: str | None, nonnegative: Sequence[str] = (),
                 lifecycle: Lifecycle | None = None, stocks: Sequence[str] = (),
                 part: str = "part", author: str) -> PanelImputation:
    """Impute missing values by ratio of means, record them in the ledger, derive quarters.

    For each year, the panel of the year's quarters (:func:`returned_frame`,
    with the ``set_aside`` values missing) is split by ``part`` and each part
    is imputed with :func:`survey.returns.impute.ratio_of_means` (forward,
    backward, construction from ``auxiliary``) within its classes; where a
    class has no link, the classes of the part are merged. Imputation never
    starts from a value set aside. :func:`deduce_values` fills what the
    register's ``lifecycle`` tells first.

    Hard rule on the derived quarter values: a ``nonnegative`` indicator has
    no negative quarter, this year or last year. After a first imputation,
    an accepted year-to-date value below the value of the quarter before it
    (returned or imputed) is decided against the firm's path
    (:func:`survey.returns.detect.cumulative_conflicts`): a value judged wrong
    is set aside (rule ``{var}_quarter_nonnegative``), and the imputation is
    redone with cumulative bounds (``cumulative=True``), so imputed values
    stay between the returns around them. Imputed values are written to
    the ledger with their markers; quarter values come from
    :func:`survey.periods.quarterly_from_ytd`.

    Parameters
    ----------
    ledger : survey.returns.ledger.Ledger
        The open ledger (written: the imputed values).
    periods : sequence of str
        The quarters (any order; grouped by year).
    set_aside : pandas.DataFrame
        ``firm_id, period, item``: values not to use (e.g.
        :attr:`EditOutcome.set_aside`).
    variables : sequence of str
        Indicators to impute (items ``{var}_ytd`` and ``{var}_ytd_last_year``).
    classes : mapping of str to str, list of str or None
        Per value of the ``part`` column (e.g. ``{"take_all": "industry",
        "sample": ["city"]}``): the imputation classes of that part
        (``None``: one class). Rows of other parts are left out.
    auxiliary : str or None
        Register column for constructed values (e.g. ``"revenue_prev_year"``).
    nonnegative : sequence of str, default=()
        Indicators whose quarter values cannot be negative.
    lifecycle : Lifecycle or None, default=None
        Births and closures (:func:`deduce_values`); ``None``: none deduced.
    stocks : sequence of str, default=()
        Indicators that are stocks.
    part : str, default="part"
        Column of the register snapshot that splits the panel.
    author : str
        Who the ledger records as the author of the imputed values.

    Returns
    -------
    PanelImputation

    Examples
    --------
    >>> from survey.pipeline.demo import demo_result
    >>> panel = demo_result().take_all  # impute_panel on the demo's ledger (run once)
    >>> bool(panel[["gross_output", "export_delivery", "profit_tax"]].notna().all(axis=None))
    True
    >>> sorted(panel["gross_output_marker"].unique())
    ['backward_imputed', 'edited', 'forward_imputed', 'returned']
    >>> bool((panel[["gross_output", "export_delivery"]] >= 0).all(axis=None))
    True
    """
    panels: dict[str, list[pd.DataFrame]] = {name: [] for name in classes}
    decided: list[pd.DataFrame] = []
    for quarters in _years(periods).values():
        cache: dict[str, pd.DataFrame] = {}
        panel = pd.concat([returned_frame(ledger, p, cache=cache) for p in quarters],
                          ignore_index=True)
        markers = panel[[f"{v}_marker" for v in variables]].isin(ACCEPTED_MARKERS)
        panel["responded"] = markers.any(axis=1).to_numpy()
        if len(set_aside):
            keys = pd.MultiIndex.from_frame(panel[["firm_id", "period"]])
            for item, rows in set_aside.groupby("item"):
                if item not in panel.columns:
                    continue
                hit = keys.isin(pd.MultiIndex.from_frame(rows[["firm_id", "period"]]))
                panel[item] = panel[item].mask(hit)
                var = item.removesuffix("_ytd")
                if item.endswith("_ytd") and f"{var}_marker" in panel.columns:
                    panel[f"{var}_marker"] = panel[f"{var}_marker"].mask(hit, "missing")
        for name, by in classes.items():
            data = panel[panel[part].to_numpy() == name].reset_index(drop=True)
            if lifecycle is not None:
                data = deduce_values(data, variables, quarters, lifecycle, stocks=stocks)
            if data.empty:
                continue
            jobs = [(v, item, f"{v}_marker" if item.endswith("_ytd") else f"{item}_marker")
                    for v in variables for item in (f"{v}_ytd", f"{v}_ytd_last_year")]
            done, pairs = _impute_items(data, jobs, nonnegative, by=_classes(by, data.columns),
                                        auxiliary=auxiliary)
            decided.extend(pairs)
            for v, item, marker in jobs:
                data[item], data[marker] = done[item][item].to_numpy(), done[item][marker].array
                if item.endswith("_ytd_last_year"):
                    data[f"{v}_imputed"] = data[f"{v}_marker"].isin(IMPUTED_MARKERS).to_numpy()
            records = {"firm_id": data["firm_id"].to_numpy()}  # the imputed values
            for _, item, marker in jobs:
                imputed = data[marker].isin(IMPUTED_MARKERS).to_numpy()
                records[item] = np.where(imputed, data[item].to_numpy(dtype=float,
                                                                       na_value=np.nan), np.nan)
                records[f"{item}_marker"] = data[marker].to_numpy()
            records, of = pd.DataFrame(records), data["period"].to_numpy(dtype=object)
            for period in sorted(set(of)):
                record = records[of == period].reset_index(drop=True)
                ledger.revise(record, str(period), author=author, marker=None,
                              reason="ratio-of-means imputation of missing and set-aside "
                                     "values, within the cumulative bounds "
                                     "(survey.returns.impute.ratio_of_means)")
            panels[name].append(quarterly_from_ytd(_previous_from_panel(data, quarters),
                                                   list(variables)))
    return PanelImputation(
        panels={name: pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
                for name, frames in panels.items()},
        conflicts=_stack(decided, _CONFLICTS))
