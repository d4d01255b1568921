"""L1 → L2 retryable tickets: fee and deposit arithmetic, ticket ids, the L1 events
that carry a ticket, and the ticket's life on L2.

Statuses (the ``@arbitrum/sdk`` ParentToChildMessageStatus names):

- ``NOT_YET_CREATED``: L2 has not processed the submission yet;
- ``CREATION_FAILED``: the submission failed on L2 (no ticket, funds refunded);
- ``FUNDS_DEPOSITED_ON_CHILD``: the ticket exists, no retry has succeeded
  (auto-redeem failed or was not possible): redeem it before it expires;
- ``REDEEMED``: a retry succeeded;
- ``EXPIRED``: the ticket aged out (or was cancelled) without a successful retry.

Arithmetic follows nitro-contracts' Inbox: ``calculateRetryableSubmissionFee(len, baseFee)
= (1400 + 6 * len) * baseFee`` and the deposit must cover
``maxSubmissionCost + l2CallValue + gasLimit * maxFeePerGas``. All values are uint256 on
chain: anything that would overflow is refused here rather than reverting there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import rlp
from eth_hash.auto import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError, ContractLogicError

from bridge.chain import rpc
from bridge.nitro import ARB_RETRYABLE_TX, nitro_at
from coprocessor.errors import RpcError, UserInputError, VerificationError

UINT256_MAX = 2**256 - 1
#: Bridge.MessageDelivered kind of a retryable submission (L1MessageType_submitRetryableTx)
KIND_SUBMIT_RETRYABLE = 9
#: the EIP-2718 type byte of Nitro's ArbitrumSubmitRetryableTx
SUBMIT_RETRYABLE_TX_TYPE = 0x69

NOT_YET_CREATED = "NOT_YET_CREATED"
CREATION_FAILED = "CREATION_FAILED"
FUNDS_DEPOSITED_ON_CHILD = "FUNDS_DEPOSITED_ON_CHILD"
REDEEMED = "REDEEMED"
EXPIRED = "EXPIRED"
STATUSES = (NOT_YET_CREATED, CREATION_FAILED, FUNDS_DEPOSITED_ON_CHILD, REDEEMED, EXPIRED)
FINAL = (CREATION_FAILED, REDEEMED, EXPIRED)

#: emitted by ArbRetryableTx (real and emulated) and by the devnet emulator
TICKET_CREATED = "0x" + keccak(b"TicketCreated(bytes32)").hex()
REDEEM_SCHEDULED = (
    "0x" + keccak(b"RedeemScheduled(bytes32,bytes32,uint64,uint64,address,uint256,uint256)").hex()
)
DEVNET_SUBMITTED = "0x" + keccak(b"DevnetSubmitted(bytes32,bool)").hex()


def _uint256(name: str, value: int) -> int:
    if not 0 <= value <= UINT256_MAX:
        raise UserInputError(f"{name} out of uint256 range: {value}")
    return value


def submission_fee(data_length: int, base_fee: int) -> int:
    """Inbox.calculateRetryableSubmissionFee with a nonzero base fee."""
    _uint256("data length", data_length)
    _uint256("base fee", base_fee)
    if base_fee == 0:
        raise UserInputError("base fee 0 means 'the block's base fee' on chain: pass it")
    return _uint256("submission fee", (1400 + 6 * data_length) * base_fee)


def with_margin(value: int, percent: int) -> int:
    """``value`` raised by ``percent`` (rounded up), as the SDK pads its estimates."""
    if percent < 0:
        raise UserInputError("margin percent must be >= 0")
    return _uint256("padded value", -(-value * (100 + percent) // 100))


@dataclass(frozen=True)
class RetryableFees:
    """What ``createRetryableTicket`` is paid with."""

    max_submission_cost: int
    gas_limit: int
    max_fee_per_gas: int
    l2_call_value: int = 0

    def __post_init__(self) -> None:
        for name in ("max_submission_cost", "gas_limit", "max_fee_per_gas", "l2_call_value"):
            _uint256(name, getattr(self, name))

    @property
    def deposit(self) -> int:
        """The least ``msg.value`` the Inbox accepts (else ``InsufficientValue``)."""
        gas_cost = _uint256("gas limit × max fee", self.gas_limit * self.max_fee_per_gas)
        return _uint256("deposit", self.max_submission_cost + self.l2_call_value + gas_cost)


def estimate_fees(
    data_length: int,
    l1_base_fee: int,
    l2_gas: int,
    l2_base_fee: int,
    *,
    l2_call_value: int = 0,
    base_fee_margin: int = 300,
    gas_margin: int = 30,
    gas_price_margin: int = 100,
) -> RetryableFees:
    """Fees with the SDK's kind of margins: the submission fee at a base fee raised by
    ``base_fee_margin`` %, the gas limit by ``gas_margin`` %, the L2 gas price by
    ``gas_price_margin`` %."""
    return RetryableFees(
        max_submission_cost=submission_fee(data_length, with_margin(l1_base_fee, base_fee_margin)),
        gas_limit=with_margin(l2_gas, gas_margin),
        max_fee_per_gas=with_margin(max(l2_base_fee, 1), gas_price_margin),
        l2_call_value=l2_call_value,
    )


# ---------------------------------------------------------------------- L1 side


@dataclass(frozen=True)
class RetryableMessage:
    """One retryable submission as the L1 Bridge and Inbox recorded it."""

    message_number: int
    sender: str  # the aliased L1 sender (Bridge.MessageDelivered.sender)
    l1_base_fee: int
    to: str
    l2_call_value: int
    deposit: int
    max_submission_cost: int
    excess_fee_refund: str
    call_value_refund: str
    gas_limit: int
    max_fee_per_gas: int
    data: bytes
    l1_tx_hash: str
    l1_block: int

    def ticket_id(self, l2_chain_id: int) -> bytes:
        """Nitro's ticket id: the hash of the ArbitrumSubmitRetryableTx
        ``0x69 ‖ rlp([chainId, requestId, from, l1BaseFee, deposit, gasFeeCap, gas,
        retryTo, retryValue, beneficiary, maxSubmissionFee, feeRefundAddr, retryData])``
        (field order of Nitro's core/types/arb_types.go)."""
        return submit_retryable_id(l2_chain_id, self)

    def to_json(self) -> dict[str, Any]:
        """JSON-safe form (big integers as decimal strings)."""
        return {
            "message_number": self.message_number,
            "sender": self.sender,
            "l1_base_fee": str(self.l1_base_fee),
            "to": self.to,
            "l2_call_value": str(self.l2_call_value),
            "deposit": str(self.deposit),
            "max_submission_cost": str(self.max_submission_cost),
            "excess_fee_refund": self.excess_fee_refund,
            "call_value_refund": self.call_value_refund,
            "gas_limit": self.gas_limit,
            "max_fee_per_gas": str(self.max_fee_per_gas),
            "data": "0x" + self.data.hex(),
            "l1_tx_hash": self.l1_tx_hash,
            "l1_block": self.l1_block,
        }


def _rlp_int(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big") if value else b""


def submit_retryable_id(l2_chain_id: int, m: RetryableMessage) -> bytes:
    """See :meth:`RetryableMessage.ticket_id`."""
    fields = [
        _rlp_int(l2_chain_id),
        m.message_number.to_bytes(32, "big"),
        bytes.fromhex(m.sender[2:]),
        _rlp_int(m.l1_base_fee),
        _rlp_int(m.deposit),
        _rlp_int(m.max_fee_per_gas),
        _rlp_int(m.gas_limit),
        bytes.fromhex(m.to[2:]) if int(m.to, 16) else b"",
        _rlp_int(m.l2_call_value),
        bytes.fromhex(m.call_value_refund[2:]),
        _rlp_int(m.max_submission_cost),
        bytes.fromhex(m.excess_fee_refund[2:]),
        m.data,
    ]
    return bytes(keccak(bytes([SUBMIT_RETRYABLE_TX_TYPE]) + rlp.encode(fields)))


def parse_inbox_message(data: bytes) -> dict[str, Any]:
    """Decode InboxMessageDelivered's ``data`` of a retryable: nine words then the
    calldata (Inbox._createRetryableTicket's abi.encodePacked layout)."""
    if len(data) < 9 * 32:
        raise VerificationError(f"retryable message too short ({len(data)} bytes)")
    words = [int.from_bytes(data[i : i + 32], "big") for i in range(0, 9 * 32, 32)]
    calldata = data[9 * 32 :]
    if words[8] != len(calldata):
        raise VerificationError("retryable message: data length word does not match")

    def addr(word: int) -> str:
        if word >> 160:
            raise VerificationError("retryable message: address word has high bits")
        return Web3.to_checksum_address(f"0x{word:040x}")

    return {
        "to": addr(words[0]),
        "l2_call_value": words[1],
        "deposit": words[2],
        "max_submission_cost": words[3],
        "excess_fee_refund": addr(words[4]),
        "call_value_refund": addr(words[5]),
        "gas_limit": words[6],
        "max_fee_per_gas": words[7],
        "data": calldata,
    }


def messages_in_receipt(bridge: Contract, inbox: Contract, receipt: Any) -> list[RetryableMessage]:
    """The retryables an L1 receipt created (Bridge.MessageDelivered of kind 9 joined
    with Inbox.InboxMessageDelivered by message number; the data hash is checked)."""
    delivered = {}
    for log in receipt["logs"]:
        if log["address"] != bridge.address:
            continue
        try:
            event = bridge.events.MessageDelivered().process_log(log)
        except Exception:  # another Bridge event
            continue
        delivered[int(event["args"]["messageIndex"])] = event["args"]
    out = []
    for log in receipt["logs"]:
        if log["address"] != inbox.address:
            continue
        try:
            event = inbox.events.InboxMessageDelivered().process_log(log)
        except Exception:
            continue
        number = int(event["args"]["messageNum"])
        data = bytes(event["args"]["data"])
        meta = delivered.get(number)
        if meta is None or int(meta["kind"]) != KIND_SUBMIT_RETRYABLE:
            continue
        if bytes(keccak(data)) != bytes(meta["messageDataHash"]):
            raise VerificationError(f"message {number}: data does not match its hash")
        fields = parse_inbox_message(data)
        out.append(
            RetryableMessage(
                message_number=number,
                sender=Web3.to_checksum_address(meta["sender"]),
                l1_base_fee=int(meta["baseFeeL1"]),
                l1_tx_hash="0x" + bytes(receipt["transactionHash"]).hex(),
                l1_block=int(receipt["blockNumber"]),
                **fields,
            )
        )
    return out


# ---------------------------------------------------------------------- L2 side


@dataclass(frozen=True)
class TicketState:
    """What L2 says about a ticket."""

    status: str
    timeout: int | None = None
    attempts: int = 0
    redeem_tx: str | None = None
    creation_tx: str | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "status": self.status,
            "timeout": self.timeout,
            "attempts": self.attempts,
            "redeem_tx": self.redeem_tx,
            "creation_tx": self.creation_tx,
        }


def retryable_tx(l2: Web3) -> Contract:
    """ArbRetryableTx (0x6e) with the nitro-contracts ABI."""
    return nitro_at(l2, "ArbRetryableTx", ARB_RETRYABLE_TX)


def _logs(l2: Web3, topics: list[Any], from_block: int) -> list[Any]:
    params = {"address": ARB_RETRYABLE_TX, "topics": topics, "fromBlock": from_block}
    return list(rpc(lambda: l2.eth.get_logs(params), "eth_getLogs"))  # type: ignore[arg-type]


def ticket_state(l2: Web3, ticket_id: bytes, from_block: int = 0) -> TicketState:
    """Follow a ticket on L2, as the SDK does.

    1. Creation: on Nitro the ticket id *is* the submission transaction's hash, so its
       receipt says created (status 1) or CREATION_FAILED (status 0). The devnet cannot
       give a transaction that hash; its emulator emits ``DevnetSubmitted(ticketId,
       created)`` instead (docs/bridge.md). Neither → NOT_YET_CREATED.
    2. Every ``RedeemScheduled(ticketId, retryTxHash, …)``: a retry receipt with status 1
       → REDEEMED.
    3. ``getTimeout(ticketId)`` answers → FUNDS_DEPOSITED_ON_CHILD; it reverts
       ``NoTicketWithID`` once the ticket aged out or was cancelled → EXPIRED.
    """
    topic = "0x" + ticket_id.hex()
    creation_tx: str | None = None
    receipt = _receipt(l2, topic)
    if receipt is not None:
        creation_tx = topic
        if receipt["status"] != 1:
            return TicketState(CREATION_FAILED, creation_tx=creation_tx)
    else:
        submitted = _logs(l2, [DEVNET_SUBMITTED, topic], from_block)
        if not submitted:
            return TicketState(NOT_YET_CREATED)
        creation_tx = "0x" + bytes(submitted[-1]["transactionHash"]).hex()
        created = int.from_bytes(bytes(submitted[-1]["data"])[:32], "big") == 1
        if not created:
            return TicketState(CREATION_FAILED, creation_tx=creation_tx)
    redeems, redeemed = _redeems(l2, topic, from_block)
    if redeemed is not None:
        return TicketState(
            REDEEMED, attempts=len(redeems), redeem_tx=redeemed, creation_tx=creation_tx
        )
    try:
        timeout = int(retryable_tx(l2).functions.getTimeout(ticket_id).call())
    except (ContractCustomError, ContractLogicError):  # NoTicketWithID
        # a successful redeem also removes the ticket: one that landed between the log
        # read above and getTimeout is REDEEMED, not EXPIRED
        redeems, redeemed = _redeems(l2, topic, from_block)
        if redeemed is not None:
            return TicketState(
                REDEEMED, attempts=len(redeems), redeem_tx=redeemed, creation_tx=creation_tx
            )
        return TicketState(EXPIRED, attempts=len(redeems), creation_tx=creation_tx)
    except OSError as exc:
        raise RpcError(f"getTimeout: node unreachable ({exc.__class__.__name__})") from None
    return TicketState(
        FUNDS_DEPOSITED_ON_CHILD, timeout=timeout, attempts=len(redeems), creation_tx=creation_tx
    )


def _redeems(l2: Web3, topic: str, from_block: int) -> tuple[list[Any], str | None]:
    """The ticket's ``RedeemScheduled`` logs and the hash of a successful retry, if any."""
    redeems = _logs(l2, [REDEEM_SCHEDULED, topic], from_block)
    for log in redeems:
        retry_hash = "0x" + bytes(log["topics"][2]).hex()
        retry = _receipt(l2, retry_hash)
        if retry is not None and retry["status"] == 1:
            return redeems, retry_hash
    return redeems, None


def _receipt(w3: Web3, tx_hash: str) -> Any:
    try:
        return rpc(lambda: w3.eth.get_transaction_receipt(HexBytes(tx_hash)), "receipt")
    except RpcError as exc:
        if "not found" in str(exc).lower():
            return None
        raise


def expiry_alert(state: TicketState, now: float, window: float = 24 * 3600) -> str | None:
    """An alert text when a ticket still waiting for a redeem expires within ``window``
    seconds of ``now`` (or already has), else None."""
    if state.status != FUNDS_DEPOSITED_ON_CHILD or state.timeout is None:
        return None
    left = state.timeout - now
    if left > window:
        return None
    if left <= 0:
        return f"ticket expired {-left:.0f}s ago without a successful redeem"
    return f"ticket expires in {left:.0f}s without a successful redeem: redeem or keepalive it"
