"""Out-of-core estimation: the design-based estimators on data that stay in SQL.

:class:`OutOfCoreSurvey` (built by :func:`scan`) is the sibling of
:class:`survey.Survey` for samples that do not fit in memory, or that are
already in a DuckDB database or Parquet files: a national register's
returns, twenty quarters of a ledger. It takes a Parquet path or glob, a
DuckDB relation or table name (or a pandas frame, for tests) and a
:class:`survey.Design`, and offers :meth:`~OutOfCoreSurvey.total`,
:meth:`~OutOfCoreSurvey.mean`, :meth:`~OutOfCoreSurvey.ratio`,
:meth:`~OutOfCoreSurvey.proportion` by domain with linearised standard
errors, :meth:`~OutOfCoreSurvey.subset`, and linear (or raking, logit)
calibration, post-stratification and raking with their residual variance.
Results are the same :class:`survey.Estimate` objects; the numbers agree
with the in-memory :class:`survey.Survey` to about 1e-13.

How: units never leave the engine. Each estimate runs one SQL pass (two
for ratios, means and proportions: domain totals first) that returns sums
of scores per stratum x domain (for a clustered stage, first per PSU x
domain inside the query), with their sums of squares and cross products;
numpy then applies the per-stratum coefficients of
:func:`survey.estimation.variance.stage_coefficients` (fpc, take-all
strata, the lonely-PSU rules), exactly as the in-memory variance engine
does. After calibration the scores are replaced by calibration residuals:
the pass also returns, per stratum x domain x *cell* (combination of the
calibration margins' levels), the sums ``sum(z w x')`` and, once per
weighting, ``sum(w^2 x x')``, so the residual sums of squares are formed in
numpy from small tables (model-matrix sums) without a pass per domain.

Design checks (missing strata, fpc that varies within a stratum, fewer
units than the sample, lonely PSUs under ``lonely_psu="fail"``) raise the
same errors as :class:`survey.Survey`; messages name strata and columns
instead of row labels.

The package, by what each module does:

* ``sample.py`` — :func:`scan` and :class:`OutOfCoreSurvey` (its public methods);
* ``design.py`` — the design checks and the stage tables, once, at construction;
* ``queries.py`` — the SQL text of the summary queries;
* ``passes.py`` — running the passes and combining their tables;
* ``tables.py`` — finishing in numpy: stage fractions, domain keys and sums,
  missing-value checks, the :class:`survey.Estimate`;
* ``weighting.py`` — :class:`SQLWeighting` and the cells the weighting steps share;
  ``calibration.py`` (:func:`calibrate`, :func:`poststratify`) and ``raking.py``
  (:func:`rake`): weighting out of core.

The variance formulas on the summary tables are in
:mod:`survey.estimation.outofcore_variance`.
"""

from survey.estimation.outofcore.calibration import calibrate, poststratify
from survey.estimation.outofcore.raking import rake
from survey.estimation.outofcore.sample import OutOfCoreSurvey, scan
from survey.estimation.outofcore.weighting import SQLWeighting

__all__ = ["OutOfCoreSurvey", "SQLWeighting", "calibrate", "poststratify", "rake", "scan"]
