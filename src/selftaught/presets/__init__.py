"""Built-in experiment presets, one TOML file each; the first comment line is the description."""
