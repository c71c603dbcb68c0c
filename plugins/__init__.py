"""nodeloom's first-party plugins; each folder is one plugin, loaded through its entry point."""
