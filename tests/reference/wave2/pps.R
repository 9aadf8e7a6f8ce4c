# Case 1: pi-ps sampling without replacement (and Poisson sampling) on MU284.
# Rscript pps.R  (from tests/reference/wave2)  -> pps_expected.csv, data/pps_*.csv
# Population: MU284 (sampling package, 284 Swedish municipalities); size measure P85
# (1985 population), n = 50 -> 4 certainty units (pi = 1) from
# sampling::inclusionprobabilities. y = RMT85, REV84, ME84; ratio RMT85/P85;
# domain maj = "soc" if SS82 > CS82 else "oth"; strata grp = A (REG 1-3), B (REG 4-5), C (REG 6-8).
# Columns in the data CSVs: pi = inclusion probability (also the fpc: fractions <= 1),
# w = 1/pi, stratum = grp where stratified. Joint matrices: data/pps_*_pi2.csv, n x n,
# rows/columns in the data CSV row order.
source("common.R")
data(MU284)
pop <- MU284
pop$LABEL <- seq_len(nrow(pop))
pop$grp <- ifelse(pop$REG <= 3, "A", ifelse(pop$REG <= 5, "B", "C"))
pop$maj <- ifelse(pop$SS82 > pop$CS82, "soc", "oth")
keep <- c("LABEL", "P85", "RMT85", "REV84", "ME84", "SS82", "CS82", "REG", "grp", "maj")
n <- 50
pik_pop <- inclusionprobabilities(pop$P85, n)
add("pop_pik", "sampling::inclusionprobabilities(MU284$P85, 50)", "n_certainty", "", "pik", sum(pik_pop == 1))
add("pop_pik", "sampling::inclusionprobabilities(MU284$P85, 50)", "sum_pik2_over_n", "", "pik", sum(pik_pop^2) / n)

take <- function(sel, pik, extra = NULL) {
  s <- pop[sel == 1, keep]
  s$pi <- pik[sel == 1]
  s$w <- 1 / s$pi
  s
}
F_TOT <- ~RMT85 + REV84 + ME84
estimate_all <- function(prefix, dcall, d, method) {
  put_est(paste0(prefix, "_total"), paste0(dcall, "; svytotal(~RMT85 + REV84 + ME84, d)"), svytotal(F_TOT, d), with_var = TRUE, method = method)
  put_est(paste0(prefix, "_mean"), paste0(dcall, "; svymean(~RMT85 + REV84 + ME84, d)"), svymean(F_TOT, d), with_var = TRUE, method = method)
  r <- svyratio(~RMT85, ~P85, d)
  rc <- paste0(dcall, "; svyratio(~RMT85, ~P85, d)")
  add(paste0(prefix, "_ratio"), rc, "estimate", "", "RMT85/P85", coef(r), method = method)
  add(paste0(prefix, "_ratio"), rc, "se", "", "RMT85/P85", SE(r), method = method)
  add(paste0(prefix, "_ratio"), rc, "var", "", "RMT85/P85", r$var, method = method)
  b <- svyby(~RMT85, ~maj, d, svytotal)
  put_by(paste0(prefix, "_total_by_maj"), paste0(dcall, "; svyby(~RMT85, ~maj, d, svytotal)"), b, "maj", method = method)
  for (k in seq_along(coef(b))) add(paste0(prefix, "_total_by_maj"), paste0(dcall, "; svyby(~RMT85, ~maj, d, svytotal)"),
                                    "var", names(coef(b))[k], "RMT85", diag(vcov(b))[k], method = method)
  put_by(paste0(prefix, "_mean_by_maj"), paste0(dcall, "; svyby(~RMT85, ~maj, d, svymean)"),
         svyby(~RMT85, ~maj, d, svymean), "maj", method = method)
  add(paste0(prefix, "_degf"), paste0(dcall, "; degf(d)"), "degf", "", "", degf(d), method = method)
}

## A. Unstratified Brewer sample (sampling::UPbrewer), approximate variances
set.seed(20240601)
sA <- take(UPbrewer(pik_pop), pik_pop)
write_data(sA, "pps_brewer")
p2 <- sum(pik_pop^2) / n   # HR's sum_U pi_k^2 / n (population)
designs <- list(
  brewer = list("svydesign(id = ~1, fpc = ~pi, data = pps_brewer, pps = 'brewer')",
                svydesign(id = ~1, fpc = ~pi, data = sA, pps = "brewer")),
  overton = list("svydesign(id = ~1, fpc = ~pi, data = pps_brewer, pps = 'overton')",
                 svydesign(id = ~1, fpc = ~pi, data = sA, pps = "overton")),
  HR_pop = list(sprintf("svydesign(id = ~1, fpc = ~pi, data = pps_brewer, pps = HR(sum(pik_pop^2)/50)) with sum(pik_pop^2)/50 = %.15g", p2),
                svydesign(id = ~1, fpc = ~pi, data = sA, pps = HR(p2))),
  HR_sample = list("svydesign(id = ~1, fpc = ~pi, data = pps_brewer, pps = HR())",
                   svydesign(id = ~1, fpc = ~pi, data = sA, pps = HR())),
  overton_YG = list("svydesign(id = ~1, fpc = ~pi, data = pps_brewer, pps = 'overton', variance = 'YG')",
                    svydesign(id = ~1, fpc = ~pi, data = sA, pps = "overton", variance = "YG")),
  HR_pop_YG = list("svydesign(id = ~1, fpc = ~pi, data = pps_brewer, pps = HR(sum(pik_pop^2)/50), variance = 'YG')",
                   svydesign(id = ~1, fpc = ~pi, data = sA, pps = HR(p2), variance = "YG")))
for (m in names(designs)) estimate_all(paste0("brewer_sample_", m), designs[[m]][[1]], designs[[m]][[2]], m)

## B. Maximum-entropy (conditional Poisson) sample with exact joint probabilities
set.seed(20240602)
selB <- UPmaxentropy(pik_pop)
sB <- take(selB, pik_pop)
Pi2_pop <- UPmaxentropypi2(pik_pop)
PiB <- Pi2_pop[selB == 1, selB == 1]
dimnames(PiB) <- list(NULL, paste0("u", sB$LABEL))
write_data(sB, "pps_maxent"); write_data(as.data.frame(PiB), "pps_maxent_pi2")
DB <- ((PiB - outer(diag(PiB), diag(PiB))) / PiB)[row(PiB) != col(PiB)]
add("maxent_pi2", "D = (Pi2 - pi pi')/Pi2 for the maxent sample, off-diagonal", "n_D_exactly_0", "", "", sum(DB == 0))
add("maxent_pi2", "D = (Pi2 - pi pi')/Pi2 for the maxent sample, off-diagonal", "n_D_nonzero_below_1e-4", "", "", sum(abs(DB) < 1e-4 & DB != 0))
add("maxent_pi2", "D = (Pi2 - pi pi')/Pi2 for the maxent sample, off-diagonal", "min_abs_D_nonzero", "", "", min(abs(DB[DB != 0])))
dimnames(PiB) <- NULL
for (v in c("HT", "YG")) {
  estimate_all(paste0("maxent_ppsmat_", v),
               sprintf("svydesign(id = ~1, fpc = ~pi, data = pps_maxent, pps = ppsmat(Pi2), variance = '%s') with Pi2 = UPmaxentropypi2 (pps_maxent_pi2.csv)", v),
               svydesign(id = ~1, fpc = ~pi, data = sB, pps = ppsmat(PiB), variance = v), paste0("ppsmat_", v))
  estimate_all(paste0("maxent_ppsmat_tol0_", v),
               sprintf("svydesign(id = ~1, fpc = ~pi, data = pps_maxent, pps = ppsmat(Pi2, tolerance = 0), variance = '%s')", v),
               svydesign(id = ~1, fpc = ~pi, data = sB, pps = ppsmat(PiB, tolerance = 0), variance = v), paste0("ppsmat_tol0_", v))
}
for (m in c("brewer", "overton")) estimate_all(paste0("maxent_", m), sprintf("svydesign(id = ~1, fpc = ~pi, data = pps_maxent, pps = '%s')", m),
                                               svydesign(id = ~1, fpc = ~pi, data = sB, pps = m), m)

## C. Tille's elimination sample; UPtillepi2 puts 0 in rows/columns of certainty
## units, so those are set to pi_i * pi_j (= pi_j) before use (the correct value).
set.seed(20240603)
selC <- UPtille(pik_pop)
sC <- take(selC, pik_pop)
Pi2t <- UPtillepi2(pik_pop)
cert <- pik_pop == 1
Pi2t[cert, ] <- outer(rep(1, sum(cert)), pik_pop); Pi2t[, cert] <- outer(pik_pop, rep(1, sum(cert)))
PiC <- Pi2t[selC == 1, selC == 1]
stopifnot(all(abs(diag(PiC) - sC$pi) < 1e-12))
dimnames(PiC) <- list(NULL, paste0("u", sC$LABEL))
write_data(sC, "pps_tille"); write_data(as.data.frame(PiC), "pps_tille_pi2")
dimnames(PiC) <- NULL
for (v in c("HT", "YG")) estimate_all(paste0("tille_ppsmat_", v),
  sprintf("svydesign(id = ~1, fpc = ~pi, data = pps_tille, pps = ppsmat(Pi2), variance = '%s') with Pi2 = UPtillepi2, certainty rows fixed (pps_tille_pi2.csv)", v),
  svydesign(id = ~1, fpc = ~pi, data = sC, pps = ppsmat(PiC), variance = v), paste0("ppsmat_", v))

## D. Poisson sampling (random size), HT variance sum (1 - pi) (y/pi)^2
set.seed(20240604)
selD <- UPpoisson(pik_pop)
sD <- take(selD, pik_pop)
write_data(sD, "pps_poisson")
estimate_all("poisson", "svydesign(id = ~1, probs = ~pi, data = pps_poisson, pps = poisson_sampling(pps_poisson$pi))",
             svydesign(id = ~1, probs = ~pi, data = sD, pps = poisson_sampling(sD$pi)), "poisson_sampling")

## E. Stratified Brewer: strata grp (A, B, C), n_h = 15, 15, 20, pi within stratum
nh <- c(A = 15, B = 15, C = 20)
set.seed(20240605)
pik_h <- numeric(nrow(pop)); selE <- numeric(nrow(pop)); selF <- numeric(nrow(pop))
for (h in names(nh)) {
  i <- pop$grp == h
  pik_h[i] <- inclusionprobabilities(pop$P85[i], nh[[h]])
  selE[i] <- UPbrewer(pik_h[i])
}
sE <- take(selE, pik_h); sE$stratum <- match(sE$grp, names(nh))  # 1, 2, 3
sE <- sE[order(sE$stratum), ]
write_data(sE, "pps_strat_brewer")
p2h <- sapply(names(nh), function(h) sum(pik_h[pop$grp == h]^2) / nh[[h]])
for (h in names(nh)) add("strat_pop_pik", "sum(pik_h^2)/n_h within stratum", "sum_pik2_over_n", h, "pik", p2h[[h]])
desE <- list(
  brewer = list("svydesign(id = ~1, strata = ~stratum, fpc = ~pi, data = pps_strat_brewer, pps = 'brewer')",
                svydesign(id = ~1, strata = ~stratum, fpc = ~pi, data = sE, pps = "brewer")),
  overton = list("svydesign(id = ~1, strata = ~stratum, fpc = ~pi, data = pps_strat_brewer, pps = 'overton')",
                 svydesign(id = ~1, strata = ~stratum, fpc = ~pi, data = sE, pps = "overton")),
  HR_sample = list("svydesign(id = ~1, strata = ~stratum, fpc = ~pi, data = pps_strat_brewer, pps = HR())",
                   svydesign(id = ~1, strata = ~stratum, fpc = ~pi, data = sE, pps = HR())),
  HR_pop = list(sprintf("svydesign(id = ~1, strata = ~stratum, fpc = ~pi, data = pps_strat_brewer, pps = HR(list(c(%s)))) (stratum codes 1..3 index the list)",
                        paste(sprintf("%.15g", p2h), collapse = ", ")),
                svydesign(id = ~1, strata = ~stratum, fpc = ~pi, data = sE, pps = HR(list(unname(p2h))))))
for (m in names(desE)) estimate_all(paste0("strat_brewer_", m), desE[[m]][[1]], desE[[m]][[2]], m)

## F. Stratified maximum-entropy sample, exact block-diagonal joint probabilities
set.seed(20240606)
Pi2F <- outer(pik_h, pik_h)     # independent strata: pi_ij = pi_i pi_j across strata
for (h in names(nh)) {
  i <- pop$grp == h
  selF[i] <- UPmaxentropy(pik_h[i])
  Pi2F[i, i] <- UPmaxentropypi2(pik_h[i])
}
sF <- take(selF, pik_h); sF$stratum <- match(sF$grp, names(nh))
PiF <- Pi2F[selF == 1, selF == 1]
o <- order(sF$stratum); sF <- sF[o, ]; PiF <- PiF[o, o]
dimnames(PiF) <- list(NULL, paste0("u", sF$LABEL))
write_data(sF, "pps_strat_maxent"); write_data(as.data.frame(PiF), "pps_strat_maxent_pi2")
dimnames(PiF) <- NULL
for (v in c("HT", "YG")) estimate_all(paste0("strat_maxent_ppsmat_", v),
  sprintf("svydesign(id = ~1, strata = ~stratum, fpc = ~pi, data = pps_strat_maxent, pps = ppsmat(Pi2), variance = '%s') (pps_strat_maxent_pi2.csv)", v),
  svydesign(id = ~1, strata = ~stratum, fpc = ~pi, data = sF, pps = ppsmat(PiF), variance = v), paste0("ppsmat_", v))
for (m in c("brewer", "overton")) estimate_all(paste0("strat_maxent_", m),
  sprintf("svydesign(id = ~1, strata = ~stratum, fpc = ~pi, data = pps_strat_maxent, pps = '%s')", m),
  svydesign(id = ~1, strata = ~stratum, fpc = ~pi, data = sF, pps = m), m)

write_out("pps")
