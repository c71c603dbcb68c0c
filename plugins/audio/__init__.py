"""The audio plugin: FFmpeg trim route and audio nodes (not built yet)."""
