"""Verifiable risk scores computed from proven Ethereum chain data."""

from coprocessor.errors import CoprocessorError

__all__ = ["CoprocessorError"]
__version__ = "0.1.0"
