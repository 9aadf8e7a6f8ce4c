# Case 10: user-supplied replicate weights (svrepdesign) and svycontrast on domain totals.
# Rscript svrep_contrast.R -> svrep_contrast_expected.csv, data/svrep_<type>.csv
# Each data/svrep_<type>.csv holds the design variables, the sampling weight pw and the
# replicate ANALYSIS weights rep1..repR exported from weights(as.svrepdesign(...), "analysis")
# (combined weights: they already include pw). Every case rebuilds the design with
#   svrepdesign(data = svrep_<type>, repweights = "rep[0-9]+", weights = ~pw, type = ...,
#               combined.weights = TRUE, scale = ..., rscales = ..., rho = ..., mse = ...)
# and checks (stopifnot) that svytotal/svymean equal the as.svrepdesign() originals.
# Sources:
#   jk1       as.svrepdesign(dclus1, type = "JK1")    dclus1 = apiclus1 one-stage cluster, fpc = 757
#   jkn       as.svrepdesign(dstrat, type = "JKn")    dstrat = apistrat stratified, fpc
#   bootstrap as.svrepdesign(dclus1, type = "bootstrap", replicates = 50)  (set.seed(20240641))
#   brr, fay  as.svrepdesign(dpair, type = "BRR" / "Fay", fay.rho = 0.3)   dpair = MU284, 16 strata
#             (REG x size half), 2 units per stratum, svydesign(id = ~1, strata = ~stratum, weights = ~pw)
#   other     the jkn weights with type = "other", scale = 1, rscales = <jkn rscales>
# svycontrast on b <- svyby(~y, ~dom, d, svytotal, covmat = TRUE):
#   lincomb  svycontrast(b, c(1, 2, -1))          (weights in domain order)
#   diff     svycontrast(b, c(1, -1, 0))  = first minus second domain
#   ratio    svycontrast(b, quote(A/B))          (delta method with the covmat)
# (lin_clus1: domains crossing clusters; lin_clus1_ind_*: same via domain-indicator products)
# and for replicate designs also with return.replicates = TRUE (ratio computed replicate-by-replicate;
# the linear contrast errors in R 4.1.1 with replicates -> quantity "error").
source("common.R")
data(api); data(MU284)
dstrat <- svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = apistrat)
dclus1 <- svydesign(id = ~dnum, weights = ~pw, fpc = ~fpc, data = apiclus1)
pop <- MU284; pop$LABEL <- seq_len(nrow(pop))
pop$size <- ave(pop$P85, pop$REG, FUN = function(x) ifelse(x > median(x), "big", "small"))
pop$stratum <- paste(pop$REG, pop$size, sep = ".")
pop$grp <- ifelse(pop$REG <= 3, "A", ifelse(pop$REG <= 5, "B", "C"))
set.seed(20240642)
pair <- do.call(rbind, lapply(split(pop, pop$stratum), function(p) { x <- p[sort(sample.int(nrow(p), 2)), ]; x$pw <- nrow(p) / 2; x }))
rownames(pair) <- NULL
pair <- pair[, c("LABEL", "REG", "size", "stratum", "grp", "pw", "P85", "RMT85", "REV84")]
dpair <- svydesign(id = ~1, strata = ~stratum, weights = ~pw, data = pair)

export <- function(rep, dat, keep, name) {
  W <- weights(rep, "analysis"); colnames(W) <- paste0("rep", seq_len(ncol(W)))
  out <- data.frame(dat[, keep], pw = weights(rep, "sampling"), W, check.names = FALSE)
  write_data(out, name); out
}
contrasts_on <- function(case, dcall, d, y, dom, replicate) {
  f <- as.formula(paste("~", y)); g <- as.formula(paste("~", dom))
  b <- svyby(f, g, d, svytotal, covmat = TRUE)
  lv <- names(coef(b))
  bc <- sprintf("%s; b <- svyby(~%s, ~%s, d, svytotal, covmat = TRUE)", dcall, y, dom)
  put_by(paste0(case, "_domain_totals"), bc, b, dom)
  for (i in seq_along(lv)) for (j in seq_along(lv)) add(paste0(case, "_domain_totals"), paste0(bc, "; vcov(b)"), "cov", paste0(lv[i], ",", lv[j]), y, vcov(b)[i, j])
  w1 <- c(1, 2, -1); names(w1) <- lv
  w2 <- c(1, -1, 0); names(w2) <- lv
  rq <- parse(text = sprintf("quote(%s/%s)", lv[1], lv[2]))[[1]]
  rx <- eval(rq)
  put_est(paste0(case, "_contrast_lincomb"), sprintf("%s; svycontrast(b, c(%s = 1, %s = 2, %s = -1))", bc, lv[1], lv[2], lv[3]), svycontrast(b, w1), with_var = TRUE)
  put_est(paste0(case, "_contrast_diff"), sprintf("%s; svycontrast(b, c(%s = 1, %s = -1, %s = 0))", bc, lv[1], lv[2], lv[3]), svycontrast(b, w2), with_var = TRUE)
  put_est(paste0(case, "_contrast_ratio"), sprintf("%s; svycontrast(b, quote(%s/%s))", bc, lv[1], lv[2]), svycontrast(b, rx), with_var = TRUE)
  if (replicate) {
    br <- svyby(f, g, d, svytotal, covmat = TRUE, return.replicates = TRUE)
    brc <- sprintf("%s; b <- svyby(~%s, ~%s, d, svytotal, covmat = TRUE, return.replicates = TRUE)", dcall, y, dom)
    # R 4.1.1: linear svycontrast on an svyby object carrying replicates fails inside
    # vcov.svrepstat ('data' must be of a vector type) -> recorded as an error row
    lc <- tryCatch(svycontrast(br, w1), error = function(e) e)
    lcc <- sprintf("%s; svycontrast(b, c(%s = 1, %s = 2, %s = -1))", brc, lv[1], lv[2], lv[3])
    if (inherits(lc, "error")) add(paste0(case, "_contrast_lincomb_reps"), lcc, "error", "", "", NA, note = conditionMessage(lc))
    else put_est(paste0(case, "_contrast_lincomb_reps"), lcc, lc, with_var = TRUE)
    put_est(paste0(case, "_contrast_ratio_reps"), sprintf("%s; svycontrast(b, quote(%s/%s))", brc, lv[1], lv[2]), svycontrast(br, rx), with_var = TRUE)
  }
}
same <- function(a, b) stopifnot(isTRUE(all.equal(c(coef(a), SE(a)), c(coef(b), SE(b)), check.attributes = FALSE)))
estimates <- function(case, dcall, d, orig, ys) {
  f <- as.formula(paste("~", paste(ys, collapse = " + ")))
  t <- svytotal(f, d); m <- svymean(f, d)
  if (!is.null(orig)) { same(t, svytotal(f, orig)); same(m, svymean(f, orig)) }
  put_est(paste0(case, "_total"), sprintf("%s; svytotal(~%s, d)", dcall, paste(ys, collapse = " + ")), t, with_var = TRUE)
  put_est(paste0(case, "_mean"), sprintf("%s; svymean(~%s, d)", dcall, paste(ys, collapse = " + ")), m, with_var = TRUE)
  add(paste0(case, "_design"), paste0(dcall, "; d$scale"), "scale", "", "", d$scale)
  add(paste0(case, "_design"), paste0(dcall, "; degf(d)"), "degf", "", "", degf(d))
  add(paste0(case, "_design"), paste0(dcall, "; ncol(d$repweights)"), "n_replicates", "", "", ncol(weights(d, "analysis")))
  if (length(unique(d$rscales)) == 1) add(paste0(case, "_design"), paste0(dcall, "; d$rscales"), "rscales_all", "", "", d$rscales[1])
  else for (k in seq_along(d$rscales)) add(paste0(case, "_design"), paste0(dcall, "; d$rscales"), "rscale", "", k, d$rscales[k])
}

## linearisation reference for the contrasts
contrasts_on("lin_strat", "d <- svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = apistrat)", dstrat, "enroll", "stype", FALSE)
contrasts_on("lin_pair", "d <- svydesign(id = ~1, strata = ~stratum, weights = ~pw, data = svrep_brr)", dpair, "RMT85", "grp", FALSE)
# domains crossing the clusters: svyby(covmat = TRUE) on a survey.design2 object dispatches to
# svyby.survey.design2, which stacks the zero-padded influence functions of the domain
# estimates and runs them through svyrecvar -> full cross-domain covariance. The rows
# "lin_clus1_ind_*" get the same numbers from svytotal of domain-indicator products (checked).
contrasts_on("lin_clus1", "d <- svydesign(id = ~dnum, weights = ~pw, fpc = ~fpc, data = apiclus1)", dclus1, "enroll", "stype", FALSE)
dci <- update(dclus1, E = enroll * (stype == "E"), H = enroll * (stype == "H"), M = enroll * (stype == "M"))
ic <- "d <- update(svydesign(id = ~dnum, weights = ~pw, fpc = ~fpc, data = apiclus1), E = enroll * (stype == 'E'), H = enroll * (stype == 'H'), M = enroll * (stype == 'M')); s <- svytotal(~E + H + M, d)"
si <- svytotal(~E + H + M, dci)
put_est("lin_clus1_ind_domain_totals", ic, si, with_var = TRUE)
for (i in 1:3) for (j in 1:3) add("lin_clus1_ind_domain_totals", paste0(ic, "; vcov(s)"), "cov", paste0(c("E", "H", "M")[i], ",", c("E", "H", "M")[j]), "enroll", vcov(si)[i, j])
put_est("lin_clus1_ind_contrast_lincomb", paste0(ic, "; svycontrast(s, c(E = 1, H = 2, M = -1))"), svycontrast(si, c(E = 1, H = 2, M = -1)), with_var = TRUE)
put_est("lin_clus1_ind_contrast_diff", paste0(ic, "; svycontrast(s, c(E = 1, H = -1, M = 0))"), svycontrast(si, c(E = 1, H = -1, M = 0)), with_var = TRUE)
put_est("lin_clus1_ind_contrast_ratio", paste0(ic, "; svycontrast(s, quote(E/H))"), svycontrast(si, quote(E/H)), with_var = TRUE)
stopifnot(isTRUE(all.equal(unname(vcov(si)), unname(vcov(svyby(~enroll, ~stype, dclus1, svytotal, covmat = TRUE))))))

## JK1
r <- as.svrepdesign(dclus1, type = "JK1")
x <- export(r, apiclus1, c("cds", "dnum", "stype", "enroll", "api00"), "svrep_jk1")
n <- length(unique(apiclus1$dnum))
dc <- sprintf("d <- svrepdesign(data = svrep_jk1, repweights = 'rep[0-9]+', weights = ~pw, type = 'JK1', combined.weights = TRUE, scale = %.15g)", r$scale)
d <- svrepdesign(data = x, repweights = "rep[0-9]+", weights = ~pw, type = "JK1", combined.weights = TRUE, scale = r$scale)
estimates("jk1", dc, d, r, c("enroll", "api00")); contrasts_on("jk1", dc, d, "enroll", "stype", TRUE)
dc2 <- sprintf("d <- svrepdesign(data = svrep_jk1, repweights = 'rep[0-9]+', weights = ~pw, type = 'JK1', combined.weights = TRUE, scale = (15 - 1)/15, fpc = rep(15/757, 15), fpctype = 'fraction')")
d2 <- svrepdesign(data = x, repweights = "rep[0-9]+", weights = ~pw, type = "JK1", combined.weights = TRUE, scale = (n - 1) / n, fpc = rep(n / 757, n), fpctype = "fraction")
estimates("jk1_fpcarg", dc2, d2, r, c("enroll", "api00"))

## JKn with rscales
r <- as.svrepdesign(dstrat, type = "JKn")
x <- export(r, apistrat, c("cds", "stype", "enroll", "api00"), "svrep_jkn")
rs <- r$rscales
add("jkn_rscales_by_stratum", "as.svrepdesign(dstrat, type = 'JKn')$rscales: (n_h - 1)/n_h * (1 - n_h/N_h), one per replicate", "rscale_of_stratum", "E", "", unique(rs[1:100]))
dc <- "d <- svrepdesign(data = svrep_jkn, repweights = 'rep[0-9]+', weights = ~pw, type = 'JKn', combined.weights = TRUE, scale = 1, rscales = <rscales: replicates 1-100 (E) (99/100)*(1-100/4421), 101-150 (H) (49/50)*(1-50/755), 151-200 (M) (49/50)*(1-50/1018)>)"
d <- svrepdesign(data = x, repweights = "rep[0-9]+", weights = ~pw, type = "JKn", combined.weights = TRUE, scale = 1, rscales = rs)
estimates("jkn", dc, d, r, c("enroll", "api00")); contrasts_on("jkn", dc, d, "enroll", "stype", TRUE)
dm <- svrepdesign(data = x, repweights = "rep[0-9]+", weights = ~pw, type = "JKn", combined.weights = TRUE, scale = 1, rscales = rs, mse = TRUE)
estimates("jkn_mse", sub("combined.weights = TRUE", "combined.weights = TRUE, mse = TRUE", dc), dm, NULL, c("enroll", "api00"))
## other = the JKn weights with explicit scale and rscales
do <- svrepdesign(data = x, repweights = "rep[0-9]+", weights = ~pw, type = "other", combined.weights = TRUE, scale = 1, rscales = rs)
estimates("other", sub("type = 'JKn'", "type = 'other'", dc), do, r, c("enroll", "api00")); contrasts_on("other", sub("type = 'JKn'", "type = 'other'", dc), do, "enroll", "stype", TRUE)
do2 <- svrepdesign(data = x, repweights = "rep[0-9]+", weights = ~pw, type = "other", combined.weights = TRUE, scale = 0.5, rscales = rs, mse = TRUE)
estimates("other_scale_mse", sub("type = 'JKn', combined.weights = TRUE, scale = 1", "type = 'other', combined.weights = TRUE, mse = TRUE, scale = 0.5", dc), do2, NULL, c("enroll", "api00"))

## bootstrap
set.seed(20240641)
r <- as.svrepdesign(dclus1, type = "bootstrap", replicates = 50)
x <- export(r, apiclus1, c("cds", "dnum", "stype", "enroll", "api00"), "svrep_bootstrap")
dc <- sprintf("d <- svrepdesign(data = svrep_bootstrap, repweights = 'rep[0-9]+', weights = ~pw, type = 'bootstrap', combined.weights = TRUE, scale = %.15g)", r$scale)
d <- svrepdesign(data = x, repweights = "rep[0-9]+", weights = ~pw, type = "bootstrap", combined.weights = TRUE, scale = r$scale)
estimates("bootstrap", dc, d, r, c("enroll", "api00")); contrasts_on("bootstrap", dc, d, "enroll", "stype", TRUE)
dm <- svrepdesign(data = x, repweights = "rep[0-9]+", weights = ~pw, type = "bootstrap", combined.weights = TRUE, scale = r$scale, mse = TRUE)
estimates("bootstrap_mse", sub("combined.weights = TRUE", "combined.weights = TRUE, mse = TRUE", dc), dm, NULL, c("enroll", "api00"))
dd <- svrepdesign(data = x, repweights = "rep[0-9]+", weights = ~pw, type = "bootstrap", combined.weights = TRUE)
estimates("bootstrap_default_scale", "d <- svrepdesign(data = svrep_bootstrap, repweights = 'rep[0-9]+', weights = ~pw, type = 'bootstrap', combined.weights = TRUE)  [scale = 1/(R - 1)]", dd, NULL, c("enroll", "api00"))

## BRR and Fay on the paired design
r <- as.svrepdesign(dpair, type = "BRR")
x <- export(r, pair, c("LABEL", "REG", "size", "stratum", "grp", "RMT85", "REV84"), "svrep_brr")
dc <- "d <- svrepdesign(data = svrep_brr, repweights = 'rep[0-9]+', weights = ~pw, type = 'BRR', combined.weights = TRUE)"
d <- svrepdesign(data = x, repweights = "rep[0-9]+", weights = ~pw, type = "BRR", combined.weights = TRUE)
estimates("brr", dc, d, r, c("RMT85", "REV84")); contrasts_on("brr", dc, d, "RMT85", "grp", TRUE)
r <- as.svrepdesign(dpair, type = "Fay", fay.rho = 0.3)
x <- export(r, pair, c("LABEL", "REG", "size", "stratum", "grp", "RMT85", "REV84"), "svrep_fay")
dc <- "d <- svrepdesign(data = svrep_fay, repweights = 'rep[0-9]+', weights = ~pw, type = 'Fay', rho = 0.3, combined.weights = TRUE)"
d <- svrepdesign(data = x, repweights = "rep[0-9]+", weights = ~pw, type = "Fay", rho = 0.3, combined.weights = TRUE)
estimates("fay", dc, d, r, c("RMT85", "REV84")); contrasts_on("fay", dc, d, "RMT85", "grp", TRUE)
write_out("svrep_contrast")
