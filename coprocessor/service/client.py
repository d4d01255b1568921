"""A small client of the service's API v1, for bots: request scores, poll jobs, read
results and the feed, and verify results locally — the EIP-712 signature (who signed
it, over exactly these values) and the receipt (journal fields equal the result's,
seal bound to the journal and image ID) — without trusting the service.

    from coprocessor.service.client import Client
    c = Client("http://127.0.0.1:9545", api_key="cpk_…")
    job = c.request_score("0xabc…", "lending-risk-v1", mode="both")
    c.wait(job["id"])
    result = c.score("0xabc…", "lending-risk-v1")
    c.verify_signed(result, expected_signer="0xOperator…")
    c.verify_receipt(result, image_id="0x…")

Standard library HTTP only (urllib), so it drops into any bot.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

from coprocessor.errors import CoprocessorError, ToolError, UserInputError, VerificationError
from coprocessor.onchain import eip712
from coprocessor.service.lifecycle import State
from coprocessor.zk import batch_journal, receipt_claim
from coprocessor.zk import journal as journal_v1


class ApiError(CoprocessorError):
    """The service answered with an error (``status``, ``code``)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"HTTP {status} {code}: {message}")
        self.status = status
        self.code = code


class Client:
    """API v1 over HTTP."""

    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        headers.update(extra or {})
        return headers

    def _call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Any:
        data = None
        extra = dict(headers or {})
        if body is not None:
            data = json.dumps(body).encode()
            extra["Content-Type"] = "application/json"
        req = urllib.request.Request(
            self.base_url + path, data=data, method=method, headers=self._headers(extra)
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as err:
            try:
                error = json.loads(err.read())["error"]
                raise ApiError(err.code, error["code"], error["message"]) from None
            except (ValueError, KeyError, TypeError):
                raise ApiError(err.code, "http", err.reason) from None
        except urllib.error.URLError as err:
            raise ToolError(f"service at {self.base_url} unreachable: {err.reason}") from None

    # ------------------------------------------------------------------ API

    def request_score(
        self,
        subject: str,
        model: str,
        *,
        block: int | str = "latest",
        mode: str = "signed",
        destination: str = "none",
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/scores``: the accepted job (``id``, ``state``, ``url``)."""
        body = {
            "subject": subject,
            "model": model,
            "block": block,
            "mode": mode,
            "destination": destination,
        }
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        result: dict[str, Any] = self._call("POST", "/v1/scores", body, headers)
        return result

    def job(self, job_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/v1/jobs/{urllib.parse.quote(job_id)}")
        return result

    def wait(self, job_id: str, timeout: float = 300.0, poll: float = 0.2) -> dict[str, Any]:
        """Poll until the job is done (returned) or failed (raises)."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if job["state"] == State.DONE:
                return job
            if job["state"] == State.FAILED:
                raise ToolError(f"job {job_id} failed: {job.get('error')}")
            if time.monotonic() > deadline:
                raise ToolError(f"job {job_id} still {job['state']} after {timeout:g}s")
            time.sleep(poll)

    def score(self, subject: str, model: str) -> dict[str, Any]:
        """``GET /v1/scores/{subject}?model=``: the latest result."""
        query = urllib.parse.urlencode({"model": model})
        result: dict[str, Any] = self._call("GET", f"/v1/scores/{subject}?{query}")
        return result

    def models(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/v1/models")
        return result

    def feed(self, last_event_id: int | None = None) -> Iterator[tuple[int, str, dict[str, Any]]]:
        """Server-sent events as (id, kind, result); blocks while waiting."""
        extra = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            extra["Last-Event-ID"] = str(last_event_id)
        req = urllib.request.Request(self.base_url + "/v1/feed", headers=self._headers(extra))
        with urllib.request.urlopen(req, timeout=self.timeout) as resp:
            event: dict[str, str] = {}
            for raw in resp:
                line = raw.decode().rstrip("\r\n")
                if not line:
                    if "data" in event:
                        yield (
                            int(event.get("id", "0")),
                            event.get("event", "message"),
                            json.loads(event["data"]),
                        )
                    event = {}
                elif not line.startswith(":"):
                    name, _, value = line.partition(":")
                    event[name] = value.removeprefix(" ")

    # ------------------------------------------------------------------ local checks

    @staticmethod
    def signed_score(result: dict[str, Any]) -> eip712.SignedScore:
        """The EIP-712 struct a result's signature covers, rebuilt from its fields."""
        return eip712.SignedScore(
            source_chain_id=int(result["chain_id"]),
            block_number=int(result["block"]),
            subject=str(result["subject"]),
            model_hash=bytes.fromhex(str(result["model_hash"])[2:]),
            feature_spec_hash=bytes.fromhex(str(result["feature_spec_hash"])[2:]),
            score=int(result["score"]),
        )

    @classmethod
    def verify_signed(cls, result: dict[str, Any], expected_signer: str) -> str:
        """Recover the signer of the result's signature over its own fields; raises
        VerificationError unless it is ``expected_signer``."""
        signature = result.get("signature")
        if not isinstance(signature, str):
            raise VerificationError("result carries no signature")
        if result.get("signing_chain_id") is None or result.get("signed_scores") is None:
            raise VerificationError("result does not name its EIP-712 domain")
        signer = eip712.recover(
            cls.signed_score(result),
            bytes.fromhex(signature[2:]),
            int(result["signing_chain_id"]),
            str(result["signed_scores"]),
        )
        if signer.lower() != expected_signer.lower():
            raise VerificationError(f"signed by {signer}, expected {expected_signer}")
        return signer

    @staticmethod
    def verify_receipt(
        result: dict[str, Any], image_id: str, *, allow_dev: bool = False
    ) -> dict[str, Any]:
        """Check the result's receipt locally: the journal decodes and its fields are the
        result's; the seal is bound to (image ID, journal). A dev-mode seal (accepted only
        by mock verifiers) passes only with ``allow_dev``; a Groth16 seal is bound on-chain
        by the verifier contract, so here only its journal is checked. A result proven in
        a batch (``batch``) is checked as its leaf: the leaf built from the result's own
        fields, with the result's proof, folds into the batch journal's results root."""
        raw_journal, seal = result.get("journal"), result.get("seal")
        if not isinstance(raw_journal, str) or not isinstance(seal, str):
            raise VerificationError("result carries no receipt (journal and seal)")
        want = {
            "chainId": result["chain_id"],
            "blockNumber": result["block"],
            "subject": str(result["subject"]).lower(),
            "modelHash": result["model_hash"],
            "featureSpecHash": result["feature_spec_hash"],
            "score": result["score"],
            "anchorNumber": result["anchor"]["number"],
            "anchorHash": result["anchor"]["hash"],
        }
        if result.get("batch") is not None:
            journal = _batch_leaf_journal(result, bytes.fromhex(raw_journal[2:]))
        else:
            journal = journal_v1.decode(bytes.fromhex(raw_journal[2:]))
        for name, value in want.items():
            if journal[name] != value:
                raise VerificationError(f"journal {name} is {journal[name]}, result says {value}")
        image = bytes.fromhex(image_id.removeprefix("0x"))
        if len(image) != 32:
            raise UserInputError("image id must be 32 bytes")
        seal_raw = bytes.fromhex(seal[2:])
        if seal_raw[:4] == receipt_claim.DEV_SEAL_SELECTOR:
            if not allow_dev:
                raise VerificationError("dev-mode seal (no proof); pass allow_dev to accept it")
            if seal_raw != receipt_claim.dev_seal(image, bytes.fromhex(raw_journal[2:])):
                raise VerificationError("dev seal is not bound to this image ID and journal")
        return journal


def _batch_leaf_journal(result: dict[str, Any], raw: bytes) -> dict[str, Any]:
    """A batched result against its batch journal: the leaf made of the result's fields
    and request id, with the result's proof at its index, folds into the results root.
    Returns the journal's fields with the leaf's (so the caller's field check applies)."""
    b = result["batch"]
    leaf = batch_journal.Leaf(
        block_number=int(result["block"]),
        subject=str(result["subject"]).lower(),
        model_hash=bytes.fromhex(str(result["model_hash"])[2:]),
        feature_spec_hash=bytes.fromhex(str(result["feature_spec_hash"])[2:]),
        score=int(result["score"]),
        request_id=bytes.fromhex(str(result["request_id"])[2:]),
    )
    proof = [bytes.fromhex(p[2:]) for p in b["proof"]]
    batch_journal.check_leaf(raw, leaf, int(b["leaf_index"]), proof)
    fields = batch_journal.decode_batch(raw)
    return {
        "chainId": fields["chainId"],
        "anchorNumber": fields["anchorNumber"],
        "anchorHash": "0x" + fields["anchorHash"].hex(),
        "blockNumber": leaf.block_number,
        "subject": leaf.subject,
        "modelHash": "0x" + leaf.model_hash.hex(),
        "featureSpecHash": "0x" + leaf.feature_spec_hash.hex(),
        "score": leaf.score,
        "resultsRoot": "0x" + fields["resultsRoot"].hex(),
        "leafIndex": int(b["leaf_index"]),
    }
