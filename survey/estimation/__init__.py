"""Estimation: the sample with its design, the one variance engine, estimators, weighting, results.

Modules, in import order (each imports only those above it; ``Survey`` is
imported by the others for type annotations only):

* ``intervals``: confidence intervals for proportions (R ``svyciprop``);
* ``results``: the result base classes, :class:`~survey.estimation.results.Estimate`
  (with contrasts), ``Summary`` and the result column names;
* ``structure``: the design as arrays (strata, units, fractions), built once;
* ``pps``: the variance of πps designs without replacement (``Design(pps=...)``);
* ``lonely``: lonely PSUs within domains, the report of touched strata, collapsing strata;
* ``twophase``: the two-phase variance of a nonresponse adjustment;
* ``calibration_model``, ``calibration``, ``calibration_raking``: calibration arithmetic on
  arrays (model matrices in blocks, Newton-Raphson and the input checks, IPF);
* ``replicate``, ``replicate_weights``, ``replicate_variance``, ``replicate_estimates``:
  replicate designs, their weights (bootstrap draws kept with the design), their
  covariances in one pass, the replicate estimates for contrasts;
* ``residual_columns``, ``residuals``, ``residual_covariance``: the residuals after
  weighting as a low-rank correction of the domain scores (no n x D matrix): the
  columns and score sums, the prepared weighting model, the design covariance;
* ``variance``: the one dispatch (linearisation, πps, two-phase or replicates),
  ``WeightingStep`` and the residuals after weighting;
* ``domains``, ``estimate``, ``quantile``: the estimators;
* ``weighting_steps``, ``weighting``, ``nonresponse``: weighting a Survey;
* ``survey_state``, ``survey``: the checked state of a Survey with its read-only views and
  derived-survey constructors, and :class:`~survey.estimation.survey.Survey` on it, whose
  methods call the above;
* ``combined``, ``multiframe``: the quarterly three-part estimate and
  multiple-frame totals (they take ``Survey`` objects).
"""
