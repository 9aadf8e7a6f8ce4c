# Quantile reference numbers (R survey 4.1): Rscript quantile.R -> quantile_expected.csv
suppressMessages(library(survey)); data(api)
dstrat <- svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = apistrat)
rows <- list()
for (it in c("mean")) {
  q <- svyquantile(~api00, dstrat, c(0.25, 0.5), interval.type = it, qrule = "math", ci = TRUE, se = TRUE)
  m <- q$api00
  for (i in seq_len(nrow(m))) rows[[length(rows) + 1]] <- data.frame(interval_type = it, q = c(0.25, 0.5)[i],
      estimate = sprintf("%.15g", m[i, 1]), ci_low = sprintf("%.15g", m[i, 2]), ci_high = sprintf("%.15g", m[i, 3]), se = sprintf("%.15g", m[i, 4]))
}
out <- do.call(rbind, rows); write.csv(out, "quantile_expected.csv", row.names = FALSE); print(out)
