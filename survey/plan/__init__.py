"""Sample plans: frame, take-all threshold, stratification, allocation, PRN selection.

Data flow: register (:class:`survey.register.frame.Frame`) -> take-all / take-some /
take-none parts (:func:`designated_size`, :func:`take_all_cutoff`) -> size
strata (:func:`boundaries`) -> allocation (:func:`allocate`,
:func:`allocate_multivariate`) -> selection (:func:`select`) -> a sample that
goes straight into :class:`survey.Survey`. :func:`design_plan` ties them into a
:class:`SamplePlan` from a :class:`PlanSpec` (the checked specification, also
built from a configuration's ``[plan]`` section); :func:`run_plan` and
:func:`run_select` serve the CLI.
"""

from survey.plan.allocation import Allocation, allocate, allocate_multivariate
from survey.plan.plan import (
    PlanSummary,
    SamplePlan,
    design_plan,
    plan_from_config,
    read_register,
    run_plan,
    run_select,
    write_sample,
)
from survey.plan.selection import (
    Selection,
    inclusion_probabilities,
    permanent_random_numbers,
    select,
)
from survey.plan.spec import PlanSpec, plan_problems
from survey.plan.stratify import (
    Cutoff,
    Stratification,
    boundaries,
    designated_size,
    take_all_cutoff,
)

__all__ = [
    "Allocation",
    "Cutoff",
    "PlanSpec",
    "PlanSummary",
    "SamplePlan",
    "Selection",
    "Stratification",
    "allocate",
    "allocate_multivariate",
    "boundaries",
    "design_plan",
    "designated_size",
    "inclusion_probabilities",
    "permanent_random_numbers",
    "plan_from_config",
    "plan_problems",
    "read_register",
    "run_plan",
    "run_select",
    "select",
    "take_all_cutoff",
    "write_sample",
]
