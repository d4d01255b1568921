"""Assembling a service process from its configuration, and running it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from pathlib import Path
from typing import Any, cast

from aiohttp import web

from coprocessor.chain.hexutil import to_bytes
from coprocessor.errors import UserInputError
from coprocessor.index.rpc import RpcClient
from coprocessor.index.store import Store
from coprocessor.service import listener, posting, sampling
from coprocessor.service.app import make_app, make_worker_app
from coprocessor.service.catalog import load_catalog
from coprocessor.service.config import ServiceConfig
from coprocessor.service.metrics import ServiceMetrics
from coprocessor.service.proving import Prover, export_metrics, prover_for
from coprocessor.service.signer import Signer, load_keystore
from coprocessor.service.store.database import open_chain_cache, open_service_db
from coprocessor.service.worker import Runtime

log = logging.getLogger("coproc.service")


def _env_key(name: str) -> bytes | None:
    value = os.environ.get(name)
    if not value:
        return None
    text = value if value.startswith("0x") else "0x" + value
    return to_bytes(text, f"${name}", 32)


async def build_runtime(
    config: ServiceConfig, data_dir: Path, *, prover: Prover | None = None, seed: int | None = None
) -> Runtime:
    """Open the databases, connect the node, load models, keys and posters."""
    if not config.rpc_url:
        raise UserInputError("config: rpc_url is required")
    catalog = load_catalog(config.models_dir)
    rpc = RpcClient(config.rpc_url)
    chain_id = await rpc.connect()
    try:
        db = open_service_db(config.database_url, data_dir)
        try:
            # PostgreSQL: the cache shared by every process (store_pg.PgStore); SQLite:
            # this host's coproc.sqlite. Runtime.store is annotated Store; both are a
            # store.ChainCache, all the worker uses of it
            store = cast(Store, open_chain_cache(config.database_url, data_dir))
        except BaseException:
            db.close()
            raise
        runtime = Runtime(
            config=config,
            data_dir=data_dir,
            db=db,
            catalog=catalog,
            store=store,
            rpc=rpc,
            chain_id=chain_id,
            prover=prover if prover is not None else prover_for(config),
            metrics=ServiceMetrics(),
            sampler=sampling.Sampler(config.sampling_probability, seed),
        )
        export_metrics(runtime.prover, runtime.metrics.registry)
        if config.keystore:
            if not config.signed_scores:
                raise UserInputError("config: keystore needs signed_scores (the EIP-712 contract)")
            key = load_keystore(config.keystore, config.keystore_password_env)
            runtime.signer = Signer(
                key, config.signing_chain_id or chain_id, to_checksum(config.signed_scores)
            )
        poster_key = _env_key(config.poster_key_env)
        if config.oracle:
            if poster_key is None:
                raise UserInputError(
                    f"config: oracle is set but ${config.poster_key_env} (poster key) is not"
                )
            runtime.l1_poster = await asyncio.to_thread(
                posting.L1Poster, config.rpc_url, config.oracle, poster_key
            )
        runtime.challenger_key = poster_key
        if config.l2_network:
            from coprocessor.service import l2posting

            l2 = await asyncio.to_thread(l2posting.build, config, data_dir, poster_key)
            if l2.network.l1_chain_id != chain_id:
                raise UserInputError(
                    f"config: l2_network's L1 is chain {l2.network.l1_chain_id}, "
                    f"rpc_url serves chain {chain_id}"
                )
            runtime.l2_poster = l2
        elif config.l2_poster:
            runtime.l2_poster = _import_factory(config.l2_poster, "l2_poster")(config)
        await _fulfil_posters(runtime, poster_key)
        _register_gauges(runtime)
        return runtime
    except BaseException:
        await rpc.close()
        raise


async def _fulfil_posters(runtime: Runtime, poster_key: bytes | None) -> None:
    """One RiskRequests.fulfil poster per followed request chain (``listener``)."""
    config = runtime.config
    for entry in config.request_chains:
        chain = listener.ChainSettings.of(entry, config.rpc_url)
        if poster_key is None:
            raise UserInputError(
                f"config: request_chains {chain.name} needs ${config.poster_key_env} (poster key)"
            )
        if chain.name == "l2" and runtime.l2_poster is None:
            raise UserInputError("config: request_chains l2 needs l2_network (anchors bridged)")
        runtime.fulfil_posters[chain.name] = await asyncio.to_thread(
            posting.FulfilPoster, chain.rpc_url, chain.requests, poster_key
        )
    if config.request_chains:
        listener.ensure_schema(runtime.db)
        runtime.metrics.registry.gauge(
            "coproc_onchain_requests",
            "On-chain requests read by the listener, by chain and status (job, refused, dropped)",
            lambda: {
                (("chain", c), ("status", s)): float(n)
                for (c, s), n in listener.status_counts(runtime.db).items()
            },
        )


def _import_factory(setting: str, name: str) -> Any:
    import importlib

    module_name, _, attr = setting.removeprefix("import:").partition(":")
    if not setting.startswith("import:") or not attr:
        raise UserInputError(f"config {name}: expected import:MODULE:FACTORY, not {setting!r}")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError):
        raise UserInputError(f"config {name}: cannot import {setting!r}") from None


def to_checksum(address: str) -> str:
    from eth_utils.address import to_checksum_address

    return str(to_checksum_address(to_bytes(address, "address", 20)))


def _register_gauges(runtime: Runtime) -> None:
    reg = runtime.metrics.registry
    reg.gauge(
        "coproc_jobs",
        "Jobs by state",
        lambda: {(("state", s),): float(n) for s, n in runtime.db.counts().items()},
    )
    reg.gauge(
        "coproc_sampling_probability",
        "Configured probability of re-proving a signed result",
        lambda: {(): runtime.config.sampling_probability},
    )
    reg.gauge(
        "coproc_samples_recorded",
        "Sampling outcomes recorded in the database (all processes)",
        lambda: {(("outcome", k),): float(v) for k, v in runtime.db.sample_counts().items()},
    )


#: ``coproc serve --role``: what a process runs
ROLES = ("all", "api", "worker")


async def start(
    runtime: Runtime, host: str, port: int, role: str = "all"
) -> tuple[web.AppRunner, list[asyncio.Task[None]]]:
    """Start what ``role`` runs: the HTTP API (``all``, ``api``; a ``worker`` serves only
    ``/healthz`` and ``/metrics``), the workers and the on-chain listeners (``all``,
    ``worker``); returns what ``stop`` needs."""
    if role not in ROLES:
        raise UserInputError(f"--role: one of {', '.join(ROLES)}, not {role!r}")
    app = make_worker_app(runtime) if role == "worker" else make_app(runtime)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024)
    await site.start()
    if role == "api":
        return runner, []
    tasks = [asyncio.create_task(runtime.worker_loop(i)) for i in range(runtime.config.workers)]
    for entry in runtime.config.request_chains:
        follow = listener.Listener(
            runtime, listener.ChainSettings.of(entry, runtime.config.rpc_url)
        )
        tasks.append(asyncio.create_task(follow.run()))
    return runner, tasks


async def stop(runtime: Runtime, runner: web.AppRunner, tasks: list[asyncio.Task[None]]) -> None:
    runtime.stopping = True
    runtime.wake.set()
    runtime.published.set()
    for task in tasks:
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
    await runner.cleanup()
    await runtime.rpc.close()
    runtime.store.close()
    runtime.db.close()


async def serve(
    config: ServiceConfig, data_dir: Path, host: str, port: int, role: str = "all"
) -> None:
    """Run ``role`` (``ROLES``) until SIGINT/SIGTERM."""
    if host not in ("127.0.0.1", "localhost", "::1"):
        what = "/healthz and /metrics are" if role == "worker" else "the API is"
        log.warning("binding to %s: %s reachable from other machines", host, what)
    runtime = await build_runtime(config, data_dir)
    runner, tasks = await start(runtime, host, port, role)
    if role == "worker":
        print(
            f"coproc serve: worker role, {config.workers} workers; /healthz and /metrics on "
            f"http://{host}:{port} (chain {runtime.chain_id})",
            flush=True,
        )
    else:
        print(
            f"coproc serve: listening on http://{host}:{port} (chain {runtime.chain_id}"
            f"{', api role: no workers' if role == 'api' else ''})",
            flush=True,
        )
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, done.set)
    await done.wait()
    await stop(runtime, runner, tasks)


class Background:
    """A whole service (HTTP + workers) in a background thread with its own event loop,
    for embedding (``coproc demo``, tests): ``with Background(config, dir) as svc: svc.url``.
    """

    def __init__(
        self,
        config: ServiceConfig,
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        prover: Prover | None = None,
        seed: int | None = None,
    ) -> None:
        import threading

        from coprocessor.dev.devnet import free_port

        self.config, self.data_dir, self.host = config, data_dir, host
        self.port = port or free_port()
        self.url = f"http://{host}:{self.port}"
        self._prover, self._seed = prover, seed
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runtime: Runtime | None = None
        self._handles: tuple[web.AppRunner, list[asyncio.Task[None]]] | None = None

    def call(self, coro: Any, timeout: float = 60) -> Any:
        """Run a coroutine on the service's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> Background:
        self.thread.start()

        async def up() -> None:
            self.runtime = await build_runtime(
                self.config, self.data_dir, prover=self._prover, seed=self._seed
            )
            self._handles = await start(self.runtime, self.host, self.port)

        try:
            self.call(up())
        except BaseException:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            raise
        return self

    def add_key(self, name: str, rate: float = 50.0, burst: int = 100) -> str:
        """Create an API key (printed nowhere; returned once)."""
        from coprocessor.service import auth

        runtime = self.runtime
        if runtime is None:
            raise UserInputError("the service is not running")

        async def make() -> str:
            return auth.create_key(runtime.db, name, rate, burst)

        key: str = self.call(make())
        return key

    def stop(self) -> None:
        if self.runtime is not None and self._handles is not None:
            self.call(stop(self.runtime, *self._handles))
            self.runtime, self._handles = None, None
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)

    def __enter__(self) -> Background:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
