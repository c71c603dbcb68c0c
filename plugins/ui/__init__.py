"""The web UI plugin: serves the single-page node editor (not built yet)."""
