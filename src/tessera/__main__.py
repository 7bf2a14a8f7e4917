"""``python -m tessera``: the ``tessera`` command, for a checkout or a venv without its script on PATH."""

from tessera.cli import run

run()
