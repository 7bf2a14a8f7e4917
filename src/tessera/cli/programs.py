"""``tessera programs``: check programme files before they are defined."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tessera.cli.common import DATA_DEFAULT, DatabaseOption, DataOption, command_group, open_store, reporting_errors
from tessera.errors import InvalidInputError, NotFoundError

if TYPE_CHECKING:
    from tessera.money import LedgerUnit
    from tessera.programs import KnownProgrammes, Programme
    from tessera.rules import Declared
    from tessera.store import Store

app = command_group("Programmes: check programme files, import approved product lists, list outlets.")


@app.command("check")
def check(
    files: Annotated[list[Path], typer.Argument(help="Programme files (TOML, [[programme]] tables).")],
    *,
    declarations: Annotated[
        Path | None,
        typer.Option(help="A DPO's export (tessera declarations export) to check against, instead of the store."),
    ] = None,
    ledgers: Annotated[
        Path | None,
        typer.Option(help="The register of ledgers as `tessera ledgers list` prints it, instead of the store's."),
    ] = None,
    data: DataOption = DATA_DEFAULT,
    database_url: DatabaseOption = None,
) -> None:
    """Load programme files against the declarations and ledgers in force; exit 0 when every one loads, 2 otherwise.

    The declarations come from the store (--data, --database-url) or a DPO's export
    (--declarations), as for `tessera rules check`; the ledgers from the store or --ledgers.
    Each refusal is one line naming the file, the programme and the field.
    """
    from tessera.cli.declarations import declared_for_check
    from tessera.programs import check_programmes
    from tessera.rules import load_benefits

    with reporting_errors():
        declared, source = declared_for_check(declarations, data, database_url)
        benefits = load_benefits([declared.document], declared.bases)
        units, ledgers_source = _ledgers_for_check(ledgers, data, database_url)
    typer.echo(f"declarations: {source}", err=True)
    typer.echo(f"ledgers: {ledgers_source}", err=True)
    programmes, refusals = check_programmes(files, declared.types, declared.bases, ledgers=units, benefits=benefits)
    for refusal in refusals:
        typer.echo(refusal.line())
    typer.echo(f"{len(programmes)} programmes load, {len(refusals)} refused", err=True)
    if refusals:
        raise typer.Exit(2)


def _ledgers_for_check(path: Path | None, data: Path, database_url: str | None) -> tuple[list[LedgerUnit], str]:
    """The ledgers programmes are checked against, and where they came from."""
    from tessera.money import Ledgers, ledger_unit

    if path is not None:
        try:
            rows = json.loads(path.read_text(encoding="utf-8"))["ledgers"]
            if not isinstance(rows, list):
                raise TypeError("ledgers is not a list")
            found = []
            for i, row in enumerate(rows):
                try:
                    found.append(
                        ledger_unit(
                            row["id"],
                            row["name"],
                            row["unit"],
                            row["decimals"],
                            row["issuer"],
                            category=row.get("category", "financial"),
                        )
                    )
                except InvalidInputError as error:
                    raise InvalidInputError(
                        f"{path}:ledgers[{i}].{error.field}", str(error).split(": ", 1)[-1]
                    ) from None
        except FileNotFoundError:
            raise NotFoundError(str(path), "no such file") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, AttributeError) as error:
            raise InvalidInputError(str(path), f"not a register of ledgers (tessera ledgers list): {error}") from None
        return found, f"{path} ({len(found)} ledgers)"
    if database_url is None and not (data / "registry.db").exists():
        return [], f"none (no store at {data}; pass --ledgers with what `tessera ledgers list` prints)"
    with open_store(data, database_url) as store:
        found = Ledgers(store).all()
    where = "--database-url" if database_url else str(data)
    return found, f"{len(found)} registered in the store at {where}"


products = command_group("Approved product lists: what a programme's entitlement may buy, imported whole from CSV.")
outlets = command_group("Outlets: the shops and stations where programmes are redeemed.")
app.add_typer(products, name="products")
app.add_typer(outlets, name="outlets")

AsOption = Annotated[
    str, typer.Option("--as", help="The name of the officer or admin principal the import is recorded under.")
]


@products.command("import")
def import_products(
    programme: Annotated[str, typer.Argument(help="The programme's id (rice_ration).")],
    file: Annotated[Path, typer.Argument(help="CSV: product_code,description,unit,commodity,quantity.")],
    *,
    actor: AsOption,
    data: DataOption = DATA_DEFAULT,
    database_url: DatabaseOption = None,
) -> None:
    """Replace a programme's approved product list with a CSV file, as its next version: whole, or not at all.

    Every line is checked first; a refusal names the line and column (line 3, quantity) and
    writes nothing. The list is checked against the programme as registered in the store (its
    latest version), as the service checks it. Prints the version made as JSON: programme,
    version, products, sha256.
    """
    from tessera.auth import Role
    from tessera.cli.declarations import declared_for_check
    from tessera.programs import ProductLists

    with reporting_errors():
        declared, _ = declared_for_check(None, data, database_url)  # before the store opens: it opens its own
        with open_store(data, database_url) as store:
            try:
                content = file.read_bytes()
            except OSError as error:
                raise NotFoundError(str(file), f"cannot be read: {error.strerror}") from None
            principal = store.get_principal_by_name(actor)
            if principal is None or principal.role not in (Role.officer, Role.admin):
                raise NotFoundError("--as", f"no officer or admin is called {actor!r:.80}")
            known = _registered_programmes(store, declared)
            made = ProductLists(store, known=known).import_list(programme, content, principal)
    typer.echo(
        json.dumps(
            {
                "programme": made.programme_id,
                "version": made.version,
                "products": made.products,
                "sha256": made.digest,
                "imported_by": made.imported_by,
            }
        )
    )


def _registered_programmes(store: Store, declared: Declared) -> KnownProgrammes:
    """The store's registered programmes, each checked against ``declared`` and the store's ledgers."""
    from tessera.money import Ledgers
    from tessera.programs import RegisteredProgrammes, load_programmes
    from tessera.rules import load_benefits

    benefits = load_benefits([declared.document], declared.bases)
    units = Ledgers(store).all()

    def load(text: str) -> Programme:
        (only,) = load_programmes([text], declared.types, declared.bases, ledgers=units, benefits=benefits)
        return only

    return RegisteredProgrammes(store, load).known


@outlets.command("list")
def list_outlets(
    *,
    location: Annotated[
        str | None, typer.Option(help="Only outlets whose location code starts so: KE, KE-047, KE-047-0012.")
    ] = None,
    operator: Annotated[str | None, typer.Option(help="Only one operator's: p_... or org:...")] = None,
    data: DataOption = DATA_DEFAULT,
    database_url: DatabaseOption = None,
) -> None:
    """Print the registered outlets, one JSON object a line, by id (at most 1000)."""
    from tessera.programs import Outlets

    with reporting_errors(), open_store(data, database_url) as store:
        found = Outlets(store).find(operator=operator, location=location)
    for o in found:
        record = {
            "id": o.id, "name": o.name, "operator": o.operator, "category": o.category, "location": o.location,
            "accounts": list(o.accounts),
        }  # fmt: skip
        typer.echo(json.dumps(record, ensure_ascii=False))
