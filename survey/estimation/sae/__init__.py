"""Small-area estimation with the area-level Fay–Herriot model.

The county (small-area) building block: direct estimates ``y_i`` of many small
areas, each with a known sampling variance ``psi_i``, are combined with register
auxiliaries ``x_i`` through the Fay–Herriot (1979) model::

    y_i = theta_i + e_i,        e_i ~ N(0, psi_i)      (sampling error, psi_i known)
    theta_i = x_i' beta + v_i,  v_i ~ N(0, sigma2_v)   (area effect)

and the empirical best linear unbiased predictor (EBLUP)::

    theta_hat_i = gamma_i y_i + (1 - gamma_i) x_i' beta_hat,
    gamma_i = sigma2_v / (sigma2_v + psi_i),

with ``beta_hat`` the GLS estimate at the estimated ``sigma2_v``.

* :func:`fay_herriot` — fit (REML, ML or the Fay–Herriot moment method, by the
  same Fisher-scoring iteration as R ``sae::eblupFH``), EBLUPs, and their MSE:
  Prasad–Rao / Datta–Lahiri analytic MSE (as R ``sae::mseFH``) or a seeded
  parametric bootstrap (González-Manteiga et al. 2008). Returns a
  :class:`FayHerriot` result with ``table()`` and ``summary()``.
* :meth:`FayHerriot.benchmark` — ratio or difference benchmarking of the area
  estimates to given group (e.g. city) totals.
* :meth:`FayHerriot.keep_direct` — keep the direct estimate where its CV is
  acceptable; the table says per area which was used (``"direct"``/``"EBLUP"``).
* :meth:`FayHerriot.predict` — synthetic estimates for areas without a sample.
* :func:`smooth_variances` — a generalised variance function (GVF) or pooled
  CV for areas whose direct variance is zero, missing or unreliable.

Everything is vectorised: the bootstrap fits all ``B`` replicate models at once
(one Fisher-scoring loop over arrays of shape ``(B, m)``).

References
----------
Fay, R. E. and Herriot, R. A. (1979). Estimates of income for small places: an
application of James–Stein procedures to census data. JASA 74, 269–277.
Prasad, N. G. N. and Rao, J. N. K. (1990). The estimation of the mean squared
error of small-area estimators. JASA 85, 163–171.
Datta, G. S. and Lahiri, P. (2000). A unified measure of uncertainty of
estimated best linear unbiased predictors in small area estimation problems.
Statistica Sinica 10, 613–627.
Datta, G. S., Rao, J. N. K. and Smith, D. D. (2005). On measuring the
variability of small area estimators under a basic area level model.
Biometrika 92, 183–196.
González-Manteiga, W., Lombardía, M. J., Molina, I., Morales, D. and
Santamaría, L. (2008). Analytic and bootstrap approximations of prediction
errors under a multivariate Fay–Herriot model. Computational Statistics & Data
Analysis 52, 5242–5252.
Rao, J. N. K. and Molina, I. (2015). Small Area Estimation, 2nd ed. Wiley.
Steorts, R. C. and Ghosh, M. (2013). On estimation of mean squared errors of
benchmarked empirical Bayes estimators. Statistica Sinica 23, 749–767.
Molina, I. and Marhuenda, Y. (2015). sae: an R package for small area
estimation. The R Journal 7(1), 81–98.
"""


from .fitting import FH_METHODS, MSE_METHODS
from .model import fay_herriot
from .result import FayHerriot
from .variances import SmoothedVariances, smooth_variances

__all__ = [
    "FH_METHODS",
    "MSE_METHODS",
    "FayHerriot",
    "SmoothedVariances",
    "fay_herriot",
    "smooth_variances",
]

