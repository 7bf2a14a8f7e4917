"""Legal bases: checked terms, one registry, and the domains a restriction may close under each."""

from __future__ import annotations

import pytest

from tessera.errors import ConflictError, InvalidInputError, NotFoundError
from tessera.rules.basis import (
    BasisKind,
    Domain,
    LegalBases,
    LegalBasis,
    checked_domains,
    legal_basis,
)

TAX = legal_basis("tax-act/12", "Tax Act 2024", "s. 12(3)", "statute", ["payments", "licensing"])
COURT = legal_basis("court/118", "Civil Procedure Act", "s. 7", BasisKind.court_order, [Domain.travel])


class TestLegalBasis:
    def test_plain_values_become_a_checked_basis(self) -> None:
        """Kind and domains arrive as strings and leave as enums; text is stripped."""
        basis = legal_basis("x/1", "  Act  ", " s. 1 ", "regulation", ["credit"])
        assert basis == LegalBasis("x/1", "Act", "s. 1", BasisKind.regulation, frozenset({Domain.credit}))
        assert basis.cite() == "Act, s. 1"

    @pytest.mark.parametrize(
        ("args", "field"),
        [
            (("Bad Id", "Act", "s. 1", "statute"), "basis.id"),
            (("x" * 65, "Act", "s. 1", "statute"), "basis.id"),
            (("ok", " ", "s. 1", "statute"), "basis.instrument"),
            (("ok", "Act", "", "statute"), "basis.article"),
            (("ok", "Act", "s. 1", "decree"), "basis.kind"),
        ],
    )
    def test_malformed_terms__invalid_input_naming_the_field(self, args: tuple[str, ...], field: str) -> None:
        with pytest.raises(InvalidInputError) as caught:
            legal_basis(*args)
        assert caught.value.field == field

    def test_unknown_domain__invalid_input_naming_its_place(self) -> None:
        with pytest.raises(InvalidInputError) as caught:
            legal_basis("ok", "Act", "s. 1", "statute", ["payments", "voting"])
        assert caught.value.field == "basis.domains[1]"

    def test_only_court_orders_and_listings_self_execute(self) -> None:
        """A statute or a regulation needs a human decision before a restriction takes effect."""
        kinds = {k: legal_basis("k", "Act", "s", k).self_executing for k in BasisKind}
        assert kinds == {
            BasisKind.court_order: True,
            BasisKind.sanctions_listing: True,
            BasisKind.statute: False,
            BasisKind.regulation: False,
        }

    def test_only_a_court_order_allows_an_open_end(self) -> None:
        assert [k for k in BasisKind if legal_basis("k", "Act", "s", k).allows_open_end] == [BasisKind.court_order]


class TestLegalBases:
    def test_registering_the_same_terms_twice_is_a_no_op(self) -> None:
        bases = LegalBases([TAX])
        assert bases.register(TAX) is bases.get("tax-act/12")
        assert len(bases) == 1 and "tax-act/12" in bases and bases.ids() == ["tax-act/12"]

    def test_other_terms_under_a_registered_id__conflict(self) -> None:
        bases = LegalBases([TAX])
        with pytest.raises(ConflictError):
            bases.register(legal_basis("tax-act/12", "Tax Act 2024", "s. 12(3)", "statute", ["travel"]))

    def test_unknown_id__not_found(self) -> None:
        with pytest.raises(NotFoundError):
            LegalBases().get("nothing/1")

    def test_a_hand_made_basis_is_checked_again(self) -> None:
        """A LegalBasis built directly cannot slip an unknown kind past the registry."""
        with pytest.raises(InvalidInputError):
            LegalBases().register(LegalBasis("x", "Act", "s", "decree", frozenset()))  # type: ignore[arg-type]


class TestCheckedDomains:
    def test_domains_the_basis_names_pass(self) -> None:
        assert checked_domains(TAX, ["payments", Domain.licensing]) == {Domain.payments, Domain.licensing}

    def test_a_domain_the_basis_does_not_name__refused_naming_it(self) -> None:
        """DESIGN principle 3: nothing spreads to a domain its basis does not name."""
        with pytest.raises(InvalidInputError) as caught:
            checked_domains(TAX, ["payments", "travel"])
        assert caught.value.field == "domains[1]"
        assert "does not allow closing travel" in str(caught.value)

    @pytest.mark.parametrize("domains", [[], "payments", ["payment"], [3]])
    def test_empty_unknown_or_not_a_list__invalid_input(self, domains: object) -> None:
        with pytest.raises(InvalidInputError):
            checked_domains(TAX, domains)  # type: ignore[arg-type]
