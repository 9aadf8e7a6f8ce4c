# Case 7: trimWeights(design, upper, lower, strict). Rscript trim.R -> trim_expected.csv,
#   data/trim_pps_weights.csv, data/trim_cal_weights.csv (per-row weights before/after).
# A. dA <- svydesign(id = ~1, weights = ~w, data = pps_brewer)   (data/pps_brewer.csv from
#    pps.R; skewed pi-ps weights 1 .. 29.9); trimWeights(dA, upper = 12, lower = 1.5, strict = FALSE/TRUE)
# B. calibrated apistrat: dstrat calibrated (linear) to N, stype counts, sum(api99),
#    sum(enroll) of apipop; weights 10.9 .. 48.9;
#    trimWeights(dcal, upper = 45, lower = 12, strict = FALSE/TRUE). The variance still uses
#    the calibration (greg) residuals stored in the design (see notes).
# R rule (survey.design2): units outside [lower, upper] are set to the bound; the total
# trimmed amount sum(w - w_bounded) is added in EQUAL parts to every unit not outside
# (not proportionally, not within strata). strict = TRUE repeats until none is outside.
source("common.R")
data(api)
sA <- read.csv("data/pps_brewer.csv")
dA <- svydesign(id = ~1, weights = ~w, data = sA)
dstrat <- svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = apistrat)
pop_cal <- c(`(Intercept)` = 6194, stypeH = 755, stypeM = 1018, api99 = sum(apipop$api99), enroll = sum(apipop$enroll, na.rm = TRUE))
dcal <- calibrate(dstrat, ~stype + api99 + enroll, population = pop_cal)
add("cal_population", "c(6194, 755, 1018, sum(apipop$api99), sum(apipop$enroll, na.rm = TRUE))", "total", "", "enroll", pop_cal[["enroll"]])
D <- list(
  pps = list(dc = "dA <- svydesign(id = ~1, weights = ~w, data = pps_brewer)", d = dA, up = 12, lo = 1.5,
             id = sA$LABEL, f = ~RMT85 + REV84, fs = "~RMT85 + REV84", by = "maj"),
  cal = list(dc = "dcal <- calibrate(svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = apistrat), ~stype + api99 + enroll, population = pop_cal)",
             d = dcal, up = 45, lo = 12, id = apistrat$cds, f = ~enroll + api00, fs = "~enroll + api00", by = "stype"))
for (nm in names(D)) {
  x <- D[[nm]]; dn <- sub(" <-.*", "", x$dc)
  W <- data.frame(id = x$id, w_before = weights(x$d))
  put_est(paste0(nm, "_untrimmed_total"), sprintf("%s; svytotal(%s, %s)", x$dc, x$fs, dn), svytotal(x$f, x$d))
  for (strict in c(FALSE, TRUE)) {
    tc <- sprintf("%s; dt <- trimWeights(%s, upper = %s, lower = %s, strict = %s)", x$dc, dn, x$up, x$lo, strict)
    dt <- trimWeights(x$d, upper = x$up, lower = x$lo, strict = strict)
    w <- weights(dt)
    W[[if (strict) "w_strict" else "w_nonstrict"]] <- w
    tag <- paste0(nm, "_trim_", if (strict) "strict" else "nonstrict")
    add(tag, paste0(tc, "; weights(dt)"), "weight_sum", "", "", sum(w), strict = strict)
    add(tag, paste0(tc, "; weights(dt)"), "weight_min", "", "", min(w), strict = strict)
    add(tag, paste0(tc, "; weights(dt)"), "weight_max", "", "", max(w), strict = strict)
    add(tag, paste0(tc, "; weights(dt)"), "n_above_upper", "", "", sum(w > x$up + 1e-9), strict = strict)
    add(tag, paste0(tc, "; weights(dt)"), "n_below_lower", "", "", sum(w < x$lo - 1e-9), strict = strict)
    put_est(paste0(tag, "_total"), sprintf("%s; svytotal(%s, dt)", tc, x$fs), svytotal(x$f, dt), strict = strict)
    put_est(paste0(tag, "_mean"), sprintf("%s; svymean(%s, dt)", tc, x$fs), svymean(x$f, dt), strict = strict)
    put_by(paste0(tag, "_total_by_", x$by), sprintf("%s; svyby(%s, ~%s, dt, svytotal)", tc, x$fs, x$by),
           svyby(x$f, as.formula(paste("~", x$by)), dt, svytotal), x$by, strict = strict)
  }
  write_data(W, paste0("trim_", nm, "_weights"))
}
write_out("trim")
