"""What ``tessera serve --demo`` prints: who is who, three ``curl`` lines as Alice and two at the grocery's till.

The lines are built in one place, ``demo_curl_lines`` and ``demo_shop_lines``: the README's Quickstart shows them,
and ``tests/test_readme.py`` runs what a real demo prints against that text.
"""

from __future__ import annotations

import json
import shlex

from tessera.cli.programmes_demo import DEMO_PIN
from tessera.cli.seed import CURRENCY, GROCER_ALIAS, Demo

PAYMENT_AMOUNT = "2.00"  # in the currency's units, as people write it
APPEAL_GROUNDS = "I repaid that instalment on time: the bank has the receipt."


def base_url(host: str, port: int) -> str:
    """Where a curl on this machine reaches the server: a wildcard address is reached on loopback."""
    shown = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(host, host)
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def demo_curl_lines(demo: Demo, base_url: str) -> list[tuple[str, str]]:
    """(what it does, the command) for each line to try, as Alice: pay the grocer, read her access log, appeal."""
    alice = _bearer(demo.key("alice"))
    json_body = "-H 'Content-Type: application/json' -d "
    payment = {"amount": PAYMENT_AMOUNT, "currency": CURRENCY.unit, "to": {"alias": GROCER_ALIAS}}
    idempotent = "-H " + shlex.quote(f"Idempotency-Key: {demo.payment_key}")
    appeal = {"grounds": APPEAL_GROUNDS}
    return [
        (
            f"pay the grocer {PAYMENT_AMOUNT} {CURRENCY.unit} at the address the shop published",
            f"curl {alice} {idempotent} {json_body}{_quoted(payment)} {base_url}/v1/me/payments",
        ),
        ("who looked at my data, and why", f"curl {alice} {base_url}/v1/me/access-log"),
        (
            "appeal the notice that lowered my credit score",
            f"curl {alice} {json_body}{_quoted(appeal)} {base_url}/v1/me/notices/{demo.notice_id}/appeal",
        ),
    ]


def demo_shop_lines(demo: Demo, base_url: str) -> list[tuple[str, str]]:
    """(what it does, the command) as the grocer's till: redeem 5 kg of Alice's household's rice, then the statement."""
    grocer, grocery = _bearer(demo.key("grocer")), demo.outlets["grocer"]
    redemption = {
        "programme": "rice_ration",
        "person": {"number": demo.numbers["alice"]},
        "pin": DEMO_PIN,
        "items": [{"product": "RICE-5KG", "quantity": 1}],
        "co_payment": "cash",
    }
    idempotent = "-H " + shlex.quote(f"Idempotency-Key: {demo.redemption_key}")
    json_body = "-H 'Content-Type: application/json' -d "
    return [
        (
            f"Alice buys 5 kg of her household's rice ration, paying 5.00 {CURRENCY.unit} in cash; "
            f"her PIN is {DEMO_PIN}",
            f"curl {grocer} {idempotent} {json_body}{_quoted(redemption)} {base_url}/v1/outlets/{grocery}/redemptions",
        ),
        (
            "the grocery's statement of the day: what it redeemed, by programme and till",
            f"curl {grocer} {shlex.quote(f'{base_url}/v1/outlets/{grocery}/statement?date={demo.day}')}",
        ),
    ]


def demo_banner(demo: Demo, base_url: str) -> list[str]:
    """The lines ``serve --demo`` prints: each persona with role and key, who they are, then the lines to try."""
    width = max(len(k.name) for k in demo.keys)
    lines = [f"Tessera demo at {base_url}: who is who (new keys on every start; the last start's are revoked)"]
    for key in demo.keys:
        lines.append(f"  {key.name:<{width}}  {key.role:<8}  {key.token}")
        lines.append(f"  {'':<{width}}  {key.about}")
    lines.append("Try, as alice:")
    for what, command in demo_curl_lines(demo, base_url):
        lines.append(f"  # {what}")
        lines.append(f"  {command}")
    if demo.outlets:
        lines.append("Then, as the grocer's till (the welfare officers paid Alice's household its rations):")
        for what, command in demo_shop_lines(demo, base_url):
            lines.append(f"  # {what}")
            lines.append(f"  {command}")
    lines.append(f"More: {base_url}/docs, and a curl line for every group of routes in docs/api.md (Examples)")
    return lines


def _bearer(token: str) -> str:
    return "-H " + shlex.quote(f"Authorization: Bearer {token}")


def _quoted(body: object) -> str:
    return shlex.quote(json.dumps(body, ensure_ascii=False))
