"""The units the cut-off model of the take-none part is fitted on.

A quarter's take-none firms (below the cut-off, not surveyed) are predicted by
:func:`survey.estimation.combined.cutoff_model` from a model fitted on units whose
values were *observed*: :func:`observed_units` gathers them for one period (returned,
nothing imputed), :func:`smallest_inputs` keeps the smallest of each model group (the
units nearest the take-none part, where the ratio is most like theirs). The cycle calls
both once per period and fits the model for every breakdown on the same rows.

Examples
--------
>>> import pandas as pd
>>> a = pd.DataFrame({"g": ["a", "a"], "x": [3.0, 1.0], "y": [4.0, 2.0],
...                   "responded": [True, True], "y_imputed": [False, True]})
>>> b = pd.DataFrame({"g": ["a", "b"], "x": [2.0, 9.0], "y": [2.5, 10.0],
...                   "responded": [True, False], "y_imputed": [False, False]})
>>> obs = observed_units([a, b], ["y"])
>>> smallest_inputs(obs, size="x", by="g", smallest=1)[["g", "x"]].values.tolist()
[['a', 2.0]]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from survey.errors import ColumnError
from survey.estimation.combined import cutoff_model, require_columns

__all__ = ["TakeNoneModel", "observed_units", "smallest_inputs"]


def observed_units(parts: Sequence[pd.DataFrame], variables: Sequence[str], *,
                   responded: str = "responded", imputed_suffix: str = "_imputed"
                   ) -> pd.DataFrame:
    """Units whose values were returned: respondents with none of ``variables`` imputed.

    A unit counts when its ``responded`` flag is true and, for each variable ``v`` (or
    its year to date ``v_ytd``), its flag ``{v}{imputed_suffix}`` (when the column exists)
    is false; a missing flag counts as not responded / imputed.

    Parameters
    ----------
    parts : sequence of pandas.DataFrame
        The units of one period (for example the take-all panel's rows of the period and
        the sample's data), stacked in this order.
    variables : sequence of str
    responded : str, default="responded"
    imputed_suffix : str, default="_imputed"

    Returns
    -------
    pandas.DataFrame
        The observed rows (index reset).

    Examples
    --------
    >>> import pandas as pd
    >>> units = pd.DataFrame({"responded": [True, True, False], "y_imputed": [False, True, False]})
    >>> len(observed_units([units], ["y_ytd"]))
    1
    """
    frame = pd.concat(list(parts), ignore_index=True)
    require_columns(frame, [responded], "the observed units")
    ok = frame[responded].fillna(False).to_numpy(dtype=bool).copy()
    for v in variables:
        flag = f"{v.removesuffix('_ytd')}{imputed_suffix}"
        if flag in frame.columns:
            ok &= ~frame[flag].fillna(True).to_numpy(dtype=bool)
    return frame[ok].reset_index(drop=True)


def smallest_inputs(observed: pd.DataFrame, *, size: str, by: str | Sequence[str] | None = None,
                    smallest: int = 30) -> pd.DataFrame:
    """The ``smallest`` observed units of each group by ``size``: the inputs of a cut-off
    model fitted on the units nearest the take-none part.

    Units without a positive, finite size are left out.

    Parameters
    ----------
    observed : pandas.DataFrame
        Units with returned values (:func:`observed_units`).
    size : str
        Register size column.
    by : str or list of str, optional
        Model groups.
    smallest : int, default=30

    Returns
    -------
    pandas.DataFrame
        The chosen rows (original index kept).

    Examples
    --------
    >>> obs = pd.DataFrame({"g": ["a", "a", "a", "b"], "x": [3.0, 1.0, 2.0, 9.0]})
    >>> smallest_inputs(obs, size="x", by="g", smallest=2)["x"].tolist()
    [1.0, 2.0, 9.0]
    """
    byl = [by] if isinstance(by, str) else list(by or [])
    require_columns(observed, [size, *byl], "the observed units")
    x = observed[size].to_numpy(dtype=float, na_value=np.nan)
    usable = np.isfinite(x) & (x > 0)
    data = observed.loc[usable, list(dict.fromkeys([*byl, size]))]  # all columns taken once, at the end
    code = (data.groupby(byl, sort=True, observed=True).ngroup().to_numpy(dtype=np.intp)
            if byl else np.zeros(len(data), dtype=np.intp))
    order = np.lexsort((data[size].to_numpy(dtype=float), code))
    first = np.concatenate(([0], np.cumsum(np.bincount(code, minlength=code.max() + 1 if len(code) else 0))))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order)) - first[code[order]]
    usable[usable] = rank < int(smallest)
    return observed[usable]


class TakeNoneModel:
    """The take-none part of every period and breakdown, fitted once per period.

    The ``model`` argument of :func:`survey.quarterly.series.breakdown_totals`: called
    with a period, its weighted sample, the variables and the breakdown columns, it
    returns the cut-off model's prediction of the take-none firms of the period's year
    (:func:`survey.estimation.combined.cutoff_model`, with its model variance). The model
    inputs of a period are chosen once and shared by every breakdown
    (:meth:`inputs`): the ``smallest`` observed units of each model group among the
    take-all rows of the period, the sample and the ``typical`` rows when given
    (:func:`observed_units`, :func:`smallest_inputs`), or the ``census`` rows of the
    period.

    Parameters
    ----------
    take_none : mapping of int to pandas.DataFrame
        The take-none firms of each year (register rows: ``auxiliary``, ``by`` and the
        breakdown columns); a year without them (or none) has no model part (``None``).
    variables : sequence of str
        The variables whose returned values make a unit observed.
    auxiliary : str
        Register size column of the ratio (or regression).
    take_all : pandas.DataFrame, optional
        The take-all panel (column ``period``).
    typical : pandas.DataFrame, optional
        The typical units' panel, used as inputs too (column ``period``).
    census : pandas.DataFrame, optional
        Fit on these rows of each period (column ``period``) instead of the smallest
        observed units.
    by : str or list of str, optional
        Model groups (one ratio per group).
    smallest : int, default=30
    model : {"ratio", "regression"}, default="ratio"

    Examples
    --------
    >>> import pandas as pd
    >>> from types import SimpleNamespace
    >>> ta = pd.DataFrame({"period": "2006Q4", "x": [10.0, 20.0], "y": [20.0, 40.0],
    ...                    "responded": True})
    >>> s = SimpleNamespace(data=pd.DataFrame({"x": [5.0], "y": [10.0], "responded": [True]}))
    >>> part = TakeNoneModel({2006: pd.DataFrame({"x": [1.0, 2.0]})}, ["y"], auxiliary="x",
    ...                      take_all=ta)
    >>> float(part("2006Q4", s, ["y"]).table()["estimate"].iloc[0])  # ratio 2 times 3
    6.0
    >>> part("2007Q1", s, ["y"]) is None  # no take-none firms that year
    True
    """

    def __init__(self, take_none: Mapping[int, pd.DataFrame], variables: Sequence[str], *,
                 auxiliary: str, take_all: pd.DataFrame | None = None,
                 typical: pd.DataFrame | None = None, census: pd.DataFrame | None = None,
                 by: str | Sequence[str] | None = None, smallest: int = 30,
                 model: str = "ratio") -> None:
        self.take_none = {int(y): rows for y, rows in take_none.items()}
        self.variables, self.auxiliary = list(variables), auxiliary
        self.take_all, self.typical, self.census = take_all, typical, census
        self.by = [by] if isinstance(by, str) else list(by or [])
        self.smallest, self.model = int(smallest), model
        self._inputs: dict[str, pd.DataFrame] = {}

    def inputs(self, period: str, survey: Any) -> pd.DataFrame:
        """The rows the model of ``period`` is fitted on (chosen once, then kept).

        Examples
        --------
        >>> import pandas as pd
        >>> from types import SimpleNamespace  # a survey.Survey: its data
        >>> s = SimpleNamespace(data=pd.DataFrame({"x": [5.0, 1.0], "y": [10.0, 3.0],
        ...                                        "responded": [True, False]}))
        >>> TakeNoneModel({}, ["y"], auxiliary="x").inputs("2006Q4", s)["x"].tolist()
        [5.0]
        """
        if period not in self._inputs:
            self._inputs[period] = self._choose(period, survey)
        return self._inputs[period]

    def _choose(self, period: str, survey: Any) -> pd.DataFrame:
        if self.census is not None:
            require_columns(self.census, ["period"], "the census of the take-none model")
            rows = self.census[self.census["period"].astype(str) == period]
            if rows.empty:
                raise ColumnError(f"the census of the take-none model has no rows for {period}")
            return rows.reset_index(drop=True)
        parts = [] if self.take_all is None else [
            self.take_all[self.take_all["period"] == period]]
        parts.append(survey.data)
        if self.typical is not None:
            parts.append(self.typical[self.typical["period"] == period])
        return smallest_inputs(observed_units(parts, self.variables), size=self.auxiliary,
                               by=self.by or None, smallest=self.smallest)

    def __call__(self, period: str, survey: Any, variables: Sequence[str],
                 by: Sequence[str] | Mapping[str, Sequence[str] | None] | None = None) -> Any:
        """The take-none part of ``period`` by ``by`` (``None``: no take-none firms); a
        mapping of breakdowns gives a dict of parts by name, from one call of the model.

        Examples
        --------
        >>> TakeNoneModel({}, ["y"], auxiliary="x")("2006Q4", None, ["y"]) is None
        True
        """
        rows = self.take_none.get(int(period[:4]))
        if rows is None or rows.empty:
            return dict.fromkeys(by) if isinstance(by, Mapping) else None
        return cutoff_model(self.inputs(period, survey), rows, list(variables),
                            auxiliary=self.auxiliary, by=by, model_by=self.by or None,
                            model=self.model, inputs="census" if self.census is not None
                            else "smallest observed units")
