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

from collections.abc import Sequence

import numpy as np
import pandas as pd

from survey.estimation.combined import require_columns

__all__ = ["observed_units", "smallest_inputs"]


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
    data = observed[np.isfinite(x) & (x > 0)]
    code = (data.groupby(byl, sort=True, observed=True).ngroup().to_numpy(dtype=np.intp)
            if byl else np.zeros(len(data), dtype=np.intp))
    order = np.lexsort((data[size].to_numpy(dtype=float), code))
    first = np.concatenate(([0], np.cumsum(np.bincount(code, minlength=code.max() + 1 if len(code) else 0))))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order)) - first[code[order]]
    return data[rank < int(smallest)]
