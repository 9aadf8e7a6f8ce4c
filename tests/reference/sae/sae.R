# Reference numbers for survey.estimation.sae from R sae 1.3 (Molina & Marhuenda):
# eblupFH and mseFH, methods REML, ML and FH, at sae's default precision
# (PRECISION = 1e-4, MAXITER = 100) and iterated to the optimum (PRECISION = 1e-10,
# MAXITER = 1000). Run from this folder after `python make_data.py`:
#     Rscript sae.R
# Writes sae_areas_expected.csv (case, method, precision, area, eblup, mse) and
# sae_fit_expected.csv (case, method, precision, quantity, term, value).
suppressPackageStartupMessages(library(sae))

synthetic <- read.csv("fh_synthetic.csv")
boundary  <- read.csv("fh_boundary.csv")
county    <- read.csv("county.csv")

cases <- list(
  synthetic    = list(data = synthetic, formula = y ~ x1 + x2 + as.factor(g), vardir = "psi", area = "area"),
  synthetic_noint = list(data = synthetic, formula = y ~ x1 + x2 - 1, vardir = "psi", area = "area"),
  boundary     = list(data = boundary,  formula = y ~ x1, vardir = "psi", area = "area"),
  county_gvf   = list(data = county, formula = direct ~ firms + revenue_prev, vardir = "var_gvf", area = "county"),
  county_direct = list(data = county, formula = direct ~ firms + revenue_prev, vardir = "var_direct", area = "county")
)

areas <- NULL
fits <- NULL
for (case in names(cases)) {
  cs <- cases[[case]]
  d <- cs$data
  d$vardir <- d[[cs$vardir]]
  for (precision in c(1e-4, 1e-10)) {
    maxiter <- if (precision < 1e-4) 1000 else 100
    for (method in c("REML", "ML", "FH")) {
      r <- mseFH(cs$formula, vardir, method = method, PRECISION = precision, MAXITER = maxiter, data = d)
      fit <- r$est$fit
      stopifnot(fit$convergence)
      areas <- rbind(areas, data.frame(case = case, method = method, precision = precision,
                                       area = d[[cs$area]], eblup = r$est$eblup[, 1], mse = r$mse))
      coef <- fit$estcoef
      terms <- sub("^X", "", rownames(coef))
      add <- function(quantity, term, value)
        data.frame(case = case, method = method, precision = precision, quantity = quantity,
                   term = term, value = value)
      fits <- rbind(fits,
        add("sigma2_v", "", fit$refvar),
        add("iterations", "", fit$iterations),
        add("loglik", "", fit$goodness[["loglike"]]),
        add("AIC", "", fit$goodness[["AIC"]]),
        add("BIC", "", fit$goodness[["BIC"]]),
        add("beta", terms, coef$beta),
        add("beta_se", terms, coef$std.error))
    }
  }
}
areas$eblup <- sprintf("%.17g", areas$eblup)
areas$mse <- sprintf("%.17g", areas$mse)
fits$value <- sprintf("%.17g", fits$value)
write.csv(areas, "sae_areas_expected.csv", row.names = FALSE, quote = c(1, 2, 4))
write.csv(fits, "sae_fit_expected.csv", row.names = FALSE, quote = c(1, 2, 4, 5))
cat("sae", as.character(packageVersion("sae")), "on", R.version.string, "\n")
