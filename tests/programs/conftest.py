"""The programmes' tests load against the declarations and ledgers of ``tests/programs/worlds.py``."""
