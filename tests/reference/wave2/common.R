# Shared helpers for the wave-2 reference scripts (sourced by each script).
# Every script is run from tests/reference/wave2 (run_all.R does setwd) and
# writes <name>_expected.csv with columns
#   case, r_call, quantity, domain, variable, value [, extra columns]
# value is sprintf("%.15g"). Extra columns (method, rule, option, ...) are
# written when a script passes them; rows without them get "".
suppressMessages({library(survey); library(sampling)})
options(survey.lonely.psu = "fail", survey.adjust.domain.lonely = FALSE,
        survey.ultimate.cluster = FALSE, survey.drop.replicates = TRUE,
        survey.multicore = FALSE)
.rows <- list()
add <- function(case, r_call, quantity, domain = "", variable = "", value, ...) {
  extra <- list(...)
  df <- data.frame(case = case, r_call = r_call, quantity = quantity,
                   domain = as.character(domain), variable = as.character(variable),
                   value = sprintf("%.15g", as.numeric(value)), stringsAsFactors = FALSE)
  for (k in names(extra)) df[[k]] <- as.character(extra[[k]])
  .rows[[length(.rows) + 1]] <<- df
}
# svystat / svyratio: estimate + se per variable (deff if present)
put_est <- function(case, r_call, est, domain = "", with_var = FALSE, ...) {
  v <- coef(est); s <- SE(est); vv <- if (inherits(est, "svyratio")) as.vector(est$var) else diag(as.matrix(vcov(est)))
  nm <- names(v); if (is.null(nm)) nm <- rep("", length(v))
  d <- attr(est, "deff")
  for (k in seq_along(v)) {
    add(case, r_call, "estimate", domain, nm[k], v[k], ...)
    add(case, r_call, "se", domain, nm[k], s[k], ...)
    if (with_var) add(case, r_call, "var", domain, nm[k], vv[k], ...)
    if (!is.null(d)) add(case, r_call, "deff", domain, nm[k], if (is.matrix(d)) diag(d)[k] else d[k], ...)
  }
}
# svyby result: every numeric column except the by-variables, one row per domain
put_by <- function(case, r_call, b, byvars, ...) {
  df <- as.data.frame(b)
  dom <- do.call(paste, c(lapply(byvars, function(v) as.character(df[[v]])), sep = "."))
  stat_cols <- setdiff(names(df), byvars)
  nest <- length(coef(b)) / nrow(df)
  estvars <- stat_cols[seq_len(nest)]
  for (i in seq_len(nrow(df))) for (cn in stat_cols) {
    # column names: var | se.var | se | ci_l.var | ci_u | DEff.var | DEff ...
    q <- "estimate"; v <- cn
    for (p in c("se", "ci_l", "ci_u", "DEff", "var", "cv")) {
      if (cn == p) { q <- p; v <- "" }
      else if (startsWith(cn, paste0(p, "."))) { q <- p; v <- substring(cn, nchar(p) + 2) }
    }
    if (length(estvars) == 1) v <- estvars
    q <- c(se = "se", ci_l = "ci_low", ci_u = "ci_high", DEff = "deff", var = "var", cv = "cv", estimate = "estimate")[[q]]
    add(case, r_call, q, dom[i], v, df[i, cn], ...)
  }
}
write_out <- function(name) {
  cols <- unique(unlist(lapply(.rows, names)))
  out <- do.call(rbind, lapply(.rows, function(r) { for (k in setdiff(cols, names(r))) r[[k]] <- ""; r[cols] }))
  write.csv(out, paste0(name, "_expected.csv"), row.names = FALSE)
  cat(name, ":", nrow(out), "rows\n")
  invisible(out)
}
write_data <- function(df, name) write.csv(df, file.path("data", paste0(name, ".csv")), row.names = FALSE, na = "")
