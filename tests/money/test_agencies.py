"""The register of agencies: an agency's title is read by officers and people, and shows all it says."""

from __future__ import annotations

import pytest

from tessera.errors import InvalidInputError
from tessera.money import Agencies
from tessera.store.tables import AGENCY_TITLE_MAX
from tests.money.office import Office


class TestTitle:
    def test_a_title_in_any_script_is_kept_nfc_and_stripped(self, office: Office) -> None:
        """An agency's title in any script is kept, NFC and stripped, its Persian joiner too."""
        agencies = Agencies(office.store)
        assert agencies.register("customs", " Agence des impo\u0302ts ", "admin").title == "Agence des impôts"
        persian = "\u0633\u0627\u0632\u0645\u0627\u0646 \u0645\u0627\u0644\u06cc\u0627\u062a\u200c\u0647\u0627"
        assert agencies.register("revenue-x", persian, "admin").title == persian  # a ZWNJ between letters

    @pytest.mark.parametrize(
        "title",
        [
            "",
            "   ",
            "\u3164",  # a Hangul filler: shows as nothing
            "Central \u202eknaB",  # an override: reads otherwise than it shows
            "Central\u200b Bank",
            "Central Bank\u2066",
            "Central\u00adBank",
            "\u2800",  # a braille blank: no letter or digit
            "x" * (AGENCY_TITLE_MAX + 1),
        ],
        ids=["empty", "blank", "filler", "override", "zwsp", "isolate", "soft-hyphen", "braille-blank", "long"],
    )
    def test_a_title_that_hides_something_or_shows_nothing__refused(self, office: Office, title: str) -> None:
        """A title that is blank, hides characters or reads otherwise than it shows is refused; no agency is made."""
        agencies = Agencies(office.store)
        with pytest.raises(InvalidInputError) as caught:
            agencies.register("ombudsman", title, "admin")
        assert caught.value.field == "title" and agencies.get("ombudsman") is None
