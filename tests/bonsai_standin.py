"""A local Bonsai-API server, a named stand-in for the hosted service: an in-process
aiohttp app speaking the REST protocol of ``bonsai-sdk`` 1.4 (image and input uploads
to presigned URLs, session create, status polling, receipt download), which is what
``coproc-host prove`` talks to through risc0-zkvm's ``BonsaiProver``.

It cannot make real proofs in a test's time: it hands out dev-mode (fake) receipts made
by the local ``coproc-host prove --dev`` (``receipt``, or ``receipt_for(input)`` chosen
by the uploaded input), and the client runs with ``RISC0_DEV_MODE=1`` (the only mode in
which a fake receipt verifies). Faults a test can switch on: ``fail_with`` (the session
ends ``FAILED`` with that message), ``http_status`` (every keyed API call answers it,
e.g. 503), ``delay_seconds`` (a session stays ``RUNNING`` that long: a slow prover).
It counts what it saw, including the most sessions running at once (``max_running``).
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast

from aiohttp import web

KEY = "test-key-1234"


@dataclass
class FakeBonsai:
    """State of the local Bonsai-API server."""

    receipt: bytes = b""
    #: the receipt for a session, from its uploaded input (overrides ``receipt``)
    receipt_for: Callable[[bytes], bytes] | None = None
    fail_with: str | None = None
    http_status: int | None = None
    delay_seconds: float = 0.0
    key: str = KEY
    images: dict[str, bytes] = field(default_factory=dict)
    inputs: dict[str, bytes] = field(default_factory=dict)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    polls: int = 0
    downloads: int = 0
    bad_keys: int = 0
    refused: int = 0
    running: set[str] = field(default_factory=set)
    max_running: int = 0
    url: str = ""

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)

        @web.middleware
        async def auth(request: web.Request, handler: Any) -> web.StreamResponse:
            if request.path.startswith("/put/") or request.path.startswith("/download/"):
                return cast(web.StreamResponse, await handler(request))  # presigned: no key
            if request.headers.get("x-api-key") != self.key:
                self.bad_keys += 1
                return web.Response(status=401, text="invalid API key")
            if not request.headers.get("x-risc0-version"):
                return web.Response(status=400, text="missing x-risc0-version")
            if self.http_status is not None:
                self.refused += 1
                return web.Response(status=self.http_status, text="stand-in fault")
            return cast(web.StreamResponse, await handler(request))

        app.middlewares.append(auth)

        async def image_upload(request: web.Request) -> web.Response:
            image_id = request.match_info["image_id"]
            if image_id in self.images:
                return web.Response(status=204)
            return web.json_response({"url": f"{self.url}/put/image/{image_id}"})

        async def input_upload(request: web.Request) -> web.Response:
            uid = str(uuid.uuid4())
            return web.json_response({"url": f"{self.url}/put/input/{uid}", "uuid": uid})

        async def put(request: web.Request) -> web.Response:
            kind, name = request.match_info["kind"], request.match_info["name"]
            body = await request.read()
            (self.images if kind == "image" else self.inputs)[name] = body
            return web.Response(status=200)

        async def create(request: web.Request) -> web.Response:
            req = await request.json()
            if req["img"] not in self.images or req["input"] not in self.inputs:
                return web.Response(status=400, text="unknown image or input")
            sid = str(uuid.uuid4())
            self.sessions[sid] = {"req": req, "polls": 0, "created": time.monotonic()}
            self.running.add(sid)
            self.max_running = max(self.max_running, len(self.running))
            return web.json_response({"uuid": sid})

        async def status(request: web.Request) -> web.Response:
            sid = request.match_info["sid"]
            session = self.sessions[sid]
            session["polls"] += 1
            self.polls += 1
            slow = time.monotonic() - session["created"] < self.delay_seconds
            if session["polls"] < 2 or slow:
                return web.json_response({"status": "RUNNING", "state": "proving"})
            self.running.discard(sid)
            if self.fail_with is not None:
                return web.json_response({"status": "FAILED", "error_msg": self.fail_with})
            return web.json_response(
                {
                    "status": "SUCCEEDED",
                    "receipt_url": f"{self.url}/download/{sid}",
                    "elapsed_time": 0.1,
                    "stats": {"segments": 2, "total_cycles": 1, "cycles": 1},
                }
            )

        async def download(request: web.Request) -> web.Response:
            self.downloads += 1
            if self.receipt_for is None:
                return web.Response(body=self.receipt)
            session = self.sessions[request.match_info["sid"]]
            data = self.inputs[session["req"]["input"]]
            body = await asyncio.to_thread(self.receipt_for, data)
            return web.Response(body=body)

        app.router.add_get("/images/upload/{image_id}", image_upload)
        app.router.add_get("/inputs/upload", input_upload)
        app.router.add_put("/put/{kind}/{name}", put)
        app.router.add_post("/sessions/create", create)
        app.router.add_get("/sessions/status/{sid}", status)
        app.router.add_get("/download/{sid}", download)
        return app


@contextmanager
def serving(state: FakeBonsai) -> Iterator[FakeBonsai]:
    """Run ``state``'s server on a free loopback port in a background thread."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(state.app())
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    state.url = f"http://127.0.0.1:{port}"
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.run_until_complete(runner.cleanup())
        loop.close()
