# Case 5: na.rm semantics. Rscript na.R -> na_expected.csv, data/na_apistrat.csv
# Data: apistrat with y1 = api00 and y2 = enroll, where y1 is NA in 15 random rows and
# y2 is NA in 15 other random rows (seed 20240621); design columns stype, pw, fpc;
# domain sch.wide. Designs:
#   d   <- svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = na_apistrat)
#   dc  <- svydesign(id = ~dnum, weights = ~pw, data = na_apistrat)   (dnum as clusters, no fpc,
#          stratum-free "cluster" design to show the domain behaviour with clusters)
#   rep <- as.svrepdesign(d, type = "JKn")
# Two-variable calls use complete cases across both variables (rows with any NA dropped
# as out-of-domain); one-variable calls use that variable's non-missing rows.
source("common.R")
data(api)
set.seed(20240621)
s <- apistrat[, c("cds", "stype", "dnum", "sch.wide", "pw", "fpc", "api00", "enroll")]
s$stype <- as.character(s$stype); s$sch.wide <- as.character(s$sch.wide)
s$y1 <- s$api00; s$y2 <- s$enroll
i <- sample.int(nrow(s), 30)
s$y1[i[1:15]] <- NA; s$y2[i[16:30]] <- NA
s$api00 <- NULL; s$enroll <- NULL
write_data(s, "na_apistrat")
add("na_pattern", "colSums(is.na(na_apistrat[, c('y1','y2')]))", "n_missing", "", "y1", sum(is.na(s$y1)))
add("na_pattern", "colSums(is.na(na_apistrat[, c('y1','y2')]))", "n_missing", "", "y2", sum(is.na(s$y2)))
add("na_pattern", "sum(complete.cases(na_apistrat[, c('y1','y2')]))", "n_complete", "", "", sum(complete.cases(s[, c("y1", "y2")])))
d <- svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = s)
dc <- svydesign(id = ~dnum, weights = ~pw, data = s)
rep <- as.svrepdesign(d, type = "JKn")
D <- list(strat = list("d", d), clus = list("dc", dc), jkn = list("rep", rep))
for (nm in names(D)) {
  dn <- D[[nm]][[1]]; x <- D[[nm]][[2]]
  for (fn in c("svymean", "svytotal")) {
    FUN <- get(fn)
    put_est(paste0(nm, "_", fn, "_both"), sprintf("%s(~y1 + y2, %s, na.rm = TRUE)", fn, dn), FUN(~y1 + y2, x, na.rm = TRUE))
    put_est(paste0(nm, "_", fn, "_y1"), sprintf("%s(~y1, %s, na.rm = TRUE)", fn, dn), FUN(~y1, x, na.rm = TRUE))
    put_est(paste0(nm, "_", fn, "_y2"), sprintf("%s(~y2, %s, na.rm = TRUE)", fn, dn), FUN(~y2, x, na.rm = TRUE))
    put_by(paste0(nm, "_", fn, "_by_sch.wide"), sprintf("svyby(~y1 + y2, ~sch.wide, %s, %s, na.rm = TRUE)", dn, fn),
           svyby(~y1 + y2, ~sch.wide, x, FUN, na.rm = TRUE), "sch.wide")
    put_by(paste0(nm, "_", fn, "_y1_by_sch.wide"), sprintf("svyby(~y1, ~sch.wide, %s, %s, na.rm = TRUE)", dn, fn),
           svyby(~y1, ~sch.wide, x, FUN, na.rm = TRUE), "sch.wide")
  }
  r <- svyratio(~y1, ~y2, x, na.rm = TRUE)
  rc <- sprintf("svyratio(~y1, ~y2, %s, na.rm = TRUE)", dn)
  add(paste0(nm, "_svyratio"), rc, "estimate", "", "y1/y2", coef(r)); add(paste0(nm, "_svyratio"), rc, "se", "", "y1/y2", SE(r))
}
# equivalence checks written out: complete-case svymean == domain mean with the
# complete-case indicator as domain (linearisation keeps the full design)
cc <- complete.cases(s[, c("y1", "y2")])
m_dom <- svymean(~y1 + y2, subset(d, cc))
stopifnot(isTRUE(all.equal(c(coef(m_dom), SE(m_dom)), c(coef(svymean(~y1 + y2, d, na.rm = TRUE)), SE(svymean(~y1 + y2, d, na.rm = TRUE))), check.attributes = FALSE)))
write_out("na")
