"""Each package's ``__init__`` is its door: code outside a package imports only through it.

Walks every module under ``src/tessera`` with ``ast`` and fails on an import of
``tessera.<pkg>.<module>`` (or deeper) from outside ``<pkg>``, TYPE_CHECKING imports
included. ``tessera.rules`` is left out on both sides: its faces are checked with its own
restructuring, separately.
"""

from __future__ import annotations

import ast
from pathlib import Path

import tessera

SRC = Path(tessera.__file__).parent
# Checked separately, with rules/'s own restructuring: imports of tessera.rules.* and modules under rules/.
EXCLUDED_PACKAGES = {"rules"}
# (importing module, imported module): each one a reason it may still reach past the door.
ALLOWED: dict[tuple[str, str], str] = {
    ("cli/main.py", "tessera.api.services"): "services.py is moving to tessera/service.py, the composition root",
    ("cli/seed.py", "tessera.api.services"): "services.py is moving to tessera/service.py, the composition root",
    ("testing.py", "tessera.identity.numbers"): "reads the check-digit tables (_D, _P, _INV) to vectorise numbers",
}
# Modules left alone while another change moves them; their imports are fixed where they land.
SKIPPED_MODULES = {"api/services.py": "moving to tessera/service.py"}


def _is_module(package: str, name: str) -> bool:
    folder = SRC.joinpath(*package.split(".")[1:])
    return package.count(".") == 1 and ((folder / f"{name}.py").is_file() or (folder / name).is_dir())


def _deep_imports() -> list[tuple[str, int, str]]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        where = path.relative_to(SRC).as_posix()
        own = where.split("/")[0] if "/" in where else None
        if own in EXCLUDED_PACKAGES or where in SKIPPED_MODULES:
            continue
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
                if parts[0] != "tessera" or len(parts) < 3 or parts[1] in (own, *EXCLUDED_PACKAGES):
                    continue
                found.append((where, node.lineno, module))
    return found


def test_no_module_reaches_past_another_packages_init() -> None:
    """Outside a package, code imports ``tessera.<pkg>``, never ``tessera.<pkg>.<module>``."""
    assert [found for found in _deep_imports() if (found[0], found[2]) not in ALLOWED] == []


def test_every_allowed_exception_is_still_needed() -> None:
    """An allow-list entry whose import is gone is dropped, so the list only names real exceptions."""
    assert set(ALLOWED) <= {(where, module) for where, _, module in _deep_imports()}
