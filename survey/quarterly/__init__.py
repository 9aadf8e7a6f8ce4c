"""Quarterly series: levels and growth of combined estimates over quarters, benchmarking."""
