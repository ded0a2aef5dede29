"""The population RNN model."""
