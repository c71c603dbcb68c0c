"""An example third-party nodeloom pack (pure Python, no torch)."""
