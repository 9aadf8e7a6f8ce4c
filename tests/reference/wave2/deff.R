# Case 4: design effects (deff = TRUE: vs SRS without replacement; deff = "replace": vs SRS
# with replacement). Rscript deff.R -> deff_expected.csv (data: ../data/apistrat.csv,
# ../data/apiclus1.csv; pps case: data/pps_brewer.csv written by pps.R).
# quantity deff = deff(est) (diag of attr(est, "deff")); svyby: the DEff column.
# column deff_type: TRUE | replace.
source("common.R")
data(api)
dstrat <- svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = apistrat)
dclus1 <- svydesign(id = ~dnum, weights = ~pw, fpc = ~fpc, data = apiclus1)
des <- list(strat = list("dstrat <- svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = apistrat)", dstrat, "awards"),
            clus1 = list("dclus1 <- svydesign(id = ~dnum, weights = ~pw, fpc = ~fpc, data = apiclus1)", dclus1, "stype"))
for (nm in names(des)) {
  dc <- des[[nm]][[1]]; d <- des[[nm]][[2]]; by <- des[[nm]][[3]]; dn <- sub(" <-.*", "", dc)
  for (dt in list(TRUE, "replace")) {
    dts <- if (isTRUE(dt)) "TRUE" else "'replace'"
    put_est(paste0(nm, "_total_deff"), sprintf("%s; svytotal(~enroll + api.stu, %s, deff = %s)", dc, dn, dts),
            svytotal(~enroll + api.stu, d, deff = dt), deff_type = dt)
    put_est(paste0(nm, "_mean_deff"), sprintf("%s; svymean(~api00 + api99, %s, deff = %s)", dc, dn, dts),
            svymean(~api00 + api99, d, deff = dt), deff_type = dt)
    r <- svyratio(~api.stu, ~enroll, d, deff = dt)
    rc <- sprintf("%s; svyratio(~api.stu, ~enroll, %s, deff = %s)", dc, dn, dts)
    add(paste0(nm, "_ratio_deff"), rc, "estimate", "", "api.stu/enroll", coef(r), deff_type = dt)
    add(paste0(nm, "_ratio_deff"), rc, "se", "", "api.stu/enroll", SE(r), deff_type = dt)
    add(paste0(nm, "_ratio_deff"), rc, "deff", "", "api.stu/enroll", attr(r, "deff"), deff_type = dt)
    put_by(paste0(nm, "_total_by_", by, "_deff"), sprintf("%s; svyby(~enroll, ~%s, %s, svytotal, deff = %s)", dc, by, dn, dts),
           svyby(~enroll, as.formula(paste("~", by)), d, svytotal, deff = dt), by, deff_type = dt)
    put_by(paste0(nm, "_mean_by_", by, "_deff"), sprintf("%s; svyby(~api00, ~%s, %s, svymean, deff = %s)", dc, by, dn, dts),
           svyby(~api00, as.formula(paste("~", by)), d, svymean, deff = dt), by, deff_type = dt)
    put_by(paste0(nm, "_ratio_by_", by, "_deff"), sprintf("%s; svyby(~api.stu, ~%s, %s, svyratio, denominator = ~enroll, deff = %s)", dc, by, dn, dts),
           svyby(~api.stu, as.formula(paste("~", by)), d, svyratio, denominator = ~enroll, deff = dt), by, deff_type = dt)
  }
  # ingredients (to check the formula): N-hat, n, svyvar
  add(paste0(nm, "_ingredients"), sprintf("sum(weights(%s))", dn), "N_hat", "", "", sum(weights(d)))
  add(paste0(nm, "_ingredients"), sprintf("nrow(%s)", dn), "n", "", "", nrow(d))
  sv <- svyvar(~enroll + api00, d)
  add(paste0(nm, "_ingredients"), sprintf("svyvar(~enroll + api00, %s)", dn), "svyvar", "", "enroll", sv[1, 1])
  add(paste0(nm, "_ingredients"), sprintf("svyvar(~enroll + api00, %s)", dn), "svyvar", "", "api00", sv[2, 2])
}
# pps designs of class "pps" (HR/overton/ppsmat) use svytotal.pps, whose deff formula differs
# (see r15 notes): recorded to document R, not as a target.
sA <- read.csv("data/pps_brewer.csv")
for (m in c("brewer", "HR")) {
  d <- if (m == "brewer") svydesign(id = ~1, fpc = ~pi, data = sA, pps = "brewer") else svydesign(id = ~1, fpc = ~pi, data = sA, pps = HR())
  dc <- sprintf("svydesign(id = ~1, fpc = ~pi, data = pps_brewer, pps = %s)", if (m == "brewer") "'brewer'" else "HR()")
  for (dt in list(TRUE, "replace")) {
    dts <- if (isTRUE(dt)) "TRUE" else "'replace'"
    put_est(paste0("pps_", m, "_total_deff"), sprintf("%s; svytotal(~RMT85, d, deff = %s)", dc, dts), svytotal(~RMT85, d, deff = dt), deff_type = dt)
    put_est(paste0("pps_", m, "_mean_deff"), sprintf("%s; svymean(~RMT85, d, deff = %s)", dc, dts), svymean(~RMT85, d, deff = dt), deff_type = dt)
  }
}
write_out("deff")
