"""The demo's story, told over the API: the officers do their work with their own keys before anyone connects.

So what Alice finds is real: the registrar's look at her record is in her access log because
the registrar read it through the API with a stated purpose, and her notice exists because
the credit bureau reported a late repayment that the credit rules scored. The requests go
to the app in this process (``httpx.ASGITransport``), through authentication, the policy
table and the access log as any request does, before ``tessera serve`` starts listening.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import httpx
from fastapi import FastAPI

from tessera.cli.seed import Demo
from tessera.errors import TesseraError

READ_PURPOSE = "confirming Alice's address for her new wallet"
REPORT_PURPOSE = "monthly report of loan repayments"
LENDER = "Kisumu Savings"
LATE_DAYS = 45  # past the credit rules' 30: her score drops and she is told why


def tell_demo_story(app: FastAPI, demo: Demo) -> Demo:
    """Run the story's requests against ``app`` (started and stopped here); the demo with the notice to appeal."""
    return asyncio.run(_tell(app, demo))


async def _tell(app: FastAPI, demo: Demo) -> Demo:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://demo") as client:
            story = _Story(client, demo)
            if demo.first_start:
                await story.registrar_reads_alices_record()
                await story.bureau_reports([("alice", 1, LATE_DAYS), ("bob", 1, 0)])
            notice_id = await story.notice_to_appeal()
    return dataclasses.replace(demo, notice_id=notice_id)


class _Story:
    """The personas' requests, each with its own key: what the demo's people find when they look."""

    def __init__(self, client: httpx.AsyncClient, demo: Demo) -> None:
        self.client = client
        self.demo = demo

    async def call(self, persona: str, method: str, path: str, *, purpose: str = "", body: Any = None) -> Any:
        """One request as ``persona``; anything but a 2xx stops the demo with the problem's detail."""
        headers = {"Authorization": f"Bearer {self.demo.key(persona)}"}
        if purpose:
            headers["X-Tessera-Purpose"] = purpose
        response = await self.client.request(method, path, headers=headers, json=body)
        if not response.is_success:
            raise TesseraError(
                f"the demo's {persona}: {method} {path} answered {response.status_code}: {response.text}"
            )
        return response.json()

    async def registrar_reads_alices_record(self) -> None:
        """The registrar looks Alice up, stating why: the first entry she will find in her access log."""
        number = self.demo.numbers["alice"]
        await self.call("registrar", "GET", f"/v1/identity/persons/{number}", purpose=READ_PURPOSE)

    async def bureau_reports(self, repayments: list[tuple[str, int, int]]) -> None:
        """The credit bureau reports loan instalments (person, instalment, days late); the credit rules score them."""
        events = [
            {
                "id": f"demo-loan-{name}-{instalment}",
                "subject": self.demo.numbers[name],
                "at_ns": time.time_ns(),
                "fields": {"amount": 25_000, "days_late": days_late, "lender": LENDER},
            }
            for name, instalment, days_late in repayments
        ]
        body = {"type": "loan.repaid", "events": events}
        await self.call("bureau", "POST", "/v1/events", purpose=REPORT_PURPOSE, body=body)

    async def notice_to_appeal(self) -> str:
        """Alice's newest notice she has not appealed; after she appealed them all, the bureau reports one more."""
        for _ in range(2):
            notices = (await self.call("alice", "GET", "/v1/me/notices"))["notices"]
            appealed = {a["notice_id"] for a in (await self.call("alice", "GET", "/v1/me/notice-appeals"))["appeals"]}
            open_ = [n["id"] for n in notices if n["id"] not in appealed]
            if open_:
                return str(open_[0])
            await self.bureau_reports([("alice", len(notices) + 1, LATE_DAYS)])
        raise TesseraError("the demo's bureau reported a late repayment, yet Alice has no notice to appeal")
