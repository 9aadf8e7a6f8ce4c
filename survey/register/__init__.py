"""The register: the sampling frame (unit ids, size classes, checks) and the three channels' unit lists."""
