"""``tessera.rules`` is the rules package's face: code elsewhere imports through it, never its modules."""

from __future__ import annotations

import ast
from pathlib import Path

import tessera.rules

SRC = Path(tessera.__file__).parent
RULES = SRC / "rules"
BENCH = SRC.parents[1] / "bench"


def _imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    """Every module a tree imports, with its line: ``import a.b`` and ``from a.b import c`` alike."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            found.extend((node.lineno, f"{node.module}.{alias.name}") for alias in node.names)
    return found


def _inside_rules(module: str) -> bool:
    """A module behind the face: ``tessera.rules.<anything>`` that is not a name the face exports."""
    if not module.startswith("tessera.rules."):
        return False
    first = module.removeprefix("tessera.rules.").split(".")[0]
    return not (module.count(".") == 2 and first in tessera.rules.__all__)


def test_code_outside_rules_imports_only_its_face() -> None:
    """No module of src/ or bench/ outside tessera/rules imports ``tessera.rules.<module>``, only the face's names."""
    offenders = [
        f"{path.relative_to(SRC.parents[1])}:{line}: {module}"
        for path in sorted([*SRC.rglob("*.py"), *BENCH.rglob("*.py")])
        if RULES not in path.parents
        for line, module in _imported_modules(ast.parse(path.read_text(encoding="utf-8")))
        if _inside_rules(module)
    ]
    assert offenders == []


def test_the_check_sees_an_import_behind_the_face() -> None:
    """The walk would catch ``from tessera.rules.restrictions import Restrictions`` and ``import tessera.rules.x``."""
    tree = ast.parse("from tessera.rules.restrictions import Restrictions\nimport tessera.rules.scores\n")
    assert [m for _, m in _imported_modules(tree) if _inside_rules(m)] == [
        "tessera.rules.restrictions.Restrictions",
        "tessera.rules.scores",
    ]
    assert not [
        m for _, m in _imported_modules(ast.parse("from tessera.rules import Restrictions\n")) if _inside_rules(m)
    ]


# What each part of rules/ may import from the others: the map in tessera/rules/__init__.py.
ALLOWED = {
    "": set(),
    "language": {"language"},
    "due_process": {"due_process"},
    "scoring": {"scoring", "language", "due_process"},
    "sanctions": {"sanctions", "due_process"},
}


def test_rules_imports_point_one_way() -> None:
    """The base imports no sub-package; language and due_process only the base; scoring and sanctions as mapped."""
    offenders = []
    for path in sorted(RULES.rglob("*.py")):
        if path.parent == RULES and path.name == "__init__.py":
            continue  # the face imports everything
        part = "" if path.parent == RULES else path.parent.name
        for line, module in _imported_modules(ast.parse(path.read_text(encoding="utf-8"))):
            if not module.startswith("tessera.rules."):
                continue
            first = module.removeprefix("tessera.rules.").split(".")[0]
            if first in ALLOWED and first and first not in ALLOWED[part]:
                offenders.append(f"{path.relative_to(SRC.parent)}:{line}: {module}")
    assert offenders == []
