# Case 3: svyciprop confidence intervals for a small proportion.
# Rscript ciprop.R -> ciprop_expected.csv (data: ../data/apistrat.csv, ../data/apiclus1.csv)
# Designs:
#   dstrat <- svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = apistrat)
#   dclus1 <- svydesign(id = ~dnum, weights = ~pw, fpc = ~fpc, data = apiclus1)
# Proportions: I(api00 > 850) in dstrat (13 of 200), I(api00 > 800) in dclus1 (14 of 183).
# quantity: estimate, se (sqrt of attr(, "var") = svymean variance), ci_low, ci_high
# (level 0.95), degf (df passed to the interval: degf(design), or degf of the domain's
# subset design inside svyby), n (rows of the (subset) design: nrow(design), used by "beta").
# Domains: stype (dstrat), comp.imp (dclus1; domain "No" has 1 success in 50), and the edge
# case stype in dclus1 (H: no success; R errors for likelihood -> row quantity "error").
source("common.R")
data(api)
dstrat <- svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = apistrat)
dclus1 <- svydesign(id = ~dnum, weights = ~pw, fpc = ~fpc, data = apiclus1)
methods <- c("mean", "logit", "likelihood", "beta", "asin", "xlogit")
cases <- list(
  list(tag = "strat", dname = "dstrat", d = dstrat, f = ~I(api00 > 850), fs = "~I(api00 > 850)", by = "stype"),
  list(tag = "clus1", dname = "dclus1", d = dclus1, f = ~I(api00 > 800), fs = "~I(api00 > 800)", by = "comp.imp"),
  # edge case: a domain with no successes (stype H has none above 800 in apiclus1)
  list(tag = "clus1_zero", dname = "dclus1", d = dclus1, f = ~I(api00 > 800), fs = "~I(api00 > 800)", by = "stype"))
for (cs in cases) for (m in methods) {
  if (cs$tag != "clus1_zero") {
    rc <- sprintf("svyciprop(%s, %s, method = '%s')", cs$fs, cs$dname, m)
    ci <- svyciprop(cs$f, cs$d, method = m)
    v <- names(ci)
    add(paste0(cs$tag, "_ciprop"), rc, "estimate", "", v, coef(ci), method = m)
    add(paste0(cs$tag, "_ciprop"), rc, "se", "", v, SE(ci), method = m)
    add(paste0(cs$tag, "_ciprop"), rc, "ci_low", "", v, confint(ci)[1], method = m)
    add(paste0(cs$tag, "_ciprop"), rc, "ci_high", "", v, confint(ci)[2], method = m)
    add(paste0(cs$tag, "_ciprop"), rc, "degf", "", v, degf(cs$d), method = m)
    add(paste0(cs$tag, "_ciprop"), rc, "n", "", v, nrow(cs$d), method = m)
  }
  rc <- sprintf("svyby(%s, ~%s, %s, svyciprop, vartype = c('se', 'ci'), method = '%s')", cs$fs, cs$by, cs$dname, m)
  b <- tryCatch(svyby(cs$f, as.formula(paste("~", cs$by)), cs$d, svyciprop, vartype = c("se", "ci"), method = m),
                error = function(e) e)
  if (inherits(b, "error")) { add(paste0(cs$tag, "_ciprop_by_", cs$by), rc, "error", "", "", NA, method = m, note = conditionMessage(b)); next }
  put_by(paste0(cs$tag, "_ciprop_by_", cs$by), rc, b, cs$by, method = m)
  for (k in sort(unique(as.character(cs$d$variables[[cs$by]])))) {
    sub <- cs$d[as.character(cs$d$variables[[cs$by]]) == k, ]
    add(paste0(cs$tag, "_ciprop_by_", cs$by), rc, "degf", k, "", degf(sub), method = m)
    add(paste0(cs$tag, "_ciprop_by_", cs$by), rc, "n", k, "", nrow(sub), method = m)
  }
}
# the same ci via svyby(..., vartype = "ci") only (columns ci_l, ci_u)
b <- svyby(~I(api00 > 850), ~stype, dstrat, svyciprop, vartype = "ci", method = "logit")
put_by("strat_ciprop_by_stype_vartype_ci", "svyby(~I(api00 > 850), ~stype, dstrat, svyciprop, vartype = 'ci', method = 'logit')", b, "stype", method = "logit")
write_out("ciprop")
