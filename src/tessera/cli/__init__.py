"""The ``tessera`` command: thin wrappers over the domain packages."""


def run() -> None:
    """Run the ``tessera`` command (``python -m tessera``); its commands load only when it runs."""
    from tessera.cli.main import app

    app(prog_name="tessera")
