"""Returns processing: the DuckDB ledger, edit rules and detectors, imputation, outliers."""
