"""X-Tessera-Purpose is UTF-8, kept as the officer wrote it, and never holds what a reader cannot see."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tessera.errors import InvalidInputError
from tessera.service import PURPOSE_MAX, checked_purpose
from tests.api.policy_world import Paths
from tests.api.world import ALICE, World, live_server

GERMAN = "Prüfung der Zahlung, Fall 2026/77"
PERSIAN = "بررسی درخواست\u200cها"  # noqa: RUF001 (Persian letters) the plural suffix takes a zero-width non-joiner
HINDI = "जाँच के लिए क्\u200dष"  # a joiner inside a conjunct

UNSEEN = {
    "C0": "a\x07b",
    "DEL": "a\x7fb",
    "C1 next line": "a\x85b",
    "C1 CSI": "a\x9bb",
    "right-to-left override": "case \u202e77/6202",
    "right-to-left isolate": "case \u206777",
    "left-to-right mark": "case\u200e 77",
    "zero-width space": "tax\u200benforcement",
    "soft hyphen": "tax\u00adenforcement",
    "word joiner": "tax\u2060enforcement",
    "byte-order mark": "\ufefftax",
    "tag letter": "tax\U000e0041",
    "Hangul filler": "tax\u3164enforcement",
    "variation selector": "tax\ufe0f",
    "combining grapheme joiner": "tax\u034fenforcement",
    "line separator": "tax\u2028enforcement",
    "joiner at the end": "enforcement\u200d",
    "joiner between spaces": "tax \u200c enforcement",
}


def _read_alices_account(world: World, purpose: bytes) -> tuple[int, dict[str, object]]:
    headers = {b"Authorization": f"Bearer {world.tokens['bank']}".encode(), b"X-Tessera-Purpose": purpose}
    response = world.client.get(f"/v1/ledger/accounts/{ALICE}", headers=headers)
    return response.status_code, response.json()


def _purposes_in_alices_log(world: World) -> list[str]:
    entries = world.client.get("/v1/me/access-log", headers=world.as_("alice")).json()["entries"]
    return [str(e["purpose"]) for e in entries]


class TestStoredAsWritten:
    @pytest.mark.parametrize("purpose", [GERMAN, PERSIAN, HINDI, "税务 检查", "Проверка платежа"])
    def test_utf8_purpose_is_logged_as_written(self, world: World, purpose: str) -> None:
        """The person reads the purpose the officer wrote, not its bytes read as latin-1."""
        status, _ = _read_alices_account(world, purpose.encode())
        assert status == 200
        assert _purposes_in_alices_log(world)[0] == purpose

    def test_a_long_utf8_purpose_counts_characters_not_bytes(self, world: World) -> None:
        """The limit counts characters, not bytes: the longest umlaut purpose is logged as written."""
        purpose = "ü" * PURPOSE_MAX  # 400 bytes
        assert _read_alices_account(world, purpose.encode())[0] == 200
        assert _purposes_in_alices_log(world)[0] == purpose
        assert _read_alices_account(world, (purpose + "ü").encode())[0] == 400


class TestRefused:
    @pytest.mark.parametrize("purpose", list(UNSEEN.values()), ids=list(UNSEEN))
    def test_unseen_characters__400_and_nothing_logged(self, world: World, purpose: str) -> None:
        """A purpose hiding unseen characters is 400 naming the header and code point, and nothing is logged."""
        status, body = _read_alices_account(world, purpose.encode())
        assert status == 400 and body["code"] == "invalid_input" and body["field"] == "X-Tessera-Purpose"
        assert "U+" in str(body["detail"])
        assert _purposes_in_alices_log(world) == []


NOT_UTF8 = {"latin-1": b"caf\xe9", "cut": b"\xc3", "surrogate": b"\xed\xa0\x80", "overlong": b"\xc0\xaf"}


@pytest.mark.parametrize("raw", list(NOT_UTF8.values()), ids=list(NOT_UTF8))
def test_not_utf8__400_on_the_route_and_the_fast_path(tmp_path: Path, raw: bytes) -> None:
    """Over real HTTP (the test client re-encodes headers as UTF-8): bytes that are not UTF-8 are refused."""
    with live_server(tmp_path) as server, httpx.Client(base_url=server.url) as http:
        headers = {b"Authorization": f"Bearer {server.world.tokens['bank']}".encode(), b"X-Tessera-Purpose": raw}
        read = http.get(f"/v1/ledger/accounts/{ALICE}", headers=headers)
        # The first check goes to the route (the key is not cached yet), the second to the fast path.
        checks = [
            http.get("/v1/check", params={"subject": "org:acme", "domain": "travel"}, headers=headers) for _ in "12"
        ]
    for response in (read, *checks):
        assert response.status_code == 400, response.text
        assert response.json()["field"] == "X-Tessera-Purpose" and "UTF-8" in response.json()["detail"]


class TestCheckedPurpose:
    def test_bytes_and_their_latin1_reading_are_the_same_purpose(self) -> None:
        """A UTF-8 header reads the same whether given as bytes or as the server's Latin-1 string."""
        raw = GERMAN.encode()
        assert checked_purpose(raw) == checked_purpose(raw.decode("latin-1")) == GERMAN

    def test_blanks_around_are_dropped_and_none_is_empty(self) -> None:
        """Blanks around a purpose are dropped, and a missing header is the empty purpose."""
        assert checked_purpose(b"  audit \t") == "audit"
        assert checked_purpose(None) == ""

    def test_a_c1_character_is_not_taken_for_blank(self) -> None:
        """``str.strip`` would drop U+0085 at an end; it is refused instead."""
        with pytest.raises(InvalidInputError, match="U\\+0085"):
            checked_purpose("audit\x85".encode())


class TestCheckFastPath:
    """GET /v1/check answers a purpose as the route does, whichever path takes it."""

    @staticmethod
    def ask(both_paths: Paths, purpose: bytes) -> tuple[int, object, list[tuple[str, str, str]]]:
        world, ada = both_paths.policy.world, both_paths.policy.ada
        before = len(both_paths.policy.log_of(ada))
        headers = {b"Authorization": f"Bearer {world.tokens['bank']}".encode(), b"X-Tessera-Purpose": purpose}
        response = world.client.get("/v1/check", params={"subject": ada.number, "domain": "travel"}, headers=headers)
        return response.status_code, response.json(), both_paths.policy.log_of(ada)[before:]

    def both(self, both_paths: Paths, purpose: bytes) -> tuple[object, object]:
        """The route first (the key not cached yet), then the fast path if it takes the request."""
        both_paths.policy.world.services._callers.clear()
        return self.ask(both_paths, purpose), self.ask(both_paths, purpose)

    def test_utf8_purpose__both_paths_log_it_as_written(self, paths: Paths) -> None:
        """A UTF-8 purpose gets the same answer and the same log line on the fast path as on the route."""
        routed, fast = self.both(paths, GERMAN.encode())
        assert (paths.routed, paths.fast) == (1, 1)
        assert routed == fast and routed[0] == 200 and routed[2][0][1] == GERMAN  # type: ignore[index]

    @pytest.mark.parametrize("length", [150, PURPOSE_MAX])
    def test_a_long_non_ascii_purpose__both_paths_take_it_as_every_route_does(
        self,
        paths: Paths,
        length: int,
    ) -> None:
        """Characters are counted, not bytes: 150 Cyrillic letters are 300 bytes, under PURPOSE_BYTES_MAX."""
        purpose = ("Проверка платежа по делу 77, " * 10)[:length]
        assert len(purpose.encode()) > PURPOSE_MAX
        routed, fast = self.both(paths, purpose.encode())
        assert (paths.routed, paths.fast) == (1, 1)
        assert routed == fast and routed[0] == 200 and routed[2][0][1] == purpose  # type: ignore[index]

    def test_one_character_past_the_limit__400_on_both_paths(self, paths: Paths) -> None:
        """One character past the limit is 400 on both paths, with the same answer."""
        routed, again = self.both(paths, ("ü" * (PURPOSE_MAX + 1)).encode())
        assert routed == again and routed[0] == 400 and "characters" in str(routed[1])  # type: ignore[index]

    @pytest.mark.parametrize("purpose", [b"a\xc2\x85b", "case \u202e77".encode()], ids=["C1", "bidi"])
    def test_refused_purpose__left_to_the_route_which_refuses_it(self, paths: Paths, purpose: bytes) -> None:
        """The fast path leaves a purpose with C1 or bidi characters to the route, which refuses it."""
        routed, again = self.both(paths, purpose)
        assert paths.fast == 0
        assert routed == again and routed[0] == 400  # type: ignore[index]
