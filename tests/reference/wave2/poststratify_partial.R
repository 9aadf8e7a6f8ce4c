# Case 6: postStratify(..., partial = TRUE) with population cells absent from the sample.
# Rscript poststratify_partial.R -> poststratify_partial_expected.csv,
#   data/poststrat_pop_cname.csv (population counts of schools by county, 57 counties, from apipop)
# Samples: ../data/apisrs.csv (SRSWOR, fpc = 6194; 38 of 57 counties present) and
#          ../data/apiclus1.csv (one-stage cluster sample of districts, fpc = 757; 11 counties).
# Cells absent from the sample are dropped (with a warning): the weights then sum to the
# population count of the present cells only.
source("common.R")
data(api)
pop <- as.data.frame(table(cname = apipop$cname), stringsAsFactors = FALSE)
write_data(pop, "poststrat_pop_cname")
dsrs <- svydesign(id = ~1, weights = ~pw, fpc = ~fpc, data = apisrs)
dclus1 <- svydesign(id = ~dnum, weights = ~pw, fpc = ~fpc, data = apiclus1)
D <- list(srs = list("dsrs <- svydesign(id = ~1, weights = ~pw, fpc = ~fpc, data = apisrs)", dsrs, apisrs),
          clus1 = list("dclus1 <- svydesign(id = ~dnum, weights = ~pw, fpc = ~fpc, data = apiclus1)", dclus1, apiclus1))
for (nm in names(D)) {
  dc <- D[[nm]][[1]]; d <- D[[nm]][[2]]; dat <- D[[nm]][[3]]
  ps <- suppressWarnings(postStratify(d, ~cname, pop, partial = TRUE))
  pc <- sprintf("%s; ps <- postStratify(%s, ~cname, poststrat_pop_cname, partial = TRUE)", dc, sub(" <-.*", "", dc))
  present <- pop$cname %in% dat$cname
  add(paste0(nm, "_ps_partial_weights"), paste0(pc, "; sum(weights(ps))"), "weight_sum", "", "", sum(weights(ps)))
  add(paste0(nm, "_ps_partial_weights"), "sum(poststrat_pop_cname$Freq[cname present in sample])", "pop_present", "", "", sum(pop$Freq[present]))
  add(paste0(nm, "_ps_partial_weights"), "number of population cells present in the sample", "cells_present", "", "", sum(present))
  add(paste0(nm, "_ps_partial_weights"), paste0(pc, "; min(weights(ps))"), "weight_min", "", "", min(weights(ps)))
  add(paste0(nm, "_ps_partial_weights"), paste0(pc, "; max(weights(ps))"), "weight_max", "", "", max(weights(ps)))
  put_est(paste0(nm, "_ps_partial_total"), paste0(pc, "; svytotal(~enroll + api00, ps)"), svytotal(~enroll + api00, ps))
  put_est(paste0(nm, "_ps_partial_mean"), paste0(pc, "; svymean(~enroll + api00, ps)"), svymean(~enroll + api00, ps))
  put_by(paste0(nm, "_ps_partial_total_by_stype"), paste0(pc, "; svyby(~enroll, ~stype, ps, svytotal)"),
         svyby(~enroll, ~stype, ps, svytotal), "stype")
  put_by(paste0(nm, "_ps_partial_mean_by_stype"), paste0(pc, "; svyby(~api00, ~stype, ps, svymean)"),
         svyby(~api00, ~stype, ps, svymean), "stype")
  # per-county post-stratified weight (one row per present county)
  w <- tapply(weights(ps), dat$cname, unique)
  for (k in names(w)) add(paste0(nm, "_ps_partial_cell_weight"), paste0(pc, "; weights(ps) by cname"), "weight", k, "", w[[k]])
}
write_out("poststratify_partial")
