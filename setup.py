"""Builds the ledger's compiled apply loop; everything else lives in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "tessera.ledger._engine",
            sources=["src/tessera/ledger/_engine.c"],
            depends=["src/tessera/ledger/engine.h"],
            extra_compile_args=["-O3", "-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
        )
    ]
)
