"""What ``tessera serve --demo`` prints: who is who, and three ``curl`` lines that do something.

The lines are built in one place, ``demo_curl_lines``: the README's Quickstart shows them,
and ``tests/test_readme.py`` runs what a real demo prints against that text.
"""

from __future__ import annotations

import json
import shlex

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
    lines.append(f"More: {base_url}/docs, and a curl line for every group of routes in docs/api.md (Examples)")
    return lines


def _bearer(token: str) -> str:
    return "-H " + shlex.quote(f"Authorization: Bearer {token}")


def _quoted(body: object) -> str:
    return shlex.quote(json.dumps(body, ensure_ascii=False))
