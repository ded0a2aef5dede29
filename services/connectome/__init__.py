"""Connectome datasets: MICrONS ingest, synthetic cortex, derived matrices, the cache."""
