"""Service configuration: one JSON file (``coproc serve --config FILE``), every key
optional, unknown keys refused. Secrets never live in the file: the keystore password
and the poster key come from the environment (names configurable)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from coprocessor.errors import UserInputError
from coprocessor.jsonfile import load_json
from coprocessor.paths import REPO_ROOT
from coprocessor.zk.prover_pool import parse_config


@dataclass
class ServiceConfig:
    """What ``coproc serve`` runs with (defaults are for a local devnet)."""

    #: L1 JSON-RPC endpoint (source chain of the data, and where l1 results are posted)
    rpc_url: str = ""
    #: directory of ``<name>.json`` models with ``<name>.features.json`` specs
    models_dir: str = str(REPO_ROOT / "models")
    #: extra headers between the request block and the anchor (anchor = block + ancestors)
    ancestors: int = 0
    #: encrypted operator keystore (eth-account keystore JSON); empty: signing disabled
    keystore: str = ""
    #: environment variable holding the keystore password
    keystore_password_env: str = "COPROC_KEYSTORE_PASSWORD"
    #: SignedScores contract (EIP-712 verifying contract) and the chain it lives on
    signed_scores: str = ""
    signing_chain_id: int = 0  # 0: the RPC's chain id
    #: RiskOracle on L1 (destination "l1")
    oracle: str = ""
    #: environment variable holding the private key that sends l1 transactions
    poster_key_env: str = "COPROC_POSTER_KEY"
    #: destination l2 (RiskOracle on the Arbitrum chain, anchors bridged from L1):
    #: "devnet" (the two-chain devnet recorded in l2_devnet_dir), or the path of a
    #: bridge network config (format of `coproc bridge --config`); empty: l2 refused
    l2_network: str = ""
    #: data directory of the recorded devnet (empty: the service's data directory)
    l2_devnet_dir: str = ""
    #: environment variable holding the key that sends L1 anchor pushes (unset: the
    #: poster key, unless destination l1 is configured too)
    bridge_key_env: str = "COPROC_BRIDGE_KEY"
    #: how long posting waits for L1 to pass an anchor that is the head (s), and for a
    #: pushed anchor to arrive on L2 (s), before the stage is retried
    l2_anchor_wait_seconds: float = 30.0
    l2_push_timeout_seconds: float = 120.0
    #: alternative l2 poster: "import:module:factory", factory(config) -> posting.L2Poster
    l2_poster: str = ""
    #: prover: "none", "zkvm" (coprocessor.zk.prover), or "import:module:factory"
    prover: str = "zkvm"
    #: remote proving pool (docs/operations.md, "Remote proving pool"): Bonsai-API
    #: endpoints ``{url, api_key_env, max_concurrent, timeout_seconds}``, tried in order;
    #: non-empty: proofs go to them (``prover`` must stay "zkvm")
    provers: list[dict[str, Any]] = field(default_factory=list)
    #: the pool's retries and health: attempts, backoff_seconds, backoff_max_seconds,
    #: max_failures, cooldown_seconds (coprocessor.zk.prover_pool.Policy)
    prover_pool: dict[str, Any] = field(default_factory=dict)
    #: dev-mode proofs (RISC0_DEV_MODE: real execution, fake receipt)
    dev_proofs: bool = True
    #: batching (docs/formats.md §5): proof jobs of one model and request block are
    #: proven together, up to this many per receipt (0: every job proven alone)
    batch_max_size: int = 0
    #: how long an open batch waits for more jobs before it is proven (s)
    batch_wait_seconds: float = 5.0
    #: probability that a signed-only result is re-proved and compared
    sampling_probability: float = 0.0
    #: send SignedScores.challenge on a sampled mismatch (needs the poster key)
    sampling_challenge: bool = False
    #: API keys required on /v1 routes (except openapi.json)
    auth_required: bool = True
    #: default per-key rate (requests/s) and burst
    rate_per_second: float = 50.0
    rate_burst: int = 100
    #: request body limit, bytes
    max_body_bytes: int = 16 * 1024
    #: worker tasks in this process (0: API only)
    workers: int = 2
    #: job lease (s), retries, backoff base and cap (s)
    lease_seconds: float = 30.0
    max_attempts: int = 5
    backoff_seconds: float = 1.0
    backoff_max_seconds: float = 60.0
    #: idle poll interval of workers and the feed (s)
    poll_seconds: float = 0.2
    #: where the job store lives: "" (SQLite, <data dir>/service.sqlite), "sqlite:PATH"
    #: (relative to the data directory), or "postgresql://..." (a libpq URL; migrate it
    #: with `coproc db migrate`). Unset here: $COPROC_DATABASE_URL, if set. See
    #: docs/operations.md, "PostgreSQL backend".
    database_url: str = ""
    #: on-chain requests to follow (``listener``), one object per chain: ``name`` "l1"
    #: (the chain of rpc_url; fulfilled there) or "l2" (the Arbitrum chain of
    #: l2_network; anchors bridged), ``rpc_url`` (default: rpc_url), ``requests`` (the
    #: RiskRequests address), ``confirmations`` (default 2), ``poll_seconds`` (default
    #: 1.0), ``start_block`` (first block read when there is no cursor yet, default 0),
    #: ``min_fee_wei`` (smaller fees are refused, default 0), ``max_range`` (blocks per
    #: eth_getLogs, default 1000)
    request_chains: list[dict[str, Any]] = field(default_factory=list)
    #: TEST ONLY — a lying operator: the scores of these subjects (0x-hex) are computed
    #: and then published and signed one basis point off (see ``lied_score``). It exists
    #: so tests and bench/watch_bench.py can show independent watchers catching a liar;
    #: never set it in a real deployment.
    test_lie_subjects: list[str] = field(default_factory=list)

    def lied_score(self, subject: str, score: int) -> int:
        """``score``, or one basis point off it if ``subject`` is in ``test_lie_subjects``."""
        if subject.lower() not in {s.lower() for s in self.test_lie_subjects}:
            return score
        return score + 1 if score < 10_000 else score - 1

    def validate(self) -> ServiceConfig:
        if not 0.0 <= self.sampling_probability <= 1.0:
            raise UserInputError("config: sampling_probability must be in [0, 1]")
        for name in ("ancestors", "workers", "max_attempts", "max_body_bytes", "rate_burst"):
            if getattr(self, name) < 0:
                raise UserInputError(f"config: {name} must not be negative")
        if self.l2_network and self.l2_poster:
            raise UserInputError("config: set l2_network or l2_poster, not both")
        for name in (
            "lease_seconds",
            "backoff_seconds",
            "poll_seconds",
            "rate_per_second",
            "l2_anchor_wait_seconds",
            "l2_push_timeout_seconds",
        ):
            if getattr(self, name) <= 0:
                raise UserInputError(f"config: {name} must be positive")
        if not all(isinstance(s, str) for s in self.test_lie_subjects):
            raise UserInputError("config: test_lie_subjects must be a list of addresses")
        if not 0 <= self.batch_max_size <= 4096:
            raise UserInputError("config: batch_max_size must be in 0..4096 (0: no batching)")
        if self.batch_wait_seconds < 0:
            raise UserInputError("config: batch_wait_seconds must not be negative")
        for chain in self.request_chains:
            check_request_chain(chain)
        if len({c.get("name") for c in self.request_chains}) != len(self.request_chains):
            raise UserInputError("config: request_chains names must be different")
        if self.ancestors > 200:
            raise UserInputError("config: ancestors must be at most 200 (oracle anchor lag)")
        check_database_url(self.database_url)
        parse_config(self.provers, self.prover_pool)
        if self.provers and self.prover != "zkvm":
            raise UserInputError('config: provers (a remote pool) needs prover "zkvm"')
        return self


#: the environment variable giving ``database_url`` when the config has none
DATABASE_URL_ENV = "COPROC_DATABASE_URL"

#: ``database_url`` prefixes: PostgreSQL (libpq URL), SQLite file
POSTGRES_SCHEMES = ("postgresql://", "postgres://")
SQLITE_SCHEME = "sqlite:"


def check_database_url(url: str) -> None:
    """``""``, ``sqlite:PATH`` or ``postgresql://…`` (the bad value is not echoed: a URL
    may hold a password)."""
    if url and not url.startswith((*POSTGRES_SCHEMES, SQLITE_SCHEME)):
        scheme = url.split(":", 1)[0] if ":" in url else "none"
        raise UserInputError(
            "config: database_url must be empty (SQLite in the data directory), "
            f"sqlite:PATH or postgresql://...; got scheme {scheme[:20]!r}"
        )
    if url.startswith(SQLITE_SCHEME) and not sqlite_path(url):
        raise UserInputError("config: database_url sqlite: needs a path")


def sqlite_path(url: str) -> str:
    """The path of a ``sqlite:PATH`` / ``sqlite:///PATH`` URL."""
    rest = url[len(SQLITE_SCHEME) :]
    return rest[2:] if rest.startswith("//") else rest


#: keys of a ``request_chains`` entry and their types
REQUEST_CHAIN_KEYS: dict[str, type] = {
    "name": str,
    "rpc_url": str,
    "requests": str,
    "confirmations": int,
    "poll_seconds": float,
    "start_block": int,
    "min_fee_wei": int,
    "max_range": int,
}


def check_request_chain(chain: object) -> None:
    """One ``request_chains`` entry: known keys of the right types, sane values."""
    if not isinstance(chain, dict):
        raise UserInputError("config: request_chains entries must be objects")
    unknown = sorted(set(chain) - set(REQUEST_CHAIN_KEYS))
    if unknown:
        raise UserInputError(f"config: request_chains: unknown key(s) {', '.join(unknown)}")
    for key, want in REQUEST_CHAIN_KEYS.items():
        value = chain.get(key)
        if value is None:
            continue
        ok = isinstance(value, want) and not isinstance(value, bool)
        ok = ok or (want is float and isinstance(value, int) and not isinstance(value, bool))
        if not ok:
            kind = {int: "an integer", float: "a number", str: "a string"}[want]
            raise UserInputError(f"config: request_chains {key} must be {kind}")
    if chain.get("name") not in ("l1", "l2"):
        raise UserInputError('config: request_chains name must be "l1" or "l2"')
    if not chain.get("requests"):
        raise UserInputError("config: request_chains needs requests (the RiskRequests address)")
    for key in ("confirmations", "start_block", "min_fee_wei"):
        if chain.get(key, 0) < 0:
            raise UserInputError(f"config: request_chains {key} must not be negative")
    for key in ("poll_seconds", "max_range"):
        if chain.get(key, 1) <= 0:
            raise UserInputError(f"config: request_chains {key} must be positive")


def load_config(path: str | Path | None, overrides: dict[str, Any] | None = None) -> ServiceConfig:
    """Read the JSON file (if given) and apply ``overrides``; types are checked. Without a
    ``database_url`` in either, ``$COPROC_DATABASE_URL`` gives it (a PostgreSQL URL with
    its password stays out of the config file)."""
    raw: dict[str, Any] = {}
    if path is not None:
        raw = load_json(path, "config")
        if not isinstance(raw, dict):
            raise UserInputError(f"config {path}: expected a JSON object")
    raw.update(overrides or {})
    if "database_url" not in raw and os.environ.get(DATABASE_URL_ENV):
        raw["database_url"] = os.environ[DATABASE_URL_ENV]
    known = {f.name: f for f in fields(ServiceConfig)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise UserInputError(f"config: unknown key(s) {', '.join(unknown)}")
    defaults = ServiceConfig()
    for key, value in raw.items():
        want = type(getattr(defaults, key))
        ok = isinstance(value, want) and not (want is not bool and isinstance(value, bool))
        if want is float and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if not ok:
            raise UserInputError(f"config: {key} must be a {want.__name__}, got {value!r:.40}")
    cfg = ServiceConfig(**raw)
    return cfg.validate()
