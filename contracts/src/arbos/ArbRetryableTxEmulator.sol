// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title ArbRetryableTxEmulator
/// @notice The devnet stand-in for Arbitrum's ArbRetryableTx precompile (0x6e): the same
/// functions, events and errors as nitro-contracts' `ArbRetryableTx` interface, installed
/// with `anvil_setCode` on the L2 anvil. Tickets, their lifetime, keepalive, cancel and
/// redeem requests live here; the *execution* of a retry (a call from the aliased L1
/// sender) is done by the devnet relay, which then reports it with `devnetRecordRedeem`
/// (that is when `RedeemScheduled` is emitted; on Nitro it is emitted before the retry).
/// Devnet only: never deploy on a real chain.
contract ArbRetryableTxEmulator {
    /// @notice Nitro's retryable lifetime: 7 days.
    uint256 internal constant LIFETIME = 7 days;

    struct Ticket {
        address from;
        address to;
        uint256 callValue;
        address beneficiary;
        address feeRefund;
        uint64 gasLimit;
        uint64 tries;
        uint256 maxFeePerGas;
        uint256 timeout;
        bytes data;
    }

    /// @notice The devnet relay allowed to call the `devnet*` functions.
    address public relay;
    mapping(bytes32 ticketId => Ticket) internal _tickets;

    /// @notice Same events as ArbRetryableTx.
    event TicketCreated(bytes32 indexed ticketId);
    event LifetimeExtended(bytes32 indexed ticketId, uint256 newTimeout);
    event RedeemScheduled(
        bytes32 indexed ticketId,
        bytes32 indexed retryTxHash,
        uint64 indexed sequenceNum,
        uint64 donatedGas,
        address gasDonor,
        uint256 maxRefund,
        uint256 submissionFeeRefund
    );
    event Canceled(bytes32 indexed ticketId);
    /// @dev Deprecated in ArbRetryableTx; declared for ABI parity, never emitted.
    event Redeemed(bytes32 indexed userTxHash);

    /// @notice Devnet only: the relay handled the L1 submission of `ticketId`
    /// (`created` false = CREATION_FAILED). Nitro needs no such event: there the ticket id
    /// is the hash of the submission transaction, whose receipt says the same.
    event DevnetSubmitted(bytes32 indexed ticketId, bool created);
    /// @notice Devnet only: someone called `redeem`; the relay executes the retry with
    /// `donatedGas` and then reports it (`RedeemScheduled`).
    event DevnetRedeemRequested(bytes32 indexed ticketId, uint64 indexed sequenceNum, uint64 donatedGas, address gasDonor);

    /// @notice No live ticket with that id (never created, redeemed, cancelled or expired).
    /// @dev Selector `0x80698456` = bytes4(keccak256("NoTicketWithID()")).
    error NoTicketWithID();
    /// @notice `submitRetryable` only describes submissions to explorers; it cannot be called.
    /// @dev Selector `0x902824c1` = bytes4(keccak256("NotCallable()")).
    error NotCallable();
    /// @notice A `devnet*` function was called by someone else than the relay, or a
    /// beneficiary-only function by someone else than the beneficiary.
    /// @dev Selector `0x7fd572eb` = bytes4(keccak256("RetryableEmulatorUnauthorized(address)")).
    error RetryableEmulatorUnauthorized(address caller);
    /// @notice keepalive would push the timeout more than one lifetime past now.
    /// @dev Selector `0xf40a5824` = bytes4(keccak256("RetryableEmulatorTimeoutTooFar(uint256)")).
    error RetryableEmulatorTimeoutTooFar(uint256 timeout);
    /// @notice The relay tried to create a ticket id twice.
    /// @dev Selector `0x3107004d` = bytes4(keccak256("RetryableEmulatorTicketExists(bytes32)")).
    error RetryableEmulatorTicketExists(bytes32 ticketId);

    modifier onlyRelay() {
        if (msg.sender != relay) revert RetryableEmulatorUnauthorized(msg.sender);
        _;
    }

    /// @notice Claim the relay role (first caller only; the devnet does it right after install).
    /// @param relay_ The devnet relay's address.
    function devnetInit(address relay_) external {
        if (relay != address(0)) revert RetryableEmulatorUnauthorized(msg.sender);
        relay = relay_;
    }

    /// @notice Devnet only: the L2 side of an L1 `createRetryableTicket`. Checks what Nitro
    /// checks when it processes the submission (the submission fee against the L1 base fee
    /// recorded by the Bridge, the deposit against fee + call value); on failure no ticket.
    /// @return created Whether the ticket now exists.
    function devnetSubmit(
        bytes32 ticketId,
        uint256 l1BaseFee,
        uint256 deposit,
        uint256 maxSubmissionFee,
        Ticket calldata t
    ) external onlyRelay returns (bool created) {
        if (_tickets[ticketId].timeout != 0) revert RetryableEmulatorTicketExists(ticketId);
        uint256 fee = (1400 + 6 * t.data.length) * l1BaseFee;
        created = maxSubmissionFee >= fee && deposit >= maxSubmissionFee + t.callValue;
        if (created) {
            Ticket storage s = _tickets[ticketId];
            s.from = t.from;
            s.to = t.to;
            s.callValue = t.callValue;
            s.beneficiary = t.beneficiary;
            s.feeRefund = t.feeRefund;
            s.gasLimit = t.gasLimit;
            s.maxFeePerGas = t.maxFeePerGas;
            s.timeout = block.timestamp + LIFETIME;
            s.data = t.data;
            emit TicketCreated(ticketId);
        }
        emit DevnetSubmitted(ticketId, created);
    }

    /// @notice Devnet only: the relay executed retry `retryTxHash` of `ticketId` (an
    /// auto-redeem or a requested redeem). A successful retry deletes the ticket, as on Nitro.
    function devnetRecordRedeem(
        bytes32 ticketId,
        bytes32 retryTxHash,
        uint64 donatedGas,
        address gasDonor,
        uint256 maxRefund,
        bool success
    ) external onlyRelay {
        Ticket storage s = _live(ticketId);
        uint64 seq = s.tries++;
        emit RedeemScheduled(ticketId, retryTxHash, seq, donatedGas, gasDonor, maxRefund, 0);
        if (success) delete _tickets[ticketId];
    }

    /// @notice Devnet only: the stored ticket (the relay reads it to execute a redeem).
    function devnetTicket(bytes32 ticketId) external view returns (Ticket memory) {
        return _live(ticketId);
    }

    /// @notice Request a redeem of `ticketId`, donating this call's remaining gas.
    /// @return The id of the redeem request (the retry's hash is reported in `RedeemScheduled`).
    function redeem(bytes32 ticketId) external returns (bytes32) {
        Ticket storage s = _live(ticketId);
        uint64 donated = uint64(gasleft());
        uint64 seq = s.tries;
        emit DevnetRedeemRequested(ticketId, seq, donated, msg.sender);
        return keccak256(abi.encode(ticketId, seq));
    }

    /// @notice The minimum lifetime of a ticket, in seconds.
    function getLifetime() external pure returns (uint256) {
        return LIFETIME;
    }

    /// @notice When `ticketId` ages out; reverts `NoTicketWithID` if it is not live.
    /// @param ticketId The ticket.
    function getTimeout(bytes32 ticketId) external view returns (uint256) {
        return _live(ticketId).timeout;
    }

    /// @notice Add one lifetime to `ticketId`'s timeout.
    /// @param ticketId The ticket.
    /// @return The new timeout.
    function keepalive(bytes32 ticketId) external returns (uint256) {
        Ticket storage s = _live(ticketId);
        if (s.timeout > block.timestamp + LIFETIME) revert RetryableEmulatorTimeoutTooFar(s.timeout);
        s.timeout += LIFETIME;
        emit LifetimeExtended(ticketId, s.timeout);
        return s.timeout;
    }

    /// @notice The beneficiary (call-value refund address) of `ticketId`.
    /// @param ticketId The ticket.
    function getBeneficiary(bytes32 ticketId) external view returns (address) {
        return _live(ticketId).beneficiary;
    }

    /// @notice Cancel `ticketId` (beneficiary only).
    /// @param ticketId The ticket.
    function cancel(bytes32 ticketId) external {
        Ticket storage s = _live(ticketId);
        if (msg.sender != s.beneficiary) revert RetryableEmulatorUnauthorized(msg.sender);
        delete _tickets[ticketId];
        emit Canceled(ticketId);
    }

    /// @notice Always zero here: retries are plain transactions from the aliased sender.
    function getCurrentRedeemer() external pure returns (address) {
        return address(0);
    }

    /// @notice Explorer-only description of a submission; always reverts `NotCallable`.
    function submitRetryable(
        bytes32,
        uint256,
        uint256,
        uint256,
        uint256,
        uint64,
        uint256,
        address,
        address,
        address,
        bytes calldata
    ) external pure {
        revert NotCallable();
    }

    function _live(bytes32 ticketId) internal view returns (Ticket storage s) {
        s = _tickets[ticketId];
        if (s.timeout == 0 || s.timeout < block.timestamp) revert NoTicketWithID();
    }
}
