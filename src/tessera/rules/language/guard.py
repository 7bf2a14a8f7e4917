"""The guard: which event fields a condition reads, and whether the rule may read them (DESIGN.md, principle 1).

A condition names each field it reads literally, as ``event.<field>`` or
``event.<record>.<field>``. The guard finds every such name in the parsed tree, refuses
anything it cannot check by name (``event["reli" + "gion"]``, a bare ``event``, indexing,
``has()``, the implicit ``subject`` and ``time``), and checks every category on the way to
each field, and each input type's purpose:

- a forbidden category refuses the rule, whatever its effects;
- health or disability refuses the rule unless every effect grants a benefit (eligibility):
  never a score, up or down, a restriction or a denial.

Then the condition is type-checked with exactly the approved fields in scope, so whatever
the parser and the guard might disagree about, the checker (which is also the evaluator)
cannot resolve a field the guard did not approve.

A programme's condition (``tessera.programs``) reads facts the same way, with no ``event``
in front: each top-level field of its one input is a name of its own (``household.size``,
``grants.disability_allowance``); ``root=None`` says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import TypeGuard

from tessera.errors import InvalidInputError, NotFoundError, ProtectedCategoryError, TesseraError
from tessera.rules.categories import FAVOURABLE_ONLY, FORBIDDEN, IMPLICIT_FIELDS, Category, EventType, FieldType
from tessera.rules.codes import CodeTables, builtin_code_tables
from tessera.rules.language.cel_ast import (
    BINARY_ARGS,
    Call,
    Checked,
    Comprehension,
    Const,
    Expr,
    Ident,
    Select,
    check,
    children,
    parse,
)
from tessera.rules.language.polarity import protected_reads, require_widening
from tessera.rules.language.values import read_values

EVENT = "event"  # the one name a condition reads the event through


@dataclass(frozen=True, slots=True)
class GuardedCondition:
    """A condition the guard admitted: the paths it reads with their types, and its checked tree."""

    paths: Mapping[str, FieldType]  # "amount", "claimant.age_band"
    fields: frozenset[str]  # "loan.repaid.amount" for every input type
    checked: Checked
    # Read through values (values.py): each coded path's table, and the categories of the values it can match.
    coded: Mapping[str, str] = dataclass_field(default_factory=dict)
    value_categories: frozenset[Category] = frozenset()


def guarded_condition(
    where: str,
    rule_id: str,
    condition: str,
    inputs: Sequence[EventType],
    benefits_only: bool,
    *,
    favourable: bool | None = None,
    codes: CodeTables | None = None,
    root: str | None = EVENT,
) -> GuardedCondition:
    """Admit ``condition`` for a rule reading ``inputs``, or raise naming ``where`` (``credit.toml:rule[2]``).

    ``benefits_only`` says whether every effect of the rule is an eligibility grant, the only
    kind that may read health or disability data; ``favourable`` whether every effect is
    favourable (None: as ``benefits_only``), the only kind that may read free text or compare a
    coded field in ways the guard cannot resolve; ``codes`` are the code tables in force
    (None: the built-in ones, no ledger registered); ``root`` the name the fields are read
    through (None: each top-level field of the inputs by its own name, as programmes read facts).
    """
    field = f"{where}.condition"
    reads: list[tuple[tuple[str, ...], str | None]] = []
    roots = frozenset({root}) if root is not None else frozenset(f.name for t in inputs for f in t.fields)
    _collect(parse(condition, field), reads, roots, root is None)
    for t in inputs:  # the event itself is data of its purpose, read or not
        _check_category(where, rule_id, f"{t.name}.purpose", (t.purpose,), benefits_only)
    problems: list[TesseraError] = []
    paths: dict[str, FieldType] = {}
    for parts, problem in reads:
        if not parts:
            problems.append(InvalidInputError(field, problem or "the event is read field by field, as event.<field>"))
            continue
        path = ".".join(parts)
        for t in inputs:
            leaves = t.leaf_fields()
            leaf = leaves.get(path)
            if leaf is None:
                problems.append(_unknown(field, t, parts, leaves, root))
                continue
            _check_category(where, rule_id, f"{t.name}.{path}", leaf.categories, benefits_only)
            if paths.setdefault(path, leaf.type) is not leaf.type:
                names = ", ".join(x.name for x in inputs)
                problems.append(InvalidInputError(field, f"event.{path} has different types in {names}"))
        if problem is not None:
            problems.append(InvalidInputError(field, problem))
    if problems:  # a protected category is reported first, above; then the first other problem
        raise problems[0]
    prefix = "" if root is None else f"{root}."
    checked = check(condition, {prefix + p: paths[p] for p in sorted(paths)}, field)
    if benefits_only:  # and then only so that a protected fact widens what a person gets (polarity.py)
        require_widening(where, rule_id, checked, protected_reads(paths, inputs, root))
    values = read_values(
        where,
        rule_id,
        checked,
        inputs=inputs,
        paths=paths,
        codes=codes if codes is not None else builtin_code_tables(),
        favourable=benefits_only if favourable is None else favourable,
        benefits_only=benefits_only,
        root=root,
    )
    fields = frozenset(f"{t.name}.{p}" for t in inputs for p in paths)
    return GuardedCondition(dict(sorted(paths.items())), fields, checked, values.coded, values.categories)


def _check_category(where: str, rule_id: str, field: str, categories: Sequence[Category], benefits_only: bool) -> None:
    for category in categories:
        if category in FORBIDDEN:
            raise ProtectedCategoryError(where, field, category.value, f"which no rule may read (rule {rule_id!r})")
        if category in FAVOURABLE_ONLY and not benefits_only:
            reason = (
                "which only a rule whose every effect grants a benefit (eligibility) may read, never a score, "
                f"a restriction or a denial (rule {rule_id!r})"
            )
            raise ProtectedCategoryError(where, field, category.value, reason)


def _unknown(
    field: str, t: EventType, parts: tuple[str, ...], leaves: Mapping[str, object], root: str | None
) -> TesseraError:
    path = ".".join(parts)
    if root is None:  # facts, read by their own names
        if any(p.startswith(path + ".") for p in leaves):
            return InvalidInputError(field, f"{path} is a group of facts; read one of them ({path}.<fact>)")
        return NotFoundError(field, f"no fact {path!r} is registered")
    if parts[0] in IMPLICIT_FIELDS:
        return InvalidInputError(
            field, f"event.{parts[0]} is the engine's, not the condition's: conditions read only declared fields"
        )
    for n in range(1, len(parts)):
        if ".".join(parts[:n]) in leaves:
            return NotFoundError(
                field, f"{t.name}.{'.'.join(parts[:n])} is a plain value; it has no field {parts[n]!r}"
            )
    if any(p.startswith(path + ".") for p in leaves):
        return InvalidInputError(field, f"{t.name}.{path} is a record; read one of its fields (event.{path}.<field>)")
    return NotFoundError(field, f"event type {t.name} has no field {path!r}")


def _root(node: Expr, roots: frozenset[str], named: bool) -> tuple[tuple[str, ...], bool] | None:
    """The field path of ``event.a.b`` (``("a", "b")``) and whether a literal index (``event["a"]``) spelled it.

    None when ``node`` is not such a path rooted at one of ``roots``; ``named``: the root is itself
    the path's first part (``household.size`` is ``("household", "size")``).
    """
    names: list[str] = []
    indexed = False
    while True:
        if isinstance(node, Select):
            names.append(node.field)
            node = node.operand
        elif _is_index(node) and isinstance(node.args[1], Const) and isinstance(node.args[1].value, str):
            names.append(node.args[1].value)
            indexed = True
            node = node.args[0]
        else:
            break
    if isinstance(node, Ident) and node.name.lstrip(".") in roots:
        if named:
            names.append(node.name.lstrip("."))
        return tuple(reversed(names)), indexed
    return None


def _is_index(node: Expr) -> TypeGuard[Call]:
    return isinstance(node, Call) and node.function in ("_[_]", "_[?_]") and len(node.args) == BINARY_ARGS


def _collect(node: Expr, reads: list[tuple[tuple[str, ...], str | None]], roots: frozenset[str], named: bool) -> None:
    """Every read of the event under ``node``: its path, and why it is refused when it is."""
    stack = [node]
    while stack:
        node = stack.pop()
        found = _root(node, roots, named)
        if found is not None:
            parts, indexed = found
            problem = None
            if indexed:  # event["x"]: what it names is checked, and it is refused anyway
                problem = "fields are named as event.<field>; a computed or map-style name cannot be checked"
            elif _tests_presence(node):
                problem = "has() is not supported: every declared field is always present"
            reads.append((parts, problem))
            continue
        if _is_index(node):
            target, key = node.args
            owner = _root(target, roots, named)
            if owner is not None:
                reads.append((owner[0], "fields are named as event.<field>; a computed name cannot be checked"))
                stack.append(key)
                continue
            reads.append(((), "indexing is not supported in conditions: a computed name cannot be checked"))
        if isinstance(node, Comprehension) and node.iter_var.lstrip(".") in roots:
            reads.append(((), f"a macro's variable may not be called {node.iter_var.lstrip('.')}"))
        stack.extend(children(node))


def _tests_presence(node: Expr) -> bool:
    while isinstance(node, Select):
        if node.test_only:
            return True
        node = node.operand
    return False
