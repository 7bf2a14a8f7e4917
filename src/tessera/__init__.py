"""Tessera: open digital public infrastructure."""

__version__ = "0.1.0"
