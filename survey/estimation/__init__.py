"""Estimation: the sample with its design, the one variance engine, estimators, weighting, results."""
