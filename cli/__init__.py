"""The server-side ``cortexrnn`` command."""
