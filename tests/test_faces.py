"""Each package's ``__init__`` is its door: code outside a package imports only through it.

Walks every module under ``src/tessera`` with ``ast`` and fails on an import of
``tessera.<pkg>.<module>`` (or deeper) from outside ``<pkg>``, TYPE_CHECKING imports
included. Beside it, ``tests/rules/test_face.py`` checks which way imports point inside
``tessera.rules``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import tessera

SRC = Path(tessera.__file__).parent


def _is_module(package: str, name: str) -> bool:
    folder = SRC.joinpath(*package.split(".")[1:])
    return package.count(".") == 1 and ((folder / f"{name}.py").is_file() or (folder / name).is_dir())


def _deep_imports() -> list[tuple[str, int, str]]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        where = path.relative_to(SRC).as_posix()
        own = where.split("/")[0] if "/" in where else None
        for node in ast.walk(ast.parse(path.read_text(), where)):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                # ``from tessera.pkg import module`` reaches past the door as surely as ``import tessera.pkg.module``.
                modules = [node.module] + [
                    f"{node.module}.{alias.name}" for alias in node.names if _is_module(node.module, alias.name)
                ]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:
                continue
            for module in modules:
                parts = module.split(".")
                if parts[0] != "tessera" or len(parts) < 3 or parts[1] == own:
                    continue
                found.append((where, node.lineno, module))
    return found


def test_no_module_reaches_past_another_packages_init() -> None:
    """Outside a package, code imports ``tessera.<pkg>``, never ``tessera.<pkg>.<module>``."""
    assert _deep_imports() == []
