"""Legal bases: checked terms, one registry, and the domains a restriction may close under each."""

from __future__ import annotations

import datetime as dt

import pytest

from tessera.errors import ConflictError, InvalidInputError, NotFoundError
from tessera.rules.basis import (
    BasisKind,
    CourtOrder,
    Domain,
    LegalBases,
    LegalBasis,
    checked_domains,
    court_order,
    legal_basis,
    require_agencies,
    require_coverage,
)
from tessera.rules.categories import Category, event_type

TAX = legal_basis("tax-act/12", "Tax Act 2024", "s. 12(3)", "statute", ["payments", "licensing"])
COURT = legal_basis(
    "court/118", "Civil Procedure Act", "s. 7", BasisKind.court_order, [Domain.travel], exercised_by=["courts"]
)
TODAY = dt.date(2026, 3, 2)


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
            (("ok", "Civil \u202etcA", "s. 1", "statute"), "basis.instrument"),  # cited on every notice
            (("ok", "Act", "s.\u200b 1", "statute"), "basis.article"),
            (("ok", "\u3164", "s. 1", "statute"), "basis.instrument"),
            (("ok", "Act", "s. 1", "decree"), "basis.kind"),
        ],
    )
    def test_malformed_terms__invalid_input_naming_the_field(self, args: tuple[str, ...], field: str) -> None:
        """Bad ids, blank or hidden-character text and unknown kinds are refused: every notice cites these terms."""
        with pytest.raises(InvalidInputError) as caught:
            legal_basis(*args)
        assert caught.value.field == field

    def test_unknown_domain__invalid_input_naming_its_place(self) -> None:
        """An unknown domain among good ones is refused, naming its position in the list."""
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
        """Of all the kinds of basis, only a court order may restrict without an end date."""
        assert [k for k in BasisKind if legal_basis("k", "Act", "s", k).allows_open_end] == [BasisKind.court_order]


class TestWhoExercises:
    def test_a_basis_names_the_agencies_that_exercise_it(self) -> None:
        """A basis exercises through the agencies it names, and no other agency (nor none) may."""
        assert COURT.exercised_by == {"courts"} and COURT.agencies_text() == "courts"
        assert COURT.exercisable_by("courts") and not COURT.exercisable_by("central-bank")
        assert not COURT.exercisable_by("") and not TAX.exercisable_by("courts")
        assert TAX.agencies_text() == "no agency"

    @pytest.mark.parametrize(
        ("agencies", "field"),
        [
            ("courts", "basis.exercised_by"),  # a string is not a list
            (["courts", ""], "basis.exercised_by[1]"),
            (["courts; central-bank"], "basis.exercised_by[0]"),
            (["x" * 101], "basis.exercised_by[0]"),
            ([f"agency-{i}" for i in range(9)], "basis.exercised_by"),
        ],
    )
    def test_malformed_agencies__invalid_input_naming_the_field(self, agencies: object, field: str) -> None:
        """A string for a list, a blank, a joined or overlong name, or too many agencies are refused by field."""
        with pytest.raises(InvalidInputError) as caught:
            legal_basis("x/1", "Act", "s. 1", "statute", ["credit"], exercised_by=agencies)  # type: ignore[arg-type]
        assert caught.value.field == field

    def test_a_basis_that_closes_domains_must_name_them_one_that_closes_none_need_not(self) -> None:
        """A basis that closes domains must name its agencies; one that only opens doors need not."""
        with pytest.raises(InvalidInputError) as caught:
            require_agencies(TAX)
        assert caught.value.field == "basis.exercised_by"
        opens_doors = legal_basis("benefit/1", "Benefit Act", "s. 1", "statute")
        assert require_agencies(opens_doors) is opens_doors and require_agencies(COURT) is COURT

    def test_a_basis_without_agencies_is_filled_in_once_never_changed(self) -> None:
        """A basis recorded before agencies were: the same terms with agencies complete it; other agencies conflict."""
        bases = LegalBases([TAX])
        with_agencies = legal_basis(
            "tax-act/12", "Tax Act 2024", "s. 12(3)", "statute", ["payments", "licensing"], exercised_by=["tax-office"]
        )
        assert bases.register(with_agencies) == with_agencies and bases.get("tax-act/12") == with_agencies
        assert bases.register(TAX) is bases.get("tax-act/12")  # the older view: a no-op
        courts = legal_basis(
            "tax-act/12", "Tax Act 2024", "s. 12(3)", "statute", ["payments", "licensing"], exercised_by=["courts"]
        )
        with pytest.raises(ConflictError):
            bases.register(courts)


class TestCoverage:
    """A basis names the event types or purposes it covers; a rule citing it over anything else is refused."""

    LOANS = event_type("loan.repaid", "financial", {"days_late": ("int", "financial")})
    TAXES = event_type("tax.filed_late", "tax", {"days_late": ("int", "tax")})
    CREDIT = legal_basis("credit-act/12", "Credit Act", "s. 12", "statute", covers=["loan.repaid"])

    def test_a_basis_covers_the_types_it_names_or_their_purposes(self) -> None:
        """A basis covers the event types it names or those of its purposes, and says so in words."""
        by_purpose = legal_basis("tax-act/45", "Tax Act", "s. 45", "statute", purposes=["tax"])
        assert self.CREDIT.covers_type(self.LOANS) and not self.CREDIT.covers_type(self.TAXES)
        assert by_purpose.covers_type(self.TAXES) and by_purpose.purposes == {Category.tax}
        assert self.CREDIT.coverage_text() == "loan.repaid" and TAX.coverage_text() == "nothing"
        require_coverage(self.CREDIT, "r", [self.LOANS], "w")

    def test_a_rule_over_anything_else__refused_naming_rule_basis_and_input(self) -> None:
        """A rule over an uncovered input is refused at that input, naming the rule, the basis and the type."""
        with pytest.raises(InvalidInputError) as caught:
            require_coverage(self.CREDIT, "credit.taxes", [self.LOANS, self.TAXES], "f.toml:rule[0]")
        assert caught.value.field == "f.toml:rule[0].inputs[1]"
        assert all(s in str(caught.value) for s in ("'credit.taxes'", "credit-act/12", "tax.filed_late"))

    def test_a_basis_that_names_nothing_covers_no_rule(self) -> None:
        """A basis from before bases named what they cover: no rule may cite it until it does."""
        with pytest.raises(InvalidInputError, match="covers nothing"):
            require_coverage(TAX, "r", [self.TAXES], "w")

    @pytest.mark.parametrize("kind", ["court_order", "sanctions_listing"])
    def test_a_court_order_or_a_listing_covers_no_rule_at_all(self, kind: str) -> None:
        """Only an officer exercises them, entering the order or confirming the match."""
        basis = legal_basis("x/1", "X", "s. 1", kind, ["payments"], exercised_by=["courts"], covers=["loan.repaid"])
        assert not basis.for_rules
        with pytest.raises(InvalidInputError) as caught:
            require_coverage(basis, "r", [self.LOANS], "w")
        assert caught.value.field == "w.basis" and "no automated rule may cite it" in str(caught.value)

    @pytest.mark.parametrize(
        ("terms", "field"),
        [
            ({"covers": "loan.repaid"}, "basis.covers"),
            ({"covers": ["Loan.Repaid"]}, "basis.covers[0]"),
            ({"covers": ["loan"]}, "basis.covers[0]"),
            ({"purposes": ["taxes"]}, "basis.purposes[0]"),
            ({"purposes": "tax"}, "basis.purposes"),
            ({"covers": [f"a.b{i}" for i in range(65)]}, "basis.covers"),
        ],
    )
    def test_malformed_coverage__invalid_input_naming_the_field(self, terms: dict[str, object], field: str) -> None:
        """Malformed covers and purposes (not a list, bad names, unknown purposes, too many) are refused by field."""
        with pytest.raises(InvalidInputError) as caught:
            legal_basis("x/1", "X", "s. 1", "statute", **terms)  # type: ignore[arg-type]
        assert caught.value.field == field

    def test_a_basis_recorded_without_coverage_is_completed_once_never_changed(self) -> None:
        """The store keeps no coverage yet: the same terms naming it complete the record; other coverage conflicts."""
        bare = legal_basis("credit-act/12", "Credit Act", "s. 12", "statute")
        bases = LegalBases([bare])
        assert bases.register(self.CREDIT) == self.CREDIT and bases.get("credit-act/12") == self.CREDIT
        assert bases.register(bare) is bases.get("credit-act/12")  # the older view: a no-op
        wider = legal_basis("credit-act/12", "Credit Act", "s. 12", "statute", covers=["loan.repaid", "tax.filed_late"])
        with pytest.raises(ConflictError):
            bases.register(wider)


class TestCourtOrder:
    def test_plain_values_become_a_checked_order(self) -> None:
        """Text and ISO dates become a stripped CourtOrder that cites itself; non-Latin court names are kept."""
        order = court_order(" High Court of Justice ", "HC/2026/118", "2026-03-01", today=TODAY)
        assert order == CourtOrder("High Court of Justice", "HC/2026/118", dt.date(2026, 3, 1))
        assert order.cite() == "order of 2026-03-01 in HC/2026/118, High Court of Justice"
        assert court_order("دادگاه\u200cعمومی", "CV 12-2026", TODAY, today=TODAY).court == "دادگاه\u200cعمومی"

    def test_a_day_of_grace_for_a_court_east_of_utc(self) -> None:
        """An order dated tomorrow is accepted (a court east of UTC), the day after is refused."""
        assert court_order("Court", "1", TODAY + dt.timedelta(days=1), today=TODAY).issued_on > TODAY
        with pytest.raises(InvalidInputError):
            court_order("Court", "1", TODAY + dt.timedelta(days=2), today=TODAY)

    @pytest.mark.parametrize(
        ("court", "case_number", "issued_on", "field"),
        [
            ("", "1", TODAY, "court_order.court"),
            (None, "1", TODAY, "court_order.court"),
            ("C" * 121, "1", TODAY, "court_order.court"),
            ("High  Court", "1", TODAY, "court_order.court"),
            ("High\u00adCourt", "1", TODAY, "court_order.court"),  # a soft hyphen: invisible
            ("High\nCourt", "1", TODAY, "court_order.court"),
            ("High \u2067Court\u2069", "1", TODAY, "court_order.court"),  # an isolate
            ("High\u3164Court", "1", TODAY, "court_order.court"),  # a Hangul filler: isprintable() took it
            ("High Court\u200d", "1", TODAY, "court_order.court"),  # a joiner not between letters
            ("\u2800", "1", TODAY, "court_order.court"),  # a braille blank: no letter
            ("Court", "", TODAY, "court_order.case_number"),
            ("Court", " HC/1", TODAY, "court_order.case_number"),
            ("Court", "HC/1 ", TODAY, "court_order.case_number"),
            ("Court", "HC\u200b/1", TODAY, "court_order.case_number"),
            ("Court", "HC/1, see attached", TODAY, "court_order.case_number"),
            ("Court", "1" * 65, TODAY, "court_order.case_number"),
            ("Court", 118, TODAY, "court_order.case_number"),
            ("Court", "1", "2026-02-30", "court_order.issued_on"),
            ("Court", "1", "02/03/2026", "court_order.issued_on"),
            ("Court", "1", dt.datetime(2026, 3, 1), "court_order.issued_on"),
            ("Court", "1", dt.date(1899, 12, 31), "court_order.issued_on"),
        ],
    )
    def test_a_malformed_order__invalid_input_naming_its_part(
        self, court: object, case_number: object, issued_on: object, field: str
    ) -> None:
        """Blank, hidden-character, overlong or mistyped courts, cases and dates are refused naming the part."""
        with pytest.raises(InvalidInputError) as caught:
            court_order(court, case_number, issued_on, today=TODAY)
        assert caught.value.field == field


class TestLegalBases:
    def test_registering_the_same_terms_twice_is_a_no_op(self) -> None:
        """Registering identical terms again returns the one on record: the registry stays one entry."""
        bases = LegalBases([TAX])
        assert bases.register(TAX) is bases.get("tax-act/12")
        assert len(bases) == 1 and "tax-act/12" in bases and bases.ids() == ["tax-act/12"]

    def test_other_terms_under_a_registered_id__conflict(self) -> None:
        """Other terms under a registered id are a conflict: a basis cannot be quietly rewritten."""
        bases = LegalBases([TAX])
        with pytest.raises(ConflictError):
            bases.register(legal_basis("tax-act/12", "Tax Act 2024", "s. 12(3)", "statute", ["travel"]))

    def test_unknown_id__not_found(self) -> None:
        """Asking for a basis nobody registered is not found."""
        with pytest.raises(NotFoundError):
            LegalBases().get("nothing/1")

    def test_a_hand_made_basis_is_checked_again(self) -> None:
        """A LegalBasis built directly cannot slip an unknown kind past the registry."""
        with pytest.raises(InvalidInputError):
            LegalBases().register(LegalBasis("x", "Act", "s", "decree", frozenset()))  # type: ignore[arg-type]


class TestCheckedDomains:
    def test_domains_the_basis_names_pass(self) -> None:
        """Domains the basis names pass, as strings or enums, and come back as a set of Domain."""
        assert checked_domains(TAX, ["payments", Domain.licensing]) == {Domain.payments, Domain.licensing}

    def test_a_domain_the_basis_does_not_name__refused_naming_it(self) -> None:
        """DESIGN principle 3: nothing spreads to a domain its basis does not name."""
        with pytest.raises(InvalidInputError) as caught:
            checked_domains(TAX, ["payments", "travel"])
        assert caught.value.field == "domains[1]"
        assert "does not allow closing travel" in str(caught.value)

    @pytest.mark.parametrize("domains", [[], "payments", ["payment"], [3]])
    def test_empty_unknown_or_not_a_list__invalid_input(self, domains: object) -> None:
        """No domains, a bare string, an unknown name or a non-string is refused."""
        with pytest.raises(InvalidInputError):
            checked_domains(TAX, domains)  # type: ignore[arg-type]
