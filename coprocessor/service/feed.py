"""``GET /v1/feed``: server-sent events of results for bots.

Events come from the ``feed`` table (append-only, one row per job, kind and reorg
generation), so every process serving the API sees every result, and a client that
reconnects with ``Last-Event-ID`` gets what it missed. Kinds: ``signed`` (issued as
soon as the score is computed), ``proven`` (receipt attached), ``posted`` (on-chain).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from coprocessor.service.worker import Runtime

KEEPALIVE_SECONDS = 15.0


async def stream(request: web.Request, runtime: Runtime, last_id: int | None) -> web.StreamResponse:
    """Stream events after ``last_id`` (default: only new ones) until the client leaves."""
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    seq = runtime.db.last_feed_seq() if last_id is None else last_id
    await response.write(b": coproc feed\nretry: 2000\n\n")
    quiet_since = time.monotonic()
    try:
        while not runtime.stopping:
            event = runtime.published
            rows = runtime.db.feed_after(seq)
            for number, kind, body in rows:
                await response.write(f"id: {number}\nevent: {kind}\ndata: {body}\n\n".encode())
                runtime.metrics.feed_events.inc(kind=kind)
                seq = number
            if rows:
                quiet_since = time.monotonic()
                continue
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(event.wait(), runtime.config.poll_seconds * 5)
            if time.monotonic() - quiet_since > KEEPALIVE_SECONDS:
                await response.write(b": keepalive\n\n")
                quiet_since = time.monotonic()
    except ConnectionResetError:
        pass
    return response
