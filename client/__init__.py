"""The user-side client: Python API and the ``cortexrnn-client`` CLI."""
