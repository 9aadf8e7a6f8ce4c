"""The configured cycle: the TOML configuration and the glue that runs every step.

* :mod:`survey.pipeline.config`: the configuration file (:func:`load_config`);
* :mod:`survey.pipeline.steps`: one function per step, reading its settings
  and calling the library;
* :mod:`survey.pipeline.run`: the whole cycle (:func:`run_cycle`) and the
  separate commands;
* :mod:`survey.pipeline.demo`: ``survey demo`` (:data:`DEMO_CONFIG` ships
  inside the package).

Examples
--------
>>> from survey.pipeline import DEMO_CONFIG, load_config
>>> load_config(DEMO_CONFIG).survey.period
'2006Q4'
"""

from survey.pipeline.config import SurveyConfig, load_config, validate_config
from survey.pipeline.demo import DEMO_CONFIG, demo_result, run_demo
from survey.pipeline.run import CycleResult, run_cycle

__all__ = ["DEMO_CONFIG", "CycleResult", "SurveyConfig", "demo_result", "load_config",
           "run_cycle", "run_demo", "validate_config"]
