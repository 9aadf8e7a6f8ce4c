# Independent re-computation of a selection of the wave-2 reference numbers from the
# committed data CSVs with the formulas written out (base R only: no survey calls).
# Rscript formula_checks.R  (after run_all.R) -> prints "all formula checks passed".
# It documents the exact formulas R uses; see also the notes kept by the project lead.
rd <- function(f) read.csv(f, stringsAsFactors = FALSE)
ex <- function(file, case, quantity, variable = NULL, domain = NULL, ...) {
  e <- rd(file); k <- e$case == case & e$quantity == quantity
  if (!is.null(variable)) k <- k & e$variable == variable
  if (!is.null(domain)) k <- k & e$domain == domain
  extra <- list(...); for (nm in names(extra)) k <- k & as.character(e[[nm]]) == as.character(extra[[nm]])
  stopifnot(sum(k) == 1); e$value[k]
}
chk <- function(a, b, what, tol = 1e-9) {
  ok <- if (is.nan(b)) is.nan(a) else abs(a - b) <= tol * max(1, abs(b))
  if (!ok) stop(sprintf("%s: formula %.15g vs R %.15g", what, a, b))
}

## 1. pi-ps: Brewer, Overton, Hartley-Rao, exact HT / SYG, Poisson (total of RMT85)
s <- rd("data/pps_brewer.csv"); n <- nrow(s); p <- s$pi; yh <- s$RMT85 / p
V_brewer <- n / (n - 1) * sum((1 - p) * (yh - mean(yh))^2)
chk(V_brewer, ex("pps_expected.csv", "brewer_sample_brewer_total", "var", "RMT85"), "Brewer total")
fbar <- outer(p, p, "+") / 2
D_ov <- 1 - (n - fbar) / (n - 1); D_ov[fbar == 1] <- 0; diag(D_ov) <- 1 - p
chk(drop(t(yh) %*% D_ov %*% yh), ex("pps_expected.csv", "brewer_sample_overton_total", "var", "RMT85"), "Overton HT total")
chk(drop(t(yh) %*% D_ov %*% yh) - sum(D_ov %*% yh^2), ex("pps_expected.csv", "brewer_sample_overton_YG_total", "var", "RMT85"), "Overton YG total")
p2 <- ex("pps_expected.csv", "pop_pik", "sum_pik2_over_n", "pik")
D_hr <- 1 - (n - outer(p, p, "+") + p2) / (n - 1); D_hr[outer(p, p, "+") == 1] <- 0; diag(D_hr) <- 1 - p
chk(drop(t(yh) %*% D_hr %*% yh), ex("pps_expected.csv", "brewer_sample_HR_pop_total", "var", "RMT85"), "HR(pop) total")
D_hr1 <- 1 - (n - outer(p, p, "+") + mean(p)) / (n - 1); D_hr1[outer(p, p, "+") == 1] <- 0; diag(D_hr1) <- 1 - p
chk(drop(t(yh) %*% D_hr1 %*% yh), ex("pps_expected.csv", "brewer_sample_HR_sample_total", "var", "RMT85"), "HR() total")
# stratified HR: p2bar per stratum (HR(list(c(...))) indexed by the numeric stratum code)
s <- rd("data/pps_strat_brewer.csv"); p <- s$pi; yh <- s$RMT85 / p
e <- rd("pps_expected.csv"); p2h <- e$value[e$case == "strat_pop_pik"]   # A, B, C = strata 1, 2, 3
nh <- ave(p, s$stratum, FUN = length); same <- outer(s$stratum, s$stratum, "==")
D <- 1 - (nh - outer(p, p, "+") + p2h[s$stratum]) / (nh - 1); D[!same | outer(p, p, "+") == 1] <- 0; diag(D) <- 1 - p
chk(drop(t(yh) %*% D %*% yh), ex("pps_expected.csv", "strat_brewer_HR_pop_total", "var", "RMT85"), "stratified HR(pop) total")
# Brewer per stratum
V <- sum(tapply(seq_along(p), s$stratum, function(i) { m <- length(i); m / (m - 1) * sum((1 - p[i]) * (yh[i] - mean(yh[i]))^2) }))
chk(V, ex("pps_expected.csv", "strat_brewer_brewer_total", "var", "RMT85"), "stratified Brewer total")
s <- rd("data/pps_brewer.csv"); n <- nrow(s); p <- s$pi
# Overton and Brewer agree for means (sum of centred values is 0)
w <- 1 / p; z <- (s$RMT85 - sum(w * s$RMT85) / sum(w)) * w / sum(w)
chk(drop(t(z) %*% D_ov %*% z), ex("pps_expected.csv", "brewer_sample_brewer_mean", "var", "RMT85"), "Overton mean = Brewer mean")
# exact joint probabilities, tolerance 1e-4 truncation of Dcheck
s <- rd("data/pps_maxent.csv"); P <- as.matrix(rd("data/pps_maxent_pi2.csv")); p <- s$pi; yh <- s$RMT85 / p
D <- (P - outer(p, p)) / P; D[abs(D) < 1e-4] <- 0
yh2 <- s$REV84 / p
chk(drop(t(yh2) %*% D %*% yh2), ex("pps_expected.csv", "maxent_ppsmat_HT_total", "var", "REV84"), "ppsmat HT total")
chk(drop(t(yh2) %*% D %*% yh2) - sum(D %*% yh2^2), ex("pps_expected.csv", "maxent_ppsmat_YG_total", "var", "REV84"), "ppsmat YG total")
D0 <- (P - outer(p, p)) / P
chk(-0.5 * sum(D0 * outer(yh2, yh2, "-")^2), ex("pps_expected.csv", "maxent_ppsmat_tol0_YG_total", "var", "REV84"), "SYG textbook form")
s <- rd("data/pps_poisson.csv"); p <- s$pi; yh <- s$RMT85 / p
chk(sum((1 - p) * yh^2), ex("pps_expected.csv", "poisson_total", "var", "RMT85"), "Poisson total")

## 3. svyciprop (apistrat, I(api00 > 850)): se = svymean se; df = degf = 197; n = 200
g <- function(q, m) ex("ciprop_expected.csv", "strat_ciprop", q, "I(api00 > 850)", method = m)
p <- g("estimate", "mean"); se <- g("se", "mean"); t <- qt(0.975, 197)
chk(p - t * se, g("ci_low", "mean"), "ciprop mean")
ne <- p * (1 - p) / se^2 * (qt(0.025, 200 - 1) / qt(0.025, 197))^2
chk(qbeta(0.025, ne * p, ne * (1 - p) + 1), g("ci_low", "beta"), "ciprop beta low")
chk(qbeta(0.975, ne * p + 1, ne * (1 - p)), g("ci_high", "beta"), "ciprop beta high")
chk(sin(asin(sqrt(p)) - t * se / (2 * sqrt(p * (1 - p))))^2, g("ci_low", "asin"), "ciprop asin")
chk(plogis(qlogis(p) + t * se / (p * (1 - p))), g("ci_high", "xlogit"), "ciprop xlogit")
chk(plogis(qlogis(p) - t * se / (p * (1 - p))), g("ci_low", "logit"), "ciprop logit (glm fit)", 1e-6)

## 4. deff (stratified apistrat, svytotal enroll, deff = TRUE / "replace")
a <- rd("../data/apistrat.csv"); w <- a$pw; y <- a$enroll; nn <- nrow(a); N <- sum(w)
sv <- sum(w * (y - sum(w * y) / N)^2) / N * nn / (nn - 1)            # svyvar
V <- ex("deff_expected.csv", "strat_total_deff", "se", "enroll", deff_type = "TRUE")^2
chk(V / (sv * N^2 * (N - nn) / (N * nn)), ex("deff_expected.csv", "strat_total_deff", "deff", "enroll", deff_type = "TRUE"), "deff total", 1e-7)
chk(V / (sv * N^2 / nn), ex("deff_expected.csv", "strat_total_deff", "deff", "enroll", deff_type = "replace"), "deff total replace", 1e-7)

## 6. postStratify partial: weight = N_c / sum of sample weights in cell c, present cells only
a <- rd("../data/apisrs.csv"); pop <- rd("data/poststrat_pop_cname.csv")
Nc <- pop$Freq[match(a$cname, pop$cname)]; wc <- ave(a$pw, a$cname, FUN = sum)
wps <- a$pw * Nc / wc
chk(sum(wps * a$enroll), ex("poststratify_partial_expected.csv", "srs_ps_partial_total", "estimate", "enroll"), "poststrat total")
r <- wps * (a$enroll - ave(a$pw * a$enroll, a$cname, FUN = sum) / wc)   # residual within cell (old-weight mean)
n <- nrow(a); f <- 1 - n / a$fpc[1]
chk(sqrt(f * n / (n - 1) * sum((r - mean(r))^2)), ex("poststratify_partial_expected.csv", "srs_ps_partial_total", "se", "enroll"), "poststrat se")

## 7. trimWeights: equal redistribution, strict = repeat
t <- rd("data/trim_pps_weights.csv")
trim1 <- function(w, lo, up) { out <- w < lo | w > up; wn <- pmin(pmax(w, lo), up); wn[!out] <- wn[!out] + sum(w - wn) / sum(!out); wn }
chk(max(abs(trim1(t$w_before, 1.5, 12) - t$w_nonstrict)), 0, "trim nonstrict")
w <- t$w_before; repeat { if (!any(w < 1.5 | w > 12)) break; w <- trim1(w, 1.5, 12) }
chk(max(abs(w - t$w_strict)), 0, "trim strict")

# trimmed calibrated design: residuals use the STORED calibration (g, w0), not the trimmed weights
a <- rd("../data/apistrat.csv"); t <- rd("data/trim_cal_weights.csv"); stopifnot(all(t$id == a$cds))
X <- model.matrix(~stype + api99 + enroll, a); w0 <- a$pw; G <- t$w_before / w0 * sqrt(w0); Q <- qr(X * sqrt(w0))
e <- G * qr.resid(Q, a$enroll * t$w_nonstrict / G)
V <- sum(tapply(seq_along(e), a$stype, function(i) { n <- length(i); f <- 1 - n / a$fpc[i[1]]; f * n / (n - 1) * sum((e[i] - mean(e[i]))^2) }))
chk(sqrt(V), ex("trim_expected.csv", "cal_trim_nonstrict_total", "se", "enroll"), "trimmed calibrated se", 1e-7)

## 8. JKn lonely replicate weights (lonely stratum REG 7, 8 strata, 29 PSUs)
s <- rd("data/lonely_mu284.csv"); y <- s$RMT85
rw <- as.matrix(rd("data/lonely_jkn_adjust_repweights.csv")[, -1])
lone <- which(s$REG == 7)
j <- which(rw[lone, ] == 0)      # the lonely stratum's replicate (column 25: strata in order of appearance)
chk(length(j), 1, "adjust: one replicate for the lonely stratum")
chk(max(abs(rw[-lone, j] / s$weight[-lone] - 8 / 7)), 0, "adjust: all other units x nstrat/(nstrat-1)")
rs <- rd("lonely_replicates_expected.csv"); rs <- rs[rs$case == "jkn_design" & rs$quantity == "rscale" & rs$lonely_psu == "adjust", "value"]
th <- colSums(rw * y); V <- sum(rs * (th - mean(th))^2)
chk(sqrt(V), ex("lonely_replicates_expected.csv", "jkn_total", "se", "RMT85", lonely_psu = "adjust"), "JKn adjust total se")
rw <- as.matrix(rd("data/lonely_jkn_average_repweights.csv")[, -1])
rs <- rd("lonely_replicates_expected.csv"); rs <- rs[rs$case == "jkn_design" & rs$quantity == "rscale" & rs$lonely_psu == "average", "value"]
th <- colSums(rw * y); V <- 29 / 28 * sum(rs * (th - mean(th))^2)
chk(sqrt(V), ex("lonely_replicates_expected.csv", "jkn_total", "se", "RMT85", lonely_psu = "average"), "JKn average total se")

## 10. svrepdesign variance: scale * sum rscales (theta_r - centre)^2, centre = mean or full (mse)
x <- rd("data/svrep_bootstrap.csv"); R <- as.matrix(x[, grep("^rep[0-9]+$", names(x))])
th <- colSums(R * x$enroll); t0 <- sum(x$pw * x$enroll)
sc <- ex("svrep_contrast_expected.csv", "bootstrap_design", "scale")
chk(sc * sum((th - mean(th))^2), ex("svrep_contrast_expected.csv", "bootstrap_total", "var", "enroll"), "bootstrap var")
chk(sc * sum((th - t0)^2), ex("svrep_contrast_expected.csv", "bootstrap_mse_total", "var", "enroll"), "bootstrap mse var")
x <- rd("data/svrep_fay.csv"); R <- as.matrix(x[, grep("^rep[0-9]+$", names(x))])
th <- colSums(R * x$RMT85)
chk(sum((th - mean(th))^2) / (ncol(R) * 0.7^2), ex("svrep_contrast_expected.csv", "fay_total", "var", "RMT85"), "Fay var")
# ratio contrast by delta method: grad = (1/B, -A/B^2, 0)
e <- rd("svrep_contrast_expected.csv"); k <- e$case == "lin_strat_domain_totals"
A <- e$value[k & e$quantity == "estimate" & e$domain == "E"]; B <- e$value[k & e$quantity == "estimate" & e$domain == "H"]
vAA <- e$value[k & e$quantity == "cov" & e$domain == "E,E"]; vBB <- e$value[k & e$quantity == "cov" & e$domain == "H,H"]; vAB <- e$value[k & e$quantity == "cov" & e$domain == "E,H"]
g <- c(1 / B, -A / B^2)
chk(drop(t(g) %*% matrix(c(vAA, vAB, vAB, vBB), 2) %*% g), ex("svrep_contrast_expected.csv", "lin_strat_contrast_ratio", "var", "contrast"), "ratio contrast delta")
cat("all formula checks passed\n")
