"""Benchmarks of alsjax's ensemble solver against vmap(simulate) and scipy (not installed)."""
