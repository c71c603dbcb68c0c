"""A nodeloom pack that cannot be imported; nodeloom must quarantine it and carry on."""
