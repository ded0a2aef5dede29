"""The science, importable without the server (no web, database or queue imports)."""
