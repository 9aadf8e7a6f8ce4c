"""The configured cycle: the TOML configuration and the glue that runs every step."""
