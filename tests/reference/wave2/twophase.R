# Case 2: weighting-class nonresponse adjustment as a two-phase design.
# Rscript twophase.R -> twophase_expected.csv, data/twophase_apistrat.csv, data/twophase_mu284.csv
#
# A. apistrat (stratified SRSWOR by stype, n_h = 100/50/50, fpc = N_h).
#    Weighting classes: class = stype.awards (6 classes).
# B. MU284, stratified SRSWOR by REG with n_h = 10 in every region (fpc = N_h);
#    classes = REG.size, size = "small"/"large" (P85 <= / > the stratum sample median).
# In each class round(0.25 * n_class) units are nonrespondents, chosen by SRS (seeded).
# Phase 2 = respondents = stratified SRS from the phase-1 sample with strata = class;
# phase-2 fpc computed by R from the phase-1 class counts (fpc = list(~fpc, NULL)).
# y of nonrespondents is NA in the data files (never used).
#
# R BUG (survey 4.1.1, still in the current CRAN source): method = "full" builds the
# phase-1 Dcheck with survey:::Dcheck_multi_subset, which passes the full-length vector
# `sampsize` to Dcheck_subset where it is indexed by positions within the phase-2 subset.
# When the phase-1 strata have unequal sample sizes the wrong n_h enters
# -(1 - pi_i)/(n_h - 1), and the variance depends on the row order (design A: a
# negative variance). Rows with method "full" are R as shipped; rows with method
# "full_fixed" are R with the one-line fix (sampsize[uid]), which is Sarndal et al.
# (1992) Result 9.3.1; use "full_fixed" as the reference. With equal n_h (design B)
# both agree (checked below).
source("common.R")
data(api); data(MU284)

fixed_Dcheck_multi_subset <- function(id, strata, subset, probs, withreplacement) {
  nstage <- NCOL(id); n <- sum(subset)
  rval <- matrix(0, n, n)
  if (all(probs == 1) && withreplacement) return(as(diag(n), "sparseMatrix"))
  for (stage in 1:nstage) {
    uid <- rep(FALSE, NROW(id))
    uid[subset] <- !duplicated(id[subset, stage])
    idx <- match(id[subset, stage], id[subset, stage][uid[subset]])
    sampsize <- ave(as.numeric(id[, stage]), strata[, stage], FUN = function(i) length(unique(i)))
    this_stage <- survey:::Dcheck_subset(strata[uid, stage], probs[uid, stage], sampsize[uid], withreplacement)[idx, idx]
    rval <- survey:::twophaseDcheck(rval, this_stage)
  }
  rval
}
shipped_Dcheck_multi_subset <- survey:::Dcheck_multi_subset
with_fix <- function(expr) {
  assignInNamespace("Dcheck_multi_subset", fixed_Dcheck_multi_subset, "survey")
  on.exit(assignInNamespace("Dcheck_multi_subset", shipped_Dcheck_multi_subset, "survey"))
  expr
}

add_nonresponse <- function(s, stratum, seed) {
  set.seed(seed)
  s$responded <- TRUE
  for (cl in sort(unique(s$class))) {
    i <- which(s$class == cl)
    s$responded[i[sample.int(length(i), round(0.25 * length(i)))]] <- FALSE
  }
  n_c <- ave(rep(1, nrow(s)), s$class, FUN = sum); r_c <- ave(as.numeric(s$responded), s$class, FUN = sum)
  n_h <- ave(rep(1, nrow(s)), s[[stratum]], FUN = sum)
  s$w_adj <- ifelse(s$responded, s$fpc / n_h * n_c / r_c, 0)   # (N_h / n_h) * (n_class / r_class)
  s
}

run <- function(tag, s, dataname, stratum, yv, dom) {
  for (cl in sort(unique(s$class))) {
    add(paste0(tag, "_class_counts"), "table(class, responded)", "n_class", cl, "", sum(s$class == cl))
    add(paste0(tag, "_class_counts"), "table(class, responded)", "r_class", cl, "", sum(s$class == cl & s$responded))
  }
  f <- as.formula(paste("~", paste(yv, collapse = " + ")))
  fs <- paste(yv, collapse = " + ")
  st1 <- as.formula(paste("~", stratum))
  for (m in c("full", "full_fixed", "approx", "simple")) {
    rm <- if (m == "full_fixed") "full" else m
    dc <- sprintf("d <- twophase(id = list(~1, ~1), strata = list(~%s, ~class), fpc = list(~fpc, NULL), subset = ~responded, data = %s, method = '%s')%s",
                  stratum, dataname, rm, if (m == "full_fixed") " [with survey:::Dcheck_multi_subset fixed to pass sampsize[uid]]" else "")
    go <- function() {
      d <- twophase(id = list(~1, ~1), strata = list(st1, ~class), fpc = list(~fpc, NULL),
                    subset = ~responded, data = s, method = rm)
      add(paste0(tag, "_", m, "_weights"), paste0(dc, "; sum(weights(d))"), "weight_sum", "", "", sum(weights(d)), method = m)
      stopifnot(isTRUE(all.equal(unname(weights(d)), s$w_adj[s$responded])))
      t <- svytotal(f, d); mn <- svymean(f, d)
      put_est(paste0(tag, "_", m, "_total"), sprintf("%s; svytotal(~%s, d)", dc, fs), t, with_var = TRUE, method = m)
      put_est(paste0(tag, "_", m, "_mean"), sprintf("%s; svymean(~%s, d)", dc, fs), mn, with_var = TRUE, method = m)
      for (what in c("total", "mean")) {
        v <- attr(vcov(if (what == "total") t else mn), "phases")
        for (ph in c("phase1", "phase2")) for (k in seq_along(yv))
          add(paste0(tag, "_", m, "_", what), sprintf("%s; attr(vcov(svy%s(~%s, d)), 'phases')$%s", dc, what, fs, ph),
              paste0("var_", ph), "", yv[k], as.matrix(v[[ph]])[k, k], method = m)
      }
      put_by(paste0(tag, "_", m, "_total_by_", dom), sprintf("%s; svyby(~%s, ~%s, d, svytotal)", dc, fs, dom),
             svyby(f, as.formula(paste("~", dom)), d, svytotal), dom, method = m)
      put_by(paste0(tag, "_", m, "_mean_by_", dom), sprintf("%s; svyby(~%s, ~%s, d, svymean)", dc, fs, dom),
             svyby(f, as.formula(paste("~", dom)), d, svymean), dom, method = m)
      list(total = t, mean = mn)
    }
    res <- if (m == "full_fixed") with_fix(go()) else go()
    if (m == "full_fixed") {   # independent check: Sarndal et al. Result 9.3.1 written out
      r <- s[s$responded, ]
      n_h <- ave(rep(1, nrow(s)), s[[stratum]], FUN = sum)[s$responded]
      n_c <- ave(rep(1, nrow(s)), s$class, FUN = sum)[s$responded]
      r_c <- ave(rep(1, nrow(r)), r$class, FUN = sum)
      p1 <- n_h / r$fpc; p2 <- r_c / n_c
      D1 <- ifelse(outer(r[[stratum]], r[[stratum]], "=="), -(1 - p1) / (n_h - 1), 0); diag(D1) <- 1 - p1
      D2 <- ifelse(outer(r$class, r$class, "=="), -(1 - p2) / (r_c - 1), 0); diag(D2) <- 1 - p2
      D <- D1 + D2 - D1 * D2
      X <- as.matrix(r[, yv]) / (p1 * p2)
      stopifnot(isTRUE(all.equal(c(as.matrix(vcov(res$total))), c(t(X) %*% D %*% X))))
    }
  }
  # naive single-phase analysis of respondents with the adjusted weights (for contrast)
  resp <- s[s$responded, ]
  dn <- svydesign(id = ~1, strata = st1, weights = ~w_adj, fpc = ~fpc, data = resp)
  dcn <- sprintf("d <- svydesign(id = ~1, strata = ~%s, weights = ~w_adj, fpc = ~fpc, data = subset(%s, responded))", stratum, dataname)
  put_est(paste0(tag, "_naive_total"), sprintf("%s; svytotal(~%s, d)", dcn, fs), svytotal(f, dn), method = "naive")
  put_est(paste0(tag, "_naive_mean"), sprintf("%s; svymean(~%s, d)", dcn, fs), svymean(f, dn), method = "naive")
}

## A. apistrat
sA <- apistrat[, c("cds", "stype", "awards", "comp.imp", "api00", "enroll", "pw", "fpc")]
for (v in c("stype", "awards", "comp.imp")) sA[[v]] <- as.character(sA[[v]])
sA$class <- paste(sA$stype, sA$awards, sep = ".")
sA <- add_nonresponse(sA, "stype", 20240611)
sA$api00[!sA$responded] <- NA; sA$enroll[!sA$responded] <- NA
write_data(sA, "twophase_apistrat")
run("tpA", sA, "twophase_apistrat", "stype", c("api00", "enroll"), "comp.imp")

## B. MU284, n_h = 10 per region
set.seed(20240612)
pop <- MU284; pop$LABEL <- seq_len(nrow(pop))
pop$maj <- ifelse(pop$SS82 > pop$CS82, "soc", "oth")
sB <- do.call(rbind, lapply(split(pop, pop$REG), function(p) { x <- p[sort(sample.int(nrow(p), 10)), ]; x$fpc <- nrow(p); x }))
sB$size <- ave(sB$P85, sB$REG, FUN = function(x) ifelse(x <= median(x), "small", "large"))
sB$class <- paste(sB$REG, sB$size, sep = ".")
sB <- sB[, c("LABEL", "REG", "size", "class", "maj", "P85", "RMT85", "REV84", "fpc")]
rownames(sB) <- NULL
sB <- add_nonresponse(sB, "REG", 20240613)
sB$RMT85[!sB$responded] <- NA; sB$REV84[!sB$responded] <- NA
write_data(sB, "twophase_mu284")
run("tpB", sB, "twophase_mu284", "REG", c("RMT85", "REV84"), "maj")
out <- write_out("twophase")
# with equal n_h the shipped "full" equals the fixed one
b <- out[startsWith(out$case, "tpB_full_total") | startsWith(out$case, "tpB_full_fixed_total"), ]
stopifnot(all.equal(as.numeric(b$value[b$method == "full"]), as.numeric(b$value[b$method == "full_fixed"])))
