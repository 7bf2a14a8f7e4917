"""A programme's CEL judged by the rules' guard: eligibility only widens on protected facts; amounts never read them.

**Eligibility** and each **top-up's condition** are guarded exactly as an eligibility grant of
the rules is (``tessera.rules.guarded_condition``, over the facts of ``facts.py``): a forbidden
category refuses the programme; health and disability, and grants of benefits that reveal them,
may be read only so that the fact *widens* the condition. That is the rules' polarity property
(``tessera.rules`` ``language/polarity.py``), restated for facts: order each protected fact's
values with its absent value (``false``, ``0``, ``""``) below all others, and outcomes
``false < error < true``; an admitted condition is monotone non-decreasing in every protected
fact. So masking protected facts (setting them absent) never makes a condition hold that did
not, and making one present never turns a holding condition off: ``income < X && !disability``
is refused.

**Amounts** (each line's ``amount`` and each top-up's ``amount``) are whole numbers (CEL int).
The rules' polarity check judges true-or-false conditions, not numbers, so an amount may not read
a health or disability fact at all: ``500 - 100 * grants.disability_allowance`` could lower what
a disabled person gets. A protected fact raises an amount only through a top-up, whose condition
is polarity-checked and whose amount is never negative: the line's total is then monotone in
every protected fact by construction. An amount that can be negative on a probe of the facts it
reads (``formula_probes``) is refused; at run time a negative result pays nothing and says why.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping

import cel_expr_python.cel as cel  # noqa: PLR0402 (mypy finds the stub only by its module path)

from tessera.errors import InvalidInputError, NotFoundError, ProtectedCategoryError, TesseraError
from tessera.programs.facts import FACTS_NAME, FactSchema
from tessera.rules import FAVOURABLE_ONLY, CodeTables, FieldType, GuardedCondition, guarded_condition

_GUARD_KEY = "condition"  # the key the rules' guard names in its errors' fields
_PROBE_INTS = (0, 1, 2, 3, 5, 10, 18, 60, 100, 1000)  # counts, ages and amounts a formula meets
_PROBES_MAX = 512
_WRAPPER_TYPE = re.compile(r"no matching overload for '_>=_' applied to '\((\w+), int\)'")
_POSITION = re.compile(r"^at (\d+):")  # CEL's "at 2:7: ..." (line:column)


def guarded_eligibility(
    where: str, programme_id: str, key: str, condition: object, *, schema: FactSchema, codes: CodeTables
) -> GuardedCondition:
    """Admit ``condition`` (the ``key`` of the table at ``where``) as a programme's eligibility, or raise naming it."""
    try:
        return guarded_condition(
            where, programme_id, _text(condition, f"{where}.{key}"), [schema.facts], True,
            favourable=True, codes=codes, root=None,
        )  # fmt: skip
    except ProtectedCategoryError as error:
        raise _relabelled(error, programme_id, f"{where}.{key}") from None
    except TesseraError as error:
        raise _renamed(error, programme_id, where, key) from None


def guarded_amount(
    where: str, programme_id: str, key: str, formula: object, *, schema: FactSchema, codes: CodeTables
) -> GuardedCondition:
    """Admit ``formula`` as an amount: an int over facts that reads no protected fact and is never negative on a probe.

    The returned condition's ``checked.env`` compiles the formula itself (``amount_program``).
    """
    field = f"{where}.{key}"
    text = _text(formula, field)
    try:
        # The guard judges true-or-false text; the formula inside a comparison reads exactly what the formula does.
        guarded = guarded_condition(
            where, programme_id, f"(\n{text}\n) >= 0", [schema.facts], False,
            favourable=True, codes=codes, root=None,
        )  # fmt: skip
    except ProtectedCategoryError as error:
        reason = None
        if error.category in {c.value for c in FAVOURABLE_ONLY}:
            reason = (
                f"which an amount may not read (programme {programme_id!r}): the rules' polarity check judges "
                "conditions, not numbers, so a protected fact could lower what a person gets; raise the amount "
                'with a [[top_up]] whose condition reads it (e.g. condition = "grants.disability_allowance")'
            )
        raise _relabelled(error, programme_id, field, reason) from None
    except TesseraError as error:
        raise _wrapper_undone(_renamed(error, programme_id, where, key), text.count("\n") + 1) from None
    program = amount_program(guarded, text, field)
    _refuse_negative(program, guarded.paths, field)
    return guarded


def amount_program(guarded: GuardedCondition, formula: str, field: str) -> cel.Expression:
    """``formula`` compiled with exactly the facts its guard admitted; it must be a whole number (int)."""
    try:
        program = guarded.checked.env.compile(formula)
    except RuntimeError as error:  # unreachable for a formula the guard admitted; named all the same
        raise InvalidInputError(field, str(error).splitlines()[0]) from None
    if program.return_type() != cel.Type.INT:
        raise InvalidInputError(
            field, f"an amount is a whole number of the ledger's minor units (int), not {program.return_type()}"
        )
    return program


def formula_probes(paths: Mapping[str, FieldType]) -> list[dict[str, object]]:
    """Fact vectors an amount is tried on: all absent, each int fact alone at a few values, all at once."""
    base: dict[str, object] = {p: _absent(t) for p, t in paths.items()}
    probes = [dict(base)]
    ints = [p for p, t in paths.items() if t in (FieldType.integer, FieldType.date, FieldType.timestamp)]
    for path, value in itertools.product(ints, _PROBE_INTS):
        probes.append({**base, path: value})
    for value in _PROBE_INTS:
        probes.append(
            {**base, **dict.fromkeys(ints, value), **{p: True for p, t in paths.items() if t is FieldType.boolean}}
        )
    return probes[:_PROBES_MAX]


def _refuse_negative(program: cel.Expression, paths: Mapping[str, FieldType], field: str) -> None:
    for probe in formula_probes(paths):
        value = program.eval(data=probe).value()
        if isinstance(value, int) and value < 0:
            facts = ", ".join(f"{p} = {v!r}" for p, v in probe.items() if v != _absent(paths[p])) or "every fact absent"
            raise InvalidInputError(field, f"an amount is never negative, but this one is {value} where {facts}")


def _absent(field_type: FieldType) -> object:
    return {FieldType.number: 0.0, FieldType.text: "", FieldType.boolean: False}.get(field_type, 0)


def _text(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise InvalidInputError(field, "must be a CEL expression (a string)")
    return value


def _relabelled(
    error: ProtectedCategoryError, programme_id: str, field: str, reason: str | None = None
) -> ProtectedCategoryError:
    """The guard's refusal placed under the programme's key (``programme[0].eligibility``), naming the fact alone."""
    label = error.field.removeprefix(f"{error.where}.")
    fact = label.removeprefix(f"{FACTS_NAME}.")
    if reason is None:
        said = str(error).removeprefix(f"{error.field}: uses the protected category {error.category!r}, ")
        reason = said.replace(f"rule {programme_id!r}", f"programme {programme_id!r}")
    return ProtectedCategoryError(field, fact, error.category, reason)


def _wrapper_undone(error: TesseraError, lines: int) -> TesseraError:
    """An amount's error as if the formula (of ``lines`` lines) had been judged alone: its own lines, its own type."""
    field = getattr(error, "field", None)
    if type(error) is not InvalidInputError or not isinstance(field, str):
        return error
    message = str(error).removeprefix(f"{field}: ")
    wrong = _WRAPPER_TYPE.search(message)
    if wrong is not None:
        return InvalidInputError(
            field, f"an amount is a whole number of the ledger's minor units (int), not {wrong[1]}"
        )
    position = _POSITION.match(message)
    if position is not None and not 1 <= int(position[1]) - 1 <= lines:  # on the wrapper's own lines: the end
        rest = message[position.end() :].split(": ", 1)[-1].replace("input ')'", "the end of the formula")
        return InvalidInputError(field, f"at the end: {rest}")
    if position is not None:
        message = f"at {int(position[1]) - 1}:{message[position.end() :]}"
    return InvalidInputError(field, message)


def _renamed(error: TesseraError, programme_id: str, where: str, key: str) -> TesseraError:
    """The guard's error with its field named as the programme's key (``eligibility``), not the rules' ``condition``."""
    guard_field = f"{where}.{_GUARD_KEY}"
    field = getattr(error, "field", None)
    if not isinstance(field, str) or not field.startswith(guard_field) or isinstance(error, ProtectedCategoryError):
        return error
    message = str(error).removeprefix(f"{field}: ").replace(f"rule {programme_id!r}", f"programme {programme_id!r}")
    renamed = f"{where}.{key}{field.removeprefix(guard_field)}"
    return NotFoundError(renamed, message) if isinstance(error, NotFoundError) else InvalidInputError(renamed, message)
