"""Named scenario files (TOML) and their validation."""
