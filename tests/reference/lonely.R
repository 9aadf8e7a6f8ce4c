# Lonely-PSU reference numbers with a stratum that really has one PSU.
# (reference.R's lonely_* sample has none: apistrat is not sorted by stype.)
# Run: Rscript lonely.R  -> lonely_expected.csv
suppressMessages(library(survey)); data(api)
rows <- list()
add <- function(case, rule, quantity, value) rows[[length(rows) + 1]] <<- data.frame(case = case, rule = rule, quantity = quantity, value = sprintf("%.15g", value))
one <- rbind(apistrat[apistrat$stype == "E", ][1:30, ], apistrat[apistrat$stype == "H", ][1:20, ], apistrat[apistrat$stype == "M", ][1, ])
write.csv(one[, c("cds", "stype", "pw", "fpc", "enroll", "api00")], "data/lonely_sample.csv", row.names = FALSE)
for (rule in c("remove", "adjust", "average", "certainty")) {
  options(survey.lonely.psu = rule)
  d <- svydesign(id = ~1, strata = ~stype, weights = ~pw, data = one)
  t <- svytotal(~enroll, d); m <- svymean(~api00, d)
  add("lonely_total", rule, "estimate", coef(t)); add("lonely_total", rule, "se", SE(t))
  add("lonely_mean", rule, "estimate", coef(m)); add("lonely_mean", rule, "se", SE(m))
  d2 <- svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = one)
  t2 <- svytotal(~enroll, d2)
  add("lonely_total_fpc", rule, "estimate", coef(t2)); add("lonely_total_fpc", rule, "se", SE(t2))
  b <- svyby(~enroll, ~sch.wide, svydesign(id = ~1, strata = ~stype, weights = ~pw, data = merge(one, apistrat[, c("cds", "sch.wide")])), svytotal)
  for (i in seq_len(nrow(b))) { add(paste0("lonely_by_", b$sch.wide[i]), rule, "estimate", b$enroll[i]); add(paste0("lonely_by_", b$sch.wide[i]), rule, "se", b$se[i]) }
}
out <- do.call(rbind, rows)
write.csv(out, "lonely_expected.csv", row.names = FALSE)
print(out)
