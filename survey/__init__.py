"""survey: enterprise survey statistics from three reporting channels.

Design sample plans, estimate sector totals with honest margins of error,
and publish quarterly summaries. The main objects:

* :class:`Design` and :class:`Survey` (estimation, weighting, replicates),
  :class:`Estimate` (results);
* :class:`Frame`, :class:`SamplePlan`, :func:`design_plan` (sample plans);
* :class:`Ledger` (returns), :func:`link_channels`, :func:`combined_total`,
  :func:`quarterly_series`, :func:`denton` (the quarterly estimate);
* :func:`protect_table`, :func:`write_bulletin`, :func:`load_config` (publication).

Submodules for the other steps: ``survey.plan``, ``survey.returns.rules``,
``survey.returns.detect``, ``survey.returns.impute``, ``survey.returns.outliers``, ``survey.estimation.weighting``,
``survey.estimation.replicate``, ``survey.publish.disclosure``, ``survey.publish.report``,
``survey.datasets``, ``survey.simulate``.

Examples
--------
>>> import pandas as pd, survey as sv
>>> df = pd.DataFrame({"h": [1, 1, 2, 2], "w": [2.0, 2, 3, 3], "y": [1.0, 3, 2, 6]})
>>> sv.Survey(df, sv.Design(strata="h", weights="w")).total("y").estimate
array([32.])
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from survey.design import Design, HartleyRao, JointProbabilities
from survey.errors import SurveyError, SurveyWarning

__version__ = "0.1.0"

# The other names load their room on first use (PEP 562), so ``import survey`` loads
# numpy and the design only: pandas and the estimation room come with the first
# ``sv.Survey``, DuckDB, pyarrow, matplotlib, openpyxl, statsmodels and scipy.stats
# only where a step uses them.
_LAZY = {
    "Survey": "survey.estimation.survey",
    "WeightingStep": "survey.estimation.survey",
    "Estimate": "survey.estimation.results",
    "Frame": "survey.register.frame",
    "valid_uscc": "survey.register.frame",
    "SamplePlan": "survey.plan",
    "design_plan": "survey.plan",
    "Ledger": "survey.returns.ledger",
    "link_channels": "survey.register.channels",
    "combined_total": "survey.estimation.combined",
    "collapse_strata": "survey.estimation.lonely",
    "quarterly_series": "survey.quarterly.series",
    "QuarterlySeries": "survey.quarterly.series",
    "denton": "survey.quarterly.benchmarking",
    "protect_table": "survey.publish.disclosure",
    "write_bulletin": "survey.publish.report",
    "load_config": "survey.pipeline.config",
}

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from survey.estimation.combined import combined_total
    from survey.estimation.results import Estimate
    from survey.estimation.survey import Survey, WeightingStep
    from survey.estimation.lonely import collapse_strata
    from survey.pipeline.config import load_config
    from survey.plan import SamplePlan, design_plan
    from survey.publish.disclosure import protect_table
    from survey.publish.report import write_bulletin
    from survey.quarterly.benchmarking import denton
    from survey.quarterly.series import QuarterlySeries, quarterly_series
    from survey.register.channels import link_channels
    from survey.register.frame import Frame, valid_uscc
    from survey.returns.ledger import Ledger


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'survey' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "Design",
    "JointProbabilities",
    "HartleyRao",
    "Survey",
    "collapse_strata",
    "Estimate",
    "WeightingStep",
    "Frame",
    "valid_uscc",
    "SamplePlan",
    "design_plan",
    "Ledger",
    "link_channels",
    "combined_total",
    "quarterly_series",
    "QuarterlySeries",
    "denton",
    "protect_table",
    "write_bulletin",
    "load_config",
    "SurveyError",
    "SurveyWarning",
]
