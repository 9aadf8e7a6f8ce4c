"""The survey configuration file: one TOML file describes the whole cycle.

A configuration names the register, the sample plan (take-all threshold,
strata, CV targets), the three channels, the variables to estimate, the
calibration margins, the edit rules, the disclosure rules, the report and
the output folder, the language and the seed. It is read with the standard
library's :mod:`tomllib`, checked completely (every problem is reported, each
with its key path such as ``plan.cv.revenue_prev_year.county``) and parsed
into frozen dataclasses. Each section is also available as a plain mapping for
the module that consumes it (``config.section("plan")``).

Relative paths are resolved against the folder of the configuration file,
so a configuration and its data can move together.

The keys are listed in ``docs/configuration.md``; the demo configuration
(``survey/pipeline/demo.toml``, :data:`survey.pipeline.DEMO_CONFIG`) is a
complete example on the bundled synthetic data.
"""

from __future__ import annotations

from survey.pipeline.config.core import (
    SurveyConfig,
    load_config,
    validate_config,
    with_settings,
)
from survey.pipeline.config.sections import (
    CalibrationSettings,
    ChannelSettings,
    DisclosureSettings,
    DisclosureTableSettings,
    EditRuleSettings,
    EditSettings,
    EngineSettings,
    EstimateSettings,
    KeyUnitSettings,
    LedgerSettings,
    PlanSettings,
    RegisterSettings,
    ReportSettings,
    SelectSettings,
    SmallAreaSettings,
    SurveySettings,
    TakeNoneSettings,
    TypicalSettings,
)

__all__ = [
    "SurveyConfig",
    "SurveySettings",
    "RegisterSettings",
    "PlanSettings",
    "SelectSettings",
    "ChannelSettings",
    "EstimateSettings",
    "CalibrationSettings",
    "EditSettings",
    "EditRuleSettings",
    "LedgerSettings",
    "DisclosureSettings",
    "DisclosureTableSettings",
    "ReportSettings",
    "KeyUnitSettings",
    "SmallAreaSettings",
    "TakeNoneSettings",
    "TypicalSettings",
    "EngineSettings",
    "load_config",
    "validate_config",
    "with_settings",
]

