"""Fails while importing, as a pack with a missing dependency or a bug at module level would."""

raise RuntimeError("broken pack: this module always fails to import")
