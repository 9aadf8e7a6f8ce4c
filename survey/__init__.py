"""survey: enterprise survey statistics from three reporting channels.

Design sample plans, estimate sector totals with honest margins of error,
and publish quarterly summaries.

Examples
--------
>>> import pandas as pd, survey as sv
>>> df = pd.DataFrame({"h": [1, 1, 2, 2], "w": [2.0, 2, 3, 3], "y": [1.0, 3, 2, 6]})
>>> sv.Survey(df, sv.Design(strata="h", weights="w")).total("y").estimate
array([32.])
"""

from .design import Design, Survey, WeightingStep
from .errors import SurveyError, SurveyWarning
from .results import Estimate

__version__ = "0.1.0"

__all__ = [
    "Design",
    "Survey",
    "Estimate",
    "WeightingStep",
    "SurveyError",
    "SurveyWarning",
]
