"""SamplePlan: the three-part design of an enterprise survey, and its config runners.

A plan splits the register into

* a **take-all** part (full reporting: firms above the designated size, or
  above a statistical cut-off), one stratum ``"take-all"`` with ``n = N``;
* a **take-some** part, stratified by register columns (e.g. city x
  industry) and size classes, and sampled with a Bethel-Chromy allocation
  meeting CV targets per variable and domain;
* an optional **take-none** part (units below a cut-off) that is not
  surveyed; its contribution is estimated from a model with register
  auxiliaries and labelled as such.

:func:`run_plan` and :func:`run_select` take the ``[plan]`` section of the
survey's TOML configuration (a dict) and write the plan and the sample;
``docs/planning.md`` lists the keys.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from survey.errors import AllocationError, ColumnError, ConfigError, PlanError, SelectionError
from survey.plan.allocation import Allocation, allocate_multivariate
from survey.plan.keyunits import cell_codes, key_unit_mask, typical_mask
from survey.plan.selection import Selection, permanent_random_numbers, select
from survey.plan.spec import PlanSpec
from survey.plan.stratify import (
    Stratification,
    boundaries,
    designated_size,
    take_all_cutoff,
)
from survey.register.frame import Frame, as_columns, join_labels

__all__ = [
    "TAKE_ALL",
    "PlanSummary",
    "SamplePlan",
    "design_plan",
    "plan_from_config",
    "read_register",
    "run_plan",
    "run_select",
    "write_sample",
]

TAKE_ALL = "take-all"
PARTS = ("take_all", "sample", "take_none")


@dataclass(frozen=True, kw_only=True, eq=False)
class PlanSummary:
    """Text and HTML rendering of a plan (rendering never changes the plan)."""

    parts: pd.DataFrame
    targets: pd.DataFrame
    lines: tuple[str, ...]

    def __str__(self) -> str:
        out = list(self.lines)
        out.append("")
        out.append(self.parts.to_string(index=False))
        if len(self.targets):
            out.append("")
            out.append("Expected CV by target (worst domain):")
            out.append(self.targets.to_string(index=False))
        return "\n".join(out)

    def _repr_html_(self) -> str:
        head = "".join(f"<p>{line}</p>" for line in self.lines)
        return head + self.parts.to_html(index=False) + self.targets.to_html(index=False)

    def __repr__(self) -> str:
        return str(self)


@dataclass(frozen=True, kw_only=True, eq=False)
class SamplePlan:
    """A sample plan: take-all, take-some (allocated) and take-none parts.

    Attributes
    ----------
    frame : Frame
        The register with added columns ``part`` (``"take_all"``,
        ``"sample"``, ``"take_none"``), ``size_class`` and ``stratum``
        (label; ``"take-all"`` for the take-all part, empty for take-none).
    allocation : Allocation
        Sample sizes for the take-all and take-some strata.
    stratification : Stratification or None
        The size-class boundaries (``None`` with one size class).
    settings : dict
        The choices that made the plan (for the record and the exports),
        with the resolved columns and the derived take-all threshold and
        size bounds.
    spec : PlanSpec or None
        The specification the plan was designed from.
    """

    frame: Frame
    allocation: Allocation
    stratification: Stratification | None
    settings: dict = field(default_factory=dict)
    spec: PlanSpec | None = None

    @property
    def n(self) -> int:
        """Total sample size (take-all included)."""
        return self.allocation.n_total

    def table(self) -> pd.DataFrame:
        """Per stratum: N, n, take-all flag, response rate, variance shares.

        Examples
        --------
        >>> plan = _example_plan()
        >>> plan.table()[["stratum", "N", "n", "take_all"]]
            stratum   N  n  take_all
        0     north  30  2     False
        1     south  27  2     False
        2  take-all   3  3      True
        """
        return self.allocation.table()

    def expected_cv(self) -> pd.DataFrame:
        """Expected CV of every target (variable x domain) under the plan.

        Examples
        --------
        >>> bool(_example_plan().expected_cv()["met"].all())
        True
        """
        return self.allocation.expected_cv()

    def summary(self) -> PlanSummary:
        """Parts of the plan (N, n, share of the size total) and the worst CV per target.

        Examples
        --------
        >>> print(_example_plan().summary())  # doctest: +ELLIPSIS
        Sample plan: 3 strata, n = ...
        """
        data = self.frame.data
        size = self.settings.get("size")
        table = self.allocation.table()
        n_by_stratum = dict(zip(table["stratum"], table["n"]))
        rows = []
        total_size = float(data[size].sum()) if size else np.nan
        for part in PARTS:
            sub = data[data["part"] == part]
            if part == "take_none":
                n = 0
            else:
                n = int(sum(n_by_stratum.get(s, 0) for s in pd.unique(sub["stratum"])))
            rows.append({"part": part, "N": len(sub), "n": n,
                         "size_share": float(sub[size].sum()) / total_size if size else np.nan})
        parts = pd.DataFrame(rows)
        cv = self.expected_cv()
        if len(cv):
            worst = (cv.sort_values("expected_cv", ascending=False)
                     .groupby(["variable", "domain_type"], sort=False).head(1)
                     [["variable", "domain_type", "domain", "target_cv", "expected_cv", "met"]]
                     .sort_values(["variable", "domain_type"]).reset_index(drop=True))
        else:
            worst = cv
        first = (f"Sample plan: {len(table)} strata, n = {self.n} of N = {len(data)} units "
                 f"({int(self.allocation.take_all.sum())} take-all strata)")
        second = (f"size variable: {size}; stratified by {self.settings.get('strata')} and "
                  f"{self.settings.get('size_strata')} size class(es) "
                  f"({self.settings.get('boundary_method')})")
        lines = (first, second)
        return PlanSummary(parts=parts, targets=worst, lines=lines)

    def select(
        self,
        *,
        seed: int | np.random.Generator | None = None,
        method: str = "srswor",
        rotation: float = 0.0,
        period: int = 0,
        start: float = 0.0,
    ) -> Selection:
        """Select the sample: every take-all unit plus the allocated take-some units.

        Parameters
        ----------
        seed : int, numpy.random.Generator or None, default=None
            Seed of the draw (recorded in the result). PRNs come from the
            frame's ``prn`` column (see :func:`design_plan`).
        method : {"srswor", "systematic", "pps_systematic", "poisson", "pareto", \
"sequential_poisson"}, default="srswor"
            Selection within take-some strata (pps methods use the plan's
            size column; the allocation assumed SRSWOR).
        rotation, period, start
            PRN rotation and coordination (see :func:`survey.plan.select`).

        Returns
        -------
        Selection
            ``Selection.data`` goes straight into :class:`survey.Survey` with
            ``Selection.design()``.

        Examples
        --------
        >>> sel = _example_plan().select(seed=1)
        >>> sel.data.groupby("stratum")["design_weight"].first().round(2).tolist()
        [15.0, 13.5, 1.0]
        """
        data = self.frame.data
        typical = (data["typical"].to_numpy(dtype=bool) if "typical" in data.columns
                   else np.zeros(len(data), dtype=bool))
        covered = data[(data["part"] != "take_none").to_numpy() & ~typical]
        table = self.allocation.table()
        selection = select(covered, table[["stratum", "n"]], method=method, strata="stratum",
                           size=self.settings.get("size"), prn="prn", seed=seed,
                           rotation=rotation, period=period, start=start)
        return _with_typical(selection, data, typical) if typical.any() else selection

    # -- export ---------------------------------------------------------------
    def to_csv(self, folder: str | Path) -> list[Path]:
        """Write ``plan_strata.csv``, ``plan_expected_cv.csv``, ``plan_summary.txt``
        and ``plan_settings.json`` into ``folder``; return the paths.

        Examples
        --------
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     [p.name for p in _example_plan().to_csv(d)]
        ['plan_strata.csv', 'plan_expected_cv.csv', 'plan_summary.txt', 'plan_settings.json']
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = [folder / "plan_strata.csv", folder / "plan_expected_cv.csv",
                 folder / "plan_summary.txt", folder / "plan_settings.json"]
        from survey.io import write_table

        write_table(self.table(), paths[0])
        write_table(self.expected_cv(), paths[1])
        paths[2].write_text(str(self.summary()) + "\n", encoding="utf-8")
        paths[3].write_text(json.dumps(self.settings, indent=2, default=str), encoding="utf-8")
        return paths

    def to_excel(self, path: str | Path) -> Path:
        """Write the plan to an Excel workbook (sheets ``summary``, ``strata``,
        ``expected_cv``, ``settings``) with openpyxl.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> with tempfile.TemporaryDirectory() as d:
        ...     _example_plan().to_excel(pathlib.Path(d) / "plan.xlsx").suffix
        '.xlsx'
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        summary = self.summary()
        settings = pd.DataFrame({"setting": list(self.settings),
                                 "value": [json.dumps(v, default=str) for v in self.settings.values()]})
        from survey.io import write_workbook

        return write_workbook({"summary": summary.parts, "strata": self.table(),
                               "expected_cv": self.expected_cv(), "settings": settings}, path)

    def __repr__(self) -> str:
        return (f"SamplePlan(N={self.frame.N}, strata={len(self.allocation.N)}, n={self.n})")


def _with_typical(selection: Selection, data: pd.DataFrame, typical: np.ndarray) -> Selection:
    """Typical units stay in the population their stratum's sample represents (counted in
    ``N_h``, so the design weights ``N_h / n_h`` represent them) but are never drawn; their
    rows are added with part ``"typical"`` and weight 0 (returns collected, case studies)."""
    if selection.method not in ("srswor", "systematic"):
        raise SelectionError(f"typical units need an equal-probability selection (srswor or "
                             f"systematic), not {selection.method!r}")
    held = data[typical & (data["part"] == "sample").to_numpy()]
    extra = held["stratum"].value_counts()
    out = selection.data.copy()
    N_h = out["N_h"].to_numpy() + out["stratum"].map(extra).fillna(0).to_numpy(dtype=np.int64)
    out["N_h"] = N_h
    out["inclusion_probability"] = out["n_h"].to_numpy() / N_h
    out["design_weight"] = N_h / out["n_h"].to_numpy()
    strata = selection.strata.copy()
    strata["N_h"] = strata["N_h"] + strata["stratum"].map(extra).fillna(0).astype(np.int64)
    rows = data[typical].assign(part="typical", stratum="typical", inclusion_probability=np.nan,
                                design_weight=0.0, N_h=0, n_h=0)
    rows = rows[[c for c in out.columns if c in rows.columns]]
    out = pd.concat([out, rows], ignore_index=False)
    return dataclasses.replace(selection, data=out, strata=strata)


def write_sample(selection: Selection, folder: str | Path, *, excel: bool = True) -> list[Path]:
    """Write a selected sample: ``sample.csv`` (and ``sample.xlsx``) plus
    ``sample_metadata.json`` (method, seed, start, rotation, period, stratum sizes).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     [p.name for p in write_sample(_example_plan().select(seed=3), d, excel=False)]
    ['sample.csv', 'sample_metadata.json']
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / "sample.csv"]
    from survey.io import write_table, write_workbook

    write_table(selection.data, paths[0])
    if excel:
        paths.append(folder / "sample.xlsx")
        write_workbook({"sample": selection.data, "strata": selection.table()}, paths[-1])
    meta = {"method": selection.method, "seed": selection.seed, "start": selection.start,
            "rotation": selection.rotation, "period": selection.period, "n": selection.n,
            "design": {"strata": "stratum", "weights": "design_weight", "fpc": "N_h"}}
    paths.append(folder / "sample_metadata.json")
    paths[-1].write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return paths


# ---------------------------------------------------------------------------
# building a plan
# ---------------------------------------------------------------------------


_DEFAULTS = {f: PlanSpec.__dataclass_fields__[f].default for f in PlanSpec.__dataclass_fields__
             if f != "targets"}


def design_plan(
    frame: Frame | pd.DataFrame,
    targets: PlanSpec | Mapping[str, Any],
    *,
    strata: str | Sequence[str] | None = None,
    size: str | None = None,
    id: str | None = None,
    take_all: str | float | Mapping[Any, float] | pd.DataFrame | None = None,
    take_all_by: str | None = None,
    take_all_cv: float | None = None,
    take_none_below: float | None = None,
    size_strata: int = 3,
    boundary_method: str = "cum_sqrt_f",
    cost: Any = None,
    min_n: int = 2,
    response_rate: Any = None,
    prn_seed: int = 0,
    missing_size: float | None = None,
    key_units: Mapping[str, Any] | None = None,
    typical: Mapping[str, Any] | None = None,
) -> SamplePlan:
    """Design a sample plan from a register.

    Call it with a :class:`~survey.plan.spec.PlanSpec` (``design_plan(frame,
    spec)``) or with the CV targets and the spec's values as keywords (a
    spec is built from them and checked).

    Parameters
    ----------
    frame : Frame or pandas.DataFrame
        The register (one row per unit).
    targets : PlanSpec or mapping
        The plan specification, or the CV targets ``{variable:
        {domain_type: cv}}`` (see :func:`survey.plan.allocate_multivariate`),
        e.g. ``{"revenue_prev_year": {"total": 0.02, "county": 0.10}}``.
    strata : str, sequence of str or None, default=None
        Register columns that stratify the take-some part (default the
        frame's strata); size classes are added to them.
    size : str or None, default=None
        Size column (default the frame's), e.g. ``"revenue_prev_year"``.
    id : str or None, default=None
        Unit id column (default the frame's, or ``"firm_id"``).
    take_all : str, float, mapping, pandas.DataFrame or None, default=None
        Take-all rule: a boolean column (e.g. ``"above_size"``), or a
        designated-size threshold (one number, or a table keyed on
        ``take_all_by``, see :func:`designated_size`).
    take_all_by : str or None, default=None
        Column of the threshold table (e.g. ``"industry"``).
    take_all_cv : float or None, default=None
        Instead of ``take_all``: a statistical cut-off
        (:func:`take_all_cutoff`) on ``size`` for this CV of the total.
    take_none_below : float or None, default=None
        Units with ``size`` below this value are not surveyed (cut-off part).
    size_strata : int, default=3
        Number of size classes within each take-some stratum (1: none).
    boundary_method : {"cum_sqrt_f", "geometric", "lavallee_hidiroglou"}, default="cum_sqrt_f"
        Rule for the size-class boundaries (:func:`boundaries`).
    cost, response_rate : float, str, mapping or None, default=None
        Unit cost and anticipated response rate (see
        :func:`survey.plan.allocate_multivariate`).
    min_n : int, default=2
        Least sample size per take-some stratum.
    prn_seed : int, default=0
        Key of the permanent random numbers (:func:`permanent_random_numbers`) when the register has
        no ``prn`` column; the same key gives the same PRNs every year.
    missing_size : float or None, default=None
        Size given to units whose size is missing (e.g. new firms without
        last year's revenue); ``None`` makes a missing size an error.
    key_units : mapping or None, default=None
        Key-unit survey: ``{"by": ..., "cells": [...], "share": 0.8}`` (or
        ``"number"``), ``"rest": "sample"`` or ``"take_none"``
        (:func:`survey.plan.keyunits.key_unit_mask`); key units are enumerated
        (part ``take_all``, column ``key_unit``).
    typical : mapping or None, default=None
        Typical units: ``{"ids": [...]}`` or ``{"column": ...}``; never drawn
        (:meth:`SamplePlan.select` adds them with part ``"typical"``).

    Returns
    -------
    SamplePlan

    Raises
    ------
    PlanError
        A value of the specification is invalid (every problem is listed).

    Examples
    --------
    >>> plan = _example_plan()
    >>> plan.allocation.n.tolist()
    [2, 2, 3]
    >>> design_plan(plan.frame.data, plan.spec).allocation.n.tolist()
    [2, 2, 3]
    """
    given = dict(strata=strata, size=size, id=id, take_all=take_all, take_all_by=take_all_by,
                 take_all_cv=take_all_cv, take_none_below=take_none_below, size_strata=size_strata,
                 boundary_method=boundary_method, cost=cost, min_n=min_n,
                 response_rate=response_rate, prn_seed=prn_seed, missing_size=missing_size,
                 key_units=key_units, typical=typical)
    if isinstance(targets, PlanSpec):
        changed = sorted(k for k, v in given.items() if v is not _DEFAULTS[k]
                         and not (isinstance(v, (int, float, str)) and v == _DEFAULTS[k]))
        if changed:
            raise PlanError(f"design_plan: give a PlanSpec or keywords, not both (got {changed}); "
                            "change the spec with spec.replace(...)")
        spec = targets
    else:
        spec = PlanSpec(targets=targets, **given)
    return _design(frame, spec)


def _design(frame: Frame | pd.DataFrame, spec: PlanSpec) -> SamplePlan:
    targets = spec.targets
    strata, size, unit = spec.strata, spec.size, spec.id
    take_all, take_all_by, take_all_cv = spec.take_all, spec.take_all_by, spec.take_all_cv
    take_none_below, size_strata, boundary_method = (spec.take_none_below, spec.size_strata,
                                                     spec.boundary_method)
    cost, min_n, response_rate = spec.cost, spec.min_n, spec.response_rate
    prn_seed, missing_size = spec.prn_seed, spec.missing_size
    if isinstance(frame, Frame):
        data = frame.data
        strata = frame.strata if strata is None else strata
        size = frame.size if size is None else size
        unit = frame.id if unit is None else unit
    elif isinstance(frame, pd.DataFrame):
        data = frame
    else:
        raise AllocationError(f"design_plan needs a Frame or DataFrame, got {type(frame).__name__}")
    unit = unit or "firm_id"
    columns = as_columns(strata)
    if size is None:
        raise AllocationError("design_plan needs a size column (size=...)")
    if size not in data.columns:
        raise ColumnError(f"design_plan: size column {size!r} not in the register")
    unknown_size = data[size].isna().to_numpy() if size in data.columns else None
    if missing_size is not None:
        data = data.assign(**{size: data[size].fillna(float(missing_size))})
    checked = Frame(data, id=unit, size=size, strata=columns or None)
    data = checked.data.copy(deep=False)
    x = data[size].to_numpy(dtype=float)

    # parts
    if take_all is not None and take_all_cv is not None:
        raise AllocationError("design_plan: give take_all or take_all_cv, not both")
    if isinstance(take_all, str):
        if take_all not in data.columns:
            raise ColumnError(f"design_plan: take-all column {take_all!r} not in the register")
        from survey.register.frame import as_flags

        is_take_all = as_flags(data[take_all], take_all)
    elif take_all is not None:
        is_take_all = designated_size(data, size=size, threshold=take_all, by=take_all_by)
    else:
        is_take_all = np.zeros(len(data), dtype=bool)
    is_take_none = np.zeros(len(data), dtype=bool)
    if take_none_below is not None:  # a unit of unknown size is not known to be small
        is_take_none = (x < float(take_none_below)) & ~is_take_all & ~unknown_size
    cutoff = None
    if take_all_cv is not None:
        rest = ~is_take_none
        cutoff = take_all_cutoff(x[rest], cv=float(take_all_cv), min_sample=min_n)
        is_take_all = rest & (x >= cutoff.threshold)
    is_typical = np.zeros(len(data), dtype=bool)
    if spec.typical:
        is_typical = typical_mask(data, id=unit, ids=spec.typical.get("ids"),
                                  column=spec.typical.get("column"))
        enumerated = is_typical & is_take_all
        if enumerated.any():
            raise PlanError(f"[plan.typical]: {data.loc[enumerated, unit].tolist()[:5]} are "
                            "take-all units (enumerated anyway); a typical unit is a firm outside "
                            "the take-all part")
    is_key = np.zeros(len(data), dtype=bool)
    if spec.key_units:
        keys = spec.key_units
        is_key = key_unit_mask(data, size=keys.get("size", size), by=keys["by"],
                               cells=keys.get("cells"), share=keys.get("share"),
                               number=keys.get("number"), eligible=~is_take_all & ~is_typical)
        if keys.get("rest", "sample") == "take_none":
            codes, label = cell_codes(data, keys["by"])
            named = np.zeros(len(label), dtype=bool)
            named[np.unique(codes[is_key])] = True
            if keys.get("cells") is not None:
                named |= label.isin([str(c) for c in keys["cells"]]).to_numpy()
            is_take_none |= named[codes] & ~is_take_all & ~is_key & ~unknown_size
        is_take_none &= ~is_key
        is_take_all = is_take_all | is_key
    part = np.where(is_take_all, "take_all", np.where(is_take_none, "take_none", "sample"))
    some = part == "sample"
    if not some.any():
        raise AllocationError("design_plan: no unit is left for the take-some part")

    # size classes on the take-some part
    stratification = None
    size_class = np.zeros(len(data), dtype=np.int64)
    if int(size_strata) > 1:
        total_cvs = [v.get("total") if isinstance(v, Mapping) else v for v in targets.values()]
        total_cvs = [float(c) for c in total_cvs if isinstance(c, (int, float))]
        stratification = boundaries(x[some], int(size_strata), method=boundary_method,
                                    cv=min(total_cvs) if total_cvs else 0.05, min_n=min_n)
        size_class[some] = stratification.assign(x[some])
    label = pd.Series("", index=data.index, dtype=object)
    if columns:
        label = pd.Series(join_labels(data, columns), index=data.index, dtype=object)
    if int(size_strata) > 1:
        label = label + np.where(label.to_numpy() != "", "/", "") + "s" + pd.Series(
            size_class + 1, index=data.index).astype(str)
    elif not columns:
        label = pd.Series("all", index=data.index)
    stratum = np.where(is_take_all, TAKE_ALL, np.where(is_take_none, "", label.to_numpy(dtype=object)))
    data["part"] = part
    if spec.key_units:
        data["key_unit"] = is_key
    if spec.typical:
        data["typical"] = is_typical
    data["size_class"] = np.where(some, size_class + 1, 0)
    data["stratum"] = stratum
    if "prn" not in data.columns:
        data["prn"] = permanent_random_numbers(data[unit], seed=prn_seed)

    covered = data[part != "take_none"]
    allocation = allocate_multivariate(
        covered, targets, strata="stratum", cost=cost, min_n=min_n,
        response_rate=response_rate,
        take_all=[TAKE_ALL] if is_take_all.any() else None,
    )
    plain = spec.settings()
    settings = {
        "id": unit, "size": size, "strata": list(columns), "targets": plain["targets"],
        "take_all": plain["take_all"],
        "take_all_by": take_all_by, "take_all_cv": take_all_cv,
        "take_all_threshold": None if cutoff is None else cutoff.threshold,
        "take_none_below": take_none_below, "size_strata": int(size_strata),
        "boundary_method": boundary_method,
        "size_bounds": [] if stratification is None else stratification.bounds.tolist(),
        "min_n": int(min_n), "response_rate": plain["response_rate"], "cost": plain["cost"],
        "prn_seed": prn_seed, "missing_size": missing_size,
        "key_units": plain.get("key_units"), "typical": plain.get("typical"),
        "n_key_units": int(is_key.sum()), "n_typical": int(is_typical.sum()),
    }
    plan_frame = Frame(data, id=unit, size=size, strata="stratum")
    return SamplePlan(frame=plan_frame, allocation=allocation, stratification=stratification,
                      settings=settings, spec=spec)


def _example_plan() -> SamplePlan:
    """A tiny plan used in the docstring examples."""
    rng = np.random.default_rng(7)
    n = 60
    df = pd.DataFrame({
        "firm_id": [f"f{i:03d}" for i in range(n)],
        "region": np.repeat(["north", "south"], n // 2),
        "revenue": np.r_[rng.gamma(2.0, 50.0, n - 3), 5000.0, 6000.0, 7000.0],
    })
    return design_plan(df, {"revenue": {"total": 0.15}}, strata="region", size="revenue",
                       take_all=1000.0, size_strata=1)


# ---------------------------------------------------------------------------
# config runners (CLI: `survey plan CONFIG.toml`, `survey select CONFIG.toml --seed N`)
# ---------------------------------------------------------------------------

def read_register(section: Mapping[str, Any], *, base: str | Path | None = None) -> pd.DataFrame:
    """The register a ``[plan]`` section names, restricted to its year and filter.

    ``register`` is a table file (CSV in any common encoding, Excel or
    Parquet, read with :func:`survey.io.read_table`, the id column as
    text); without it, ``dataset = "register"`` (the default) is the bundled
    synthetic register. ``year`` keeps one year of a register with a
    ``year`` column; ``filter`` is a condition on the register's columns in the
    restricted language of :mod:`survey.expressions` (no code is run).

    Parameters
    ----------
    section : mapping
        The ``[plan]`` section (keys ``register``, ``dataset``, ``year``,
        ``filter``, ``id``).
    base : str, pathlib.Path or None, default=None
        Folder a relative ``register`` path is relative to (default: the
        current folder).

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    ConfigError
        The file is missing or unreadable, the dataset unknown, the year
        absent, or the filter fails.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = pathlib.Path(d, "reg.csv").write_text("firm_id,size\\n007,1\\n008,2\\n")
    ...     read_register({"register": "reg.csv"}, base=d)["firm_id"].tolist()
    ['007', '008']
    """
    from survey.errors import TableError
    from survey.io import read_table

    base = Path(base) if base is not None else Path.cwd()
    config = section
    if "register" in config:
        path = Path(config["register"])
        path = path if path.is_absolute() else base / path
        if not path.exists():
            raise ConfigError(f"[plan] register: file {str(path)!r} not found")
        try:
            data = read_table(path, text=[config.get("id", "firm_id")],
                              encoding=config.get("encoding"))
        except TableError as exc:
            raise ConfigError(f"[plan] register: {exc}") from exc
    elif config.get("dataset", "register") == "register":
        from survey.datasets import load_register

        data = load_register()
    else:
        raise ConfigError(f"[plan] dataset: unknown dataset {config['dataset']!r} (use 'register')")
    if "year" in config:
        if "year" not in data.columns:
            raise ConfigError("[plan] year: the register has no 'year' column")
        data = data[data["year"] == int(config["year"])].reset_index(drop=True)
        if data.empty:
            raise ConfigError(f"[plan] year: no register rows for year {config['year']}")
    if "filter" in config:
        from survey import expressions

        rows = expressions.mask(expressions.parse(str(config["filter"]), what="[plan] filter",
                                                  error=ConfigError), data)
        data = data[rows].reset_index(drop=True)
    return data


def plan_from_config(config: Mapping[str, Any], *, base: str | Path | None = None) -> SamplePlan:
    """Build a :class:`SamplePlan` from the ``[plan]`` section of the config.

    The section becomes a :class:`~survey.plan.spec.PlanSpec`
    (:meth:`PlanSpec.from_config <survey.plan.spec.PlanSpec.from_config>`,
    which checks every key) and the register is read with
    :func:`read_register`; then :func:`design_plan`.

    Parameters
    ----------
    config : mapping
        The parsed ``[plan]`` section (keys in ``docs/planning.md``).
    base : str, pathlib.Path or None, default=None
        Folder that relative paths are relative to (default: current folder).

    Raises
    ------
    ConfigError
        Every problem of the section, or a register that cannot be read.

    Examples
    --------
    >>> import pandas as pd, tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = pathlib.Path(d, "reg.csv").write_text(
    ...         "firm_id,size\\n" + "\\n".join(f"f{i},{i + 1}" for i in range(40)) + "\\n")
    ...     plan = plan_from_config({"register": "reg.csv", "size": "size",
    ...                             "size_strata": 2, "cv": {"size": 0.05}}, base=d)
    >>> plan.n <= 40, plan.spec.size_strata
    (True, 2)
    """
    spec = PlanSpec.from_config(config, base=base)
    data = read_register(config, base=base)
    return _design(data, spec)


def run_plan(config: Mapping[str, Any], output: str | Path, *, base: str | Path | None = None) -> SamplePlan:
    """``survey plan CONFIG.toml``: build the plan and write it to ``output``.

    Writes ``plan_strata.csv``, ``plan_expected_cv.csv``, ``plan_summary.txt``,
    ``plan_settings.json`` and (unless ``output_excel = false``) ``plan.xlsx``.

    Parameters
    ----------
    config : mapping
        The parsed ``[plan]`` section.
    output : str or pathlib.Path
        Output folder (created if needed).
    base : str, pathlib.Path or None, default=None
        Folder for relative paths in the config (default: current folder).

    Returns
    -------
    SamplePlan

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = pathlib.Path(d, "reg.csv").write_text(
    ...         "firm_id,size\\n" + "\\n".join(f"f{i},{i + 1}" for i in range(40)) + "\\n")
    ...     plan = run_plan({"register": "reg.csv", "size": "size", "size_strata": 2,
    ...                      "cv": {"size": 0.05}}, pathlib.Path(d) / "out", base=d)
    ...     sorted(p.name for p in (pathlib.Path(d) / "out").iterdir())[:2]
    ['plan.xlsx', 'plan_expected_cv.csv']
    """
    plan = plan_from_config(config, base=base)
    output = Path(output)
    plan.to_csv(output)
    if config.get("output_excel", True):
        plan.to_excel(output / "plan.xlsx")
    return plan


def run_select(
    config: Mapping[str, Any], output: str | Path, seed: int, *, base: str | Path | None = None
) -> pd.DataFrame:
    """``survey select CONFIG.toml --seed N``: build the plan, select, write the sample.

    Reads the ``[plan.select]`` sub-table (``method``, ``rotation``,
    ``period``, ``start``). Writes ``sample.csv``, ``sample.xlsx`` (unless
    ``output_excel = false``) and ``sample_metadata.json`` (with the seed).

    Returns
    -------
    pandas.DataFrame
        The sample (``Selection.data``): register columns plus ``stratum,
        prn, inclusion_probability, design_weight, N_h, n_h, part``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = pathlib.Path(d, "reg.csv").write_text(
    ...         "firm_id,size\\n" + "\\n".join(f"f{i},{i + 1}" for i in range(40)) + "\\n")
    ...     s = run_select({"register": "reg.csv", "size": "size", "size_strata": 2,
    ...                     "cv": {"size": 0.05}, "output_excel": False},
    ...                    pathlib.Path(d) / "out", seed=5, base=d)
    >>> round(float(s["design_weight"].sum()), 9)
    40.0
    """
    plan = plan_from_config(config, base=base)
    options = dict(config.get("select", {}))
    unknown = sorted(set(options) - {"method", "rotation", "period", "start"})
    if unknown:
        raise ConfigError(f"[plan.select]: unknown key(s) {unknown}; known: method, rotation, "
                          "period, start")
    selection = plan.select(seed=int(seed), method=options.get("method", "srswor"),
                            rotation=float(options.get("rotation", 0.0)),
                            period=int(options.get("period", 0)),
                            start=float(options.get("start", 0.0)))
    write_sample(selection, output, excel=bool(config.get("output_excel", True)))
    return selection.data
