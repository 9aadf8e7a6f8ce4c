# Case 9: domain quantiles with Woodruff confidence intervals.
# Rscript quantile_domains.R -> quantile_domains_expected.csv (data: ../data/apistrat.csv, ../data/apiclus1.csv)
#   dstrat <- svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = apistrat)
#   dclus1 <- svydesign(id = ~dnum, weights = ~pw, fpc = ~fpc, data = apiclus1)
#   svyby(~api00, ~dom, design, svyquantile, quantiles = c(0.25, 0.5, 0.75), ci = TRUE, vartype = c("se", "ci"))
# (defaults: qrule = "math", interval.type = "mean", alpha = 0.05, df = degf(domain subset design)).
# Column prob = the quantile level; quantity estimate | se | ci_low | ci_high (the svyby columns
# ci_l/ci_u = svyquantile's Woodruff interval, NOT coef +- t*se); se = (ci_high - ci_low)/(2 qt(0.975, df)).
# Per domain also: degf = degf(subset(design, dom == k)), n = rows in the domain.
# NaN: the Woodruff interval is undefined when the CDF band leaves [0, 1] (small clustered domains).
source("common.R")
data(api)
dstrat <- svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = apistrat)
dclus1 <- svydesign(id = ~dnum, weights = ~pw, fpc = ~fpc, data = apiclus1)
qs <- c(0.25, 0.5, 0.75)
cases <- list(list("strat", "dstrat", dstrat, "awards"), list("strat", "dstrat", dstrat, "sch.wide"),
              list("clus1", "dclus1", dclus1, "stype"), list("clus1", "dclus1", dclus1, "comp.imp"))
for (cs in cases) {
  tag <- cs[[1]]; dn <- cs[[2]]; d <- cs[[3]]; by <- cs[[4]]
  rc <- sprintf("svyby(~api00, ~%s, %s, svyquantile, quantiles = c(0.25, 0.5, 0.75), ci = TRUE, vartype = c('se', 'ci'))", by, dn)
  b <- as.data.frame(svyby(~api00, as.formula(paste("~", by)), d, svyquantile, quantiles = qs, ci = TRUE, vartype = c("se", "ci")))
  case <- paste0(tag, "_quantile_by_", by)
  for (i in seq_len(nrow(b))) {
    k <- as.character(b[i, by])
    for (q in qs) {
      add(case, rc, "estimate", k, "api00", b[i, paste0("api00.", q)], prob = q)
      add(case, rc, "se", k, "api00", b[i, paste0("se.api00.", q)], prob = q)
      add(case, rc, "ci_low", k, "api00", b[i, paste0("ci_l.api00.", q)], prob = q)
      add(case, rc, "ci_high", k, "api00", b[i, paste0("ci_u.api00.", q)], prob = q)
    }
    sub <- d[as.character(d$variables[[by]]) == k, ]
    add(case, sprintf("degf(subset(%s, %s == '%s'))", dn, by, k), "degf", k, "", degf(sub), prob = "")
    add(case, sprintf("nrow(subset(%s, %s == '%s'))", dn, by, k), "n", k, "", nrow(sub), prob = "")
    # the same numbers from svyquantile on the subset design (what svyby calls)
    sq <- svyquantile(~api00, sub, qs, ci = TRUE, se = TRUE)$api00
    stopifnot(isTRUE(all.equal(unname(sq[, 1]), unname(unlist(b[i, paste0("api00.", qs)])))))
  }
}
write_out("quantile_domains")
