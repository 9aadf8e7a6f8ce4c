# Regenerate every wave-2 reference file (R >= 4.2, survey 4.1.1, sampling 2.9):
#   cd tests/reference/wave2 && Rscript run_all.R
# Each script runs in its own R process (options and seeds do not leak between them).
# pps.R must run first: deff.R and trim.R read data/pps_brewer.csv.
scripts <- c("pps.R", "twophase.R", "ciprop.R", "deff.R", "na.R", "poststratify_partial.R",
             "trim.R", "lonely_replicates.R", "quantile_domains.R", "svrep_contrast.R")
args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))
setwd(here)
for (s in scripts) {
  status <- system2(file.path(R.home("bin"), "Rscript"), c("--vanilla", s), stdout = "", stderr = FALSE)
  if (status != 0) stop("failed: ", s)
}
