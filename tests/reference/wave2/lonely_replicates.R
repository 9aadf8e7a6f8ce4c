# Case 8: lonely PSUs with replicate weights, and lonely PSUs within domains.
# Rscript lonely_replicates.R -> lonely_replicates_expected.csv,
#   data/lonely_mu284.csv, data/lonely_domain_mu284.csv,
#   data/lonely_jkn_<rule>[_fpc]_repweights.csv (analysis replicate weights, n x R, row order of the data)
# Columns added: lonely_psu (value of options(survey.lonely.psu)), adjust_domain_lonely
# (options(survey.adjust.domain.lonely)), design (linearisation | JKn).
# A. lonely_mu284: MU284 stratified SRSWOR by REG, n_h = 4 except REG 7 with n_h = 1
#    (seed 20240631); fpc = N_REG. Designs
#      d    <- svydesign(id = ~1, strata = ~REG, weights = ~weight, data = lonely_mu284)
#      dfpc <- svydesign(id = ~1, strata = ~REG, fpc = ~N_REG, data = lonely_mu284)
#      rep  <- as.svrepdesign(d or dfpc, type = "JKn")   -- built AFTER setting the option:
#    the JKn replicate weights themselves depend on survey.lonely.psu (see notes).
# B. lonely_domain_mu284: MU284 stratified SRSWOR by REG, n_h = 5 (seed 20240632), no
#    lonely stratum; domain size = "large" if P85 >= 25 else "small": "large" has a single
#    sampled unit in strata 2 and 5 and none in 6 (rows quantity "domain_n_in_stratum");
#    svyby(~RMT85, ~size, d, svytotal / svymean) under
#    survey.adjust.domain.lonely = FALSE / TRUE and survey.lonely.psu = adjust / average / remove / certainty.
source("common.R")
data(MU284)
pop <- MU284; pop$LABEL <- seq_len(nrow(pop))
pop$maj <- ifelse(pop$SS82 > pop$CS82, "soc", "oth")
draw <- function(nh, seed) {
  set.seed(seed)
  s <- do.call(rbind, lapply(split(pop, pop$REG), function(p) {
    k <- nh[as.character(p$REG[1])]
    x <- p[sort(sample.int(nrow(p), k)), ]; x$N_REG <- nrow(p); x$weight <- nrow(p) / k; x }))
  rownames(s) <- NULL
  s[, c("LABEL", "REG", "N_REG", "weight", "maj", "P85", "RMT85", "REV84")]
}
sA <- draw(setNames(c(4, 4, 4, 4, 4, 4, 1, 4), 1:8), 20240631)
write_data(sA, "lonely_mu284")
rules <- c("remove", "adjust", "average", "certainty")
for (rule in rules) {
  options(survey.lonely.psu = rule, survey.adjust.domain.lonely = FALSE)
  for (withfpc in c(FALSE, TRUE)) {
    d <- if (withfpc) svydesign(id = ~1, strata = ~REG, fpc = ~N_REG, data = sA) else svydesign(id = ~1, strata = ~REG, weights = ~weight, data = sA)
    dc <- if (withfpc) "svydesign(id = ~1, strata = ~REG, fpc = ~N_REG, data = lonely_mu284)" else "svydesign(id = ~1, strata = ~REG, weights = ~weight, data = lonely_mu284)"
    tag <- if (withfpc) "_fpc" else ""
    oc <- sprintf("options(survey.lonely.psu = '%s'); d <- %s", rule, dc)
    put_est(paste0("lin", tag, "_total"), paste0(oc, "; svytotal(~RMT85 + REV84, d)"), svytotal(~RMT85 + REV84, d),
            lonely_psu = rule, adjust_domain_lonely = FALSE, design = "linearisation")
    put_est(paste0("lin", tag, "_mean"), paste0(oc, "; svymean(~RMT85 + REV84, d)"), svymean(~RMT85 + REV84, d),
            lonely_psu = rule, adjust_domain_lonely = FALSE, design = "linearisation")
    rep <- as.svrepdesign(d, type = "JKn")
    rc <- paste0(oc, "; rep <- as.svrepdesign(d, type = 'JKn')")
    put_est(paste0("jkn", tag, "_total"), paste0(rc, "; svytotal(~RMT85 + REV84, rep)"), svytotal(~RMT85 + REV84, rep),
            lonely_psu = rule, adjust_domain_lonely = FALSE, design = "JKn")
    put_est(paste0("jkn", tag, "_mean"), paste0(rc, "; svymean(~RMT85 + REV84, rep)"), svymean(~RMT85 + REV84, rep),
            lonely_psu = rule, adjust_domain_lonely = FALSE, design = "JKn")
    add(paste0("jkn", tag, "_design"), paste0(rc, "; rep$scale"), "scale", "", "", rep$scale, lonely_psu = rule, adjust_domain_lonely = FALSE, design = "JKn")
    add(paste0("jkn", tag, "_design"), paste0(rc, "; ncol(weights(rep))"), "n_replicates", "", "", ncol(weights(rep, "analysis")), lonely_psu = rule, adjust_domain_lonely = FALSE, design = "JKn")
    add(paste0("jkn", tag, "_design"), paste0(rc, "; degf(rep)"), "degf", "", "", degf(rep), lonely_psu = rule, adjust_domain_lonely = FALSE, design = "JKn")
    for (k in seq_along(rep$rscales)) add(paste0("jkn", tag, "_design"), paste0(rc, "; rep$rscales"), "rscale", "", k, rep$rscales[k],
                                          lonely_psu = rule, adjust_domain_lonely = FALSE, design = "JKn")
    W <- weights(rep, "analysis"); colnames(W) <- paste0("rep", seq_len(ncol(W)))
    write_data(data.frame(LABEL = sA$LABEL, W), sprintf("lonely_jkn_%s%s_repweights", rule, tag))
  }
}

sB <- draw(setNames(rep(5, 8), 1:8), 20240632)
sB$size <- ifelse(sB$P85 >= 25, "large", "small")
write_data(sB, "lonely_domain_mu284")
tb <- table(sB$REG, sB$size)
for (h in rownames(tb)) for (m in colnames(tb)) add("domain_counts", "table(REG, size)", "domain_n_in_stratum", paste0(h, ".", m), "", tb[h, m])
for (adl in c(FALSE, TRUE)) for (rule in rules) {
  options(survey.lonely.psu = rule, survey.adjust.domain.lonely = adl)
  for (withfpc in c(FALSE, TRUE)) {
    d <- if (withfpc) svydesign(id = ~1, strata = ~REG, fpc = ~N_REG, data = sB) else svydesign(id = ~1, strata = ~REG, weights = ~weight, data = sB)
    dc <- if (withfpc) "svydesign(id = ~1, strata = ~REG, fpc = ~N_REG, data = lonely_domain_mu284)" else "svydesign(id = ~1, strata = ~REG, weights = ~weight, data = lonely_domain_mu284)"
    tag <- if (withfpc) "_fpc" else ""
    oc <- sprintf("options(survey.lonely.psu = '%s', survey.adjust.domain.lonely = %s); d <- %s", rule, adl, dc)
    for (fn in c("svytotal", "svymean")) {
      b <- suppressWarnings(svyby(~RMT85, ~size, d, get(fn)))
      put_by(paste0("domain", tag, "_", fn, "_by_size"), sprintf("%s; svyby(~RMT85, ~size, d, %s)", oc, fn), b, "size",
             lonely_psu = rule, adjust_domain_lonely = adl, design = "linearisation")
    }
  }
}
options(survey.lonely.psu = "fail", survey.adjust.domain.lonely = FALSE)
write_out("lonely_replicates")
