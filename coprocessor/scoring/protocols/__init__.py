"""Reads of real lending protocols computed from proven storage with the protocols'
own arithmetic: Aave v3 (aave_v3.py) and Morpho Blue (morpho_blue.py). Storage
layouts and how a version mismatch is detected: docs/markets.md."""
