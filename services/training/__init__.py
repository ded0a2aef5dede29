"""Population trainer: P networks at once, checkpoints, divergence, callbacks."""
