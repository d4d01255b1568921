"""Real HTTP servers for the adversarial RPC tests (no mocks).

:class:`ThreadedServer` runs an ``aiohttp.web`` application on 127.0.0.1 (free port)
in its own thread and event loop, so sync tests, in-process CLI runs and
subprocesses can all talk to it. :class:`LyingProxy` is a JSON-RPC proxy in front
of a real node (anvil); its ``rule`` decides, per HTTP request, how to lie:

- ``mutate(method, fn)``: forward, then replace the result of every call of
  ``method`` by ``fn(result, params)`` (single calls and batch items alike);
- ``rewrite(method, fn)``: change a call's params before forwarding;
- ``batch(fn)``: forward, then replace a batch answer list by ``fn(list)``;
- ``http_error(status, times)``, ``stall(seconds, times)``, ``cut(times)``: transport
  failures for the first ``times`` requests (``None`` = always), then honest answers.

The proxy counts requests per method and the peak of concurrent requests.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import sqlite3
import threading
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, Self

import aiohttp
from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ThreadedServer:
    """An aiohttp.web app on 127.0.0.1:<free port>, served from a background thread."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.url = ""

    def start(self) -> Self:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/", self._handler)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/"

    def run(self, coro: Awaitable[Any]) -> Any:
        """Run a coroutine on the server's loop (setup helpers)."""

        async def wrap() -> Any:
            return await coro

        return asyncio.run_coroutine_threadsafe(wrap(), self._loop).result(30)

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
            self._runner = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def methods_of(payload: Any) -> list[str]:
    """The method names of a JSON-RPC request (single or batch)."""
    items = payload if isinstance(payload, list) else [payload]
    return [str(item.get("method")) for item in items if isinstance(item, dict)]


Rule = Callable[["LyingProxy", web.Request, Any], Awaitable[web.StreamResponse]]


class LyingProxy(ThreadedServer):
    """A JSON-RPC proxy in front of ``upstream`` that lies according to ``rule``."""

    def __init__(self, upstream: str) -> None:
        super().__init__(self._handle)
        self.upstream = upstream
        self.rule: Rule | None = None
        self.requests: list[Any] = []  # every request payload, in arrival order
        self.calls: Counter[str] = Counter()  # JSON-RPC calls per method
        self.lies = 0  # how many times the rule actually changed something
        self.active = 0
        self.peak = 0
        self._session: aiohttp.ClientSession | None = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        payload = json.loads(await request.read())
        self.requests.append(payload)
        self.calls.update(methods_of(payload))
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            if self.rule is None:
                return json_response(await self.forward(payload))
            return await self.rule(self, request, payload)
        finally:
            self.active -= 1

    async def forward(self, payload: Any) -> Any:
        """Send ``payload`` to the real node; its decoded JSON answer."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        async with self._session.post(self.upstream, json=payload) as response:
            return json.loads(await response.read())

    def count(self, method: str) -> int:
        """How many calls of ``method`` reached the proxy."""
        return self.calls[method]

    def reset(self) -> None:
        self.rule = None
        self.requests.clear()
        self.calls.clear()
        self.lies = self.peak = 0

    def stop(self) -> None:
        if self._session is not None:
            self.run(self._session.close())
            self._session = None
        super().stop()


def json_response(obj: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(obj).encode(), status=status, content_type="application/json"
    )


# ----------------------------------------------------------------------------- rules


def mutate(method: str, fn: Callable[[Any, list[Any]], Any], times: int | None = None) -> Rule:
    """Forward; replace each ``method`` result by ``fn(result, params)``."""

    async def rule(proxy: LyingProxy, request: web.Request, payload: Any) -> web.StreamResponse:
        answer = await proxy.forward(payload)
        requests = payload if isinstance(payload, list) else [payload]
        answers = answer if isinstance(answer, list) else [answer]
        by_id = {r.get("id"): r for r in requests}
        for item in answers:
            call = by_id.get(item.get("id"))
            if call is None or call.get("method") != method or "result" not in item:
                continue
            if times is not None and proxy.lies >= times:
                continue
            changed = fn(copy.deepcopy(item["result"]), call.get("params", []))
            if changed != item["result"]:
                proxy.lies += 1
            item["result"] = changed
        return json_response(answer)

    return rule


def rewrite(method: str, fn: Callable[[list[Any]], list[Any]]) -> Rule:
    """Change the params of every ``method`` call before forwarding (the node then
    honestly answers another question than the client asked)."""

    async def rule(proxy: LyingProxy, request: web.Request, payload: Any) -> web.StreamResponse:
        requests = payload if isinstance(payload, list) else [payload]
        for item in requests:
            if item.get("method") == method:
                item["params"] = fn(copy.deepcopy(item["params"]))
                proxy.lies += 1
        return json_response(await proxy.forward(payload))

    return rule


def batch(fn: Callable[[list[Any]], list[Any]]) -> Rule:
    """Forward; replace every batch answer (JSON array) by ``fn(answers)``."""

    async def rule(proxy: LyingProxy, request: web.Request, payload: Any) -> web.StreamResponse:
        answer = await proxy.forward(payload)
        if isinstance(answer, list) and len(answer) > 1:
            answer = fn(answer)
            proxy.lies += 1
        return json_response(answer)

    return rule


def http_error(
    status: int,
    times: int | None,
    *,
    forward_first: bool = False,
    retry_after: str | None = None,
) -> Rule:
    """Answer HTTP ``status`` to the first ``times`` requests (``None``: all).
    ``forward_first``: the request reaches the node, only the answer is lost."""

    async def rule(proxy: LyingProxy, request: web.Request, payload: Any) -> web.StreamResponse:
        if times is None or proxy.lies < times:
            proxy.lies += 1
            if forward_first:
                await proxy.forward(payload)
            headers = {"Retry-After": retry_after} if retry_after is not None else None
            return web.Response(status=status, text="upstream trouble", headers=headers)
        return json_response(await proxy.forward(payload))

    return rule


def stall(seconds: float, times: int | None, *, forward_first: bool = False) -> Rule:
    """Sleep ``seconds`` before answering the first ``times`` requests."""

    async def rule(proxy: LyingProxy, request: web.Request, payload: Any) -> web.StreamResponse:
        if times is None or proxy.lies < times:
            proxy.lies += 1
            answer = await proxy.forward(payload) if forward_first else None
            await asyncio.sleep(seconds)
            if answer is not None:
                return json_response(answer)
        return json_response(await proxy.forward(payload))

    return rule


def cut(times: int | None) -> Rule:
    """Send the headers and half of the real body, then close the connection."""

    async def rule(proxy: LyingProxy, request: web.Request, payload: Any) -> web.StreamResponse:
        body = json.dumps(await proxy.forward(payload)).encode()
        if times is not None and proxy.lies >= times:
            return json_response(json.loads(body))
        proxy.lies += 1
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = len(body)
        await response.prepare(request)
        await response.write(body[: len(body) // 2])
        assert request.transport is not None
        request.transport.close()
        return response

    return rule


# ----------------------------------------------------------------------------- lies


def flip_hex(text: str, index: int) -> str:
    """Change the hex digit at ``index`` of a 0x-string (negative: from the end)
    into another hex digit: the byte it belongs to changes."""
    body = list(text[2:])
    i = index % len(body)
    body[i] = "0123456789abcdef"[(int(body[i], 16) + 1) % 16]
    return "0x" + "".join(body)


def stored_rows(path: str | os.PathLike[str]) -> dict[str, int]:
    """Row count of every table of a store file except ``meta`` (whatever the schema
    calls its tables): a rejected run must leave all of them at zero."""
    conn = sqlite3.connect(path)
    try:
        tables = [
            r[0]
            for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if r[0] != "meta"
        ]
        return {t: conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}
    finally:
        conn.close()
