"""Benchmarks: each module prints a table and a ratio against a baseline measured in
the same run. ``python -m bench`` runs them all; ``python -m bench NAME`` runs one."""
