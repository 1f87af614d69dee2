from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tourniquet.core.notifications import COLOURS, json_payload, payload_for, slack_payload
from tourniquet.core.severity_policy import DEFAULT_POLICY, NotificationTarget
from tourniquet.notifications.delivery import DeliveryResult, deliver

SEV1, SEV3 = DEFAULT_POLICY.rules["SEV1"], DEFAULT_POLICY.rules["SEV3"]

INCIDENT: dict[str, Any] = {
    "apiVersion": "tourniquet.dev/v1alpha1",
    "kind": "Incident",
    "metadata": {"name": "api-errors", "namespace": "production", "uid": "u-1"},
    "spec": {
        "title": "Elevated 5xx on api",
        "severity": "SEV1",
        "roles": {"commander": "alice", "comms": "bob"},
    },
    "status": {"phase": "Mitigating"},
}
UPDATE = {
    "author": "bob",
    "message": "We are investigating elevated errors on the API.",
    "at": "2026-11-27T10:04:00Z",
    "statusPage": "investigating",
}


# --- payloads ----------------------------------------------------------------------------


def test_slack_payload() -> None:
    assert slack_payload(UPDATE, INCIDENT, SEV1) == {
        "text": "SEV1 production/api-errors: Elevated 5xx on api (investigating)",
        "attachments": [
            {
                "color": "#d00000",
                "title": "Elevated 5xx on api",
                "text": "We are investigating elevated errors on the API.",
                "fields": [
                    {"title": "Severity", "value": "SEV1", "short": True},
                    {"title": "Status page", "value": "investigating (red)", "short": True},
                    {"title": "Commander", "value": "alice", "short": True},
                    {"title": "Author", "value": "bob", "short": True},
                ],
                "ts": 1795773840,  # 2026-11-27T10:04:00Z
            }
        ],
    }


def test_json_payload() -> None:
    assert json_payload(UPDATE, INCIDENT, SEV1) == {
        "kind": "IncidentUpdate",
        "incident": {
            "name": "api-errors",
            "namespace": "production",
            "title": "Elevated 5xx on api",
            "severity": "SEV1",
            "phase": "Mitigating",
            "commander": "alice",
        },
        "update": {
            "author": "bob",
            "message": "We are investigating elevated errors on the API.",
            "at": "2026-11-27T10:04:00Z",
            "statusPage": "investigating",
        },
        "statusPageColour": "red",
        "page": ["on-call", "manager"],
    }


def test_a_sev3_without_commander_phase_or_status_page_state() -> None:
    incident = {
        "metadata": {"name": "slow-report", "namespace": "ops"},
        "spec": {"title": "Slow nightly report", "severity": "SEV3"},
    }
    update = {"author": "erin", "message": "Looking into it.", "at": "2026-11-27T09:00:00.5Z"}
    slack = slack_payload(update, incident, SEV3)
    assert slack["text"] == "SEV3 ops/slow-report: Slow nightly report"
    attachment = slack["attachments"][0]
    assert (attachment["color"], attachment["ts"]) == ("#999999", 1795770000)
    assert [f["value"] for f in attachment["fields"]] == ["SEV3", "none", "none", "erin"]
    generic = json_payload(update, incident, SEV3)
    assert generic["incident"]["phase"] is None
    assert generic["incident"]["commander"] is None
    assert generic["update"]["statusPage"] is None
    assert (generic["statusPageColour"], generic["page"]) == ("none", [])


def test_every_status_page_colour_has_its_slack_colour() -> None:
    assert COLOURS == {
        "red": "#d00000",
        "yellow": "#f2c744",
        "green": "#2eb886",
        "none": "#999999",
    }
    sev2 = DEFAULT_POLICY.rules["SEV2"]
    assert slack_payload(UPDATE, INCIDENT, sev2)["attachments"][0]["color"] == "#f2c744"
    green = SEV1.__class__(**{**SEV1.__dict__, "status_page": "green"})
    assert slack_payload(UPDATE, INCIDENT, green)["attachments"][0]["color"] == "#2eb886"


def test_slack_text_cannot_mention_or_link() -> None:
    incident = {**INCIDENT, "spec": {**INCIDENT["spec"], "title": "<!channel>\n& more"}}
    update = {**UPDATE, "message": "see <https://evil.example|here>", "author": "<@U123>"}
    payload = slack_payload(update, incident, SEV1)
    assert payload["text"] == (
        "SEV1 production/api-errors: &lt;!channel&gt; &amp; more (investigating)"
    )
    attachment = payload["attachments"][0]
    assert attachment["title"] == "&lt;!channel&gt;\n&amp; more"
    assert attachment["text"] == "see &lt;https://evil.example|here&gt;"
    assert attachment["fields"][3]["value"] == "&lt;@U123&gt;"
    # The generic payload is data, not markup: it carries the text unchanged.
    assert json_payload(update, incident, SEV1)["update"]["message"] == update["message"]


def test_a_drill_says_so() -> None:
    assert slack_payload(UPDATE, INCIDENT, SEV1, drill=True)["text"].startswith("[DRILL] SEV1 ")
    assert json_payload(UPDATE, INCIDENT, SEV1, drill=True)["drill"] is True
    assert "drill" not in json_payload(UPDATE, INCIDENT, SEV1)


def test_an_unparseable_time_leaves_ts_out_instead_of_failing() -> None:
    attachment = slack_payload({**UPDATE, "at": "yesterday"}, INCIDENT, SEV1)["attachments"][0]
    assert "ts" not in attachment
    assert (
        json_payload({**UPDATE, "at": "yesterday"}, INCIDENT, SEV1)["update"]["at"] == "yesterday"
    )


def test_payload_for_follows_the_target_format() -> None:
    slack = NotificationTarget("s", "https://h.example/x", "slack")
    generic = NotificationTarget("j", "https://h.example/y", "json")
    assert payload_for(slack, UPDATE, INCIDENT, SEV1) == slack_payload(UPDATE, INCIDENT, SEV1)
    assert payload_for(generic, UPDATE, INCIDENT, SEV1) == json_payload(UPDATE, INCIDENT, SEV1)


# --- delivery to a real HTTP server ------------------------------------------------------


@dataclass
class Hook:
    """A webhook receiver on 127.0.0.1 answering with scripted statuses, the last repeated."""

    statuses: list[int]
    requests: list[dict[str, Any]] = field(default_factory=list)
    hang: bool = False
    release: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(
            {
                "path": request.path,
                "content_type": request.content_type,
                "body": await request.json(),
            }
        )
        if self.hang:
            await self.release.wait()
        status = self.statuses[min(len(self.requests), len(self.statuses)) - 1]
        if status in (301, 302, 307, 308):
            raise web.HTTPTemporaryRedirect(location="/moved")
        body = {400: "invalid_payload", 404: "no_service"}.get(status, "ok")
        return web.Response(status=status, text=body)


@asynccontextmanager
async def serve(*statuses: int, hang: bool = False) -> AsyncIterator[Hook]:
    hook = Hook(list(statuses), hang=hang)
    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", hook.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    hook.url = f"http://{host}:{port}/services/T000/B000/SECRET"
    try:
        yield hook
    finally:
        hook.release.set()
        await runner.cleanup()


def run(test: Callable[[aiohttp.ClientSession], Awaitable[None]]) -> None:
    async def main() -> None:
        async with aiohttp.ClientSession() as session:
            await test(session)

    asyncio.run(main())


def target(url: str, fmt: str = "json") -> NotificationTarget:
    return NotificationTarget("incidents", url, fmt)


PAYLOAD = json_payload(UPDATE, INCIDENT, SEV1)


def test_deliver_posts_the_payload_as_json() -> None:
    async def check(session: aiohttp.ClientSession) -> None:
        async with serve(200) as hook:
            result = await deliver(session, target(hook.url), PAYLOAD)
        assert result == DeliveryResult(ok=True, status=200, error=None, attempts=1)
        assert hook.requests == [
            {
                "path": "/services/T000/B000/SECRET",
                "content_type": "application/json",
                "body": PAYLOAD,
            }
        ]

    run(check)


def test_deliver_retries_a_5xx_until_it_succeeds() -> None:
    async def check(session: aiohttp.ClientSession) -> None:
        async with serve(503, 502, 200) as hook:
            result = await deliver(session, target(hook.url), PAYLOAD, backoff_s=0.01)
        assert result == DeliveryResult(ok=True, status=200, error=None, attempts=3)
        assert len(hook.requests) == 3
        assert all(r["body"] == PAYLOAD for r in hook.requests)

    run(check)


def test_deliver_gives_up_after_the_attempts() -> None:
    async def check(session: aiohttp.ClientSession) -> None:
        async with serve(503) as hook:
            result = await deliver(session, target(hook.url), PAYLOAD, attempts=4, backoff_s=0.01)
        assert result == DeliveryResult(
            ok=False, status=503, error="HTTP 503 Service Unavailable: ok", attempts=4
        )
        assert len(hook.requests) == 4

    run(check)


def test_deliver_retries_429_too_slow_down_is_transient() -> None:
    async def check(session: aiohttp.ClientSession) -> None:
        async with serve(429, 200) as hook:
            result = await deliver(session, target(hook.url), PAYLOAD, backoff_s=0.01)
        assert (result.ok, result.attempts, len(hook.requests)) == (True, 2, 2)

    run(check)


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, "HTTP 400 Bad Request: invalid_payload"),
        (404, "HTTP 404 Not Found: no_service"),
        (
            307,
            "HTTP 307 Temporary Redirect: 307: Temporary Redirect "
            "(redirects are not followed; configure the final URL)",
        ),
    ],
)
def test_deliver_never_retries_a_4xx_or_follows_a_redirect(status: int, error: str) -> None:
    async def check(session: aiohttp.ClientSession) -> None:
        async with serve(status, 200) as hook:
            result = await deliver(session, target(hook.url, "slack"), PAYLOAD, backoff_s=0.01)
        assert result == DeliveryResult(ok=False, status=status, error=error, attempts=1)
        assert [r["path"] for r in hook.requests] == ["/services/T000/B000/SECRET"]

    run(check)


def test_deliver_times_out_each_attempt_and_retries() -> None:
    async def check(session: aiohttp.ClientSession) -> None:
        async with serve(200, hang=True) as hook:
            started = time.monotonic()
            result = await deliver(
                session, target(hook.url), PAYLOAD, timeout_s=0.1, attempts=2, backoff_s=0.01
            )
            elapsed = time.monotonic() - started
        assert result == DeliveryResult(
            ok=False, status=None, error="timed out after 0.1s", attempts=2
        )
        assert len(hook.requests) == 2
        assert 0.2 <= elapsed < 1.0

    run(check)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_deliver_retries_connection_errors_and_never_quotes_the_url() -> None:
    url = f"http://127.0.0.1:{_closed_port()}/services/T000/B000/SECRET"

    async def check(session: aiohttp.ClientSession) -> None:
        result = await deliver(session, target(url), PAYLOAD, backoff_s=0.01)
        assert (result.ok, result.status, result.attempts) == (False, None, 3)
        assert result.error is not None
        assert result.error.startswith("ClientConnectorError: Cannot connect to host 127.0.0.1")
        assert "SECRET" not in result.error

    run(check)


def test_deliver_reports_an_unusable_url_without_quoting_it() -> None:
    async def check(session: aiohttp.ClientSession) -> None:
        result = await deliver(session, target("http://[::1/SECRET"), PAYLOAD, backoff_s=0.01)
        assert (result.ok, result.status, result.attempts) == (False, None, 1)
        assert result.error is not None and "SECRET" not in result.error

    run(check)


def test_deliver_refuses_a_payload_that_is_not_json_without_sending() -> None:
    async def check(session: aiohttp.ClientSession) -> None:
        async with serve(200) as hook:
            result = await deliver(session, target(hook.url), {"at": object()})
            none = await deliver(session, target(hook.url), PAYLOAD, attempts=0)
        assert (result.ok, result.attempts) == (False, 0)
        assert result.error is not None
        assert result.error.startswith("payload is not JSON-serialisable: ")
        assert none == DeliveryResult(False, None, "attempts must be at least 1, not 0", 0)
        assert hook.requests == []

    run(check)


def test_deliver_lets_cancellation_through() -> None:
    async def check(session: aiohttp.ClientSession) -> None:
        async with serve(200, hang=True) as hook:
            task = asyncio.create_task(deliver(session, target(hook.url), PAYLOAD))
            while not hook.requests:
                await asyncio.sleep(0.005)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    run(check)


def test_delivered_payloads_round_trip_as_json() -> None:
    slack = slack_payload(UPDATE, INCIDENT, SEV1)
    assert json.loads(json.dumps(slack)) == slack
