# Domain estimates after calibration and raking (R survey 4.1):
# Rscript calibrated_domains.R -> calibrated_domains_expected.csv
suppressMessages(library(survey)); data(api)
dstrat <- svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = apistrat)
pop_lin <- c(`(Intercept)` = 6194, stypeH = 755, stypeM = 1018, api99 = sum(apipop$api99))
dlin <- calibrate(dstrat, ~stype + api99, population = pop_lin)
pop_stype <- data.frame(stype = c("E", "H", "M"), Freq = c(4421, 755, 1018))
pop_sw <- data.frame(sch.wide = c("No", "Yes"), Freq = as.vector(table(apipop$sch.wide)))
drake <- rake(dstrat, list(~stype, ~sch.wide), list(pop_stype, pop_sw))
rows <- list()
put <- function(case, b, byvar) for (i in seq_len(nrow(b))) rows[[length(rows) + 1]] <<- data.frame(
  case = case, domain = as.character(b[[byvar]][i]), estimate = sprintf("%.15g", b$enroll[i]), se = sprintf("%.15g", b$se[i]))
put("cal_linear_by_comp.imp", svyby(~enroll, ~comp.imp, dlin, svytotal), "comp.imp")
put("cal_linear_mean_by_comp.imp", svyby(~enroll, ~comp.imp, dlin, svymean), "comp.imp")
put("rake_by_comp.imp", svyby(~enroll, ~comp.imp, drake, svytotal), "comp.imp")
out <- do.call(rbind, rows); write.csv(out, "calibrated_domains_expected.csv", row.names = FALSE); print(out)
