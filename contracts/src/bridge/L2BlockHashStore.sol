// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IL2BlockHashStore} from "./IL2BlockHashStore.sol";

/// @title L2BlockHashStore
/// @notice L1 block hashes on an Arbitrum L2, written only by retryable tickets that the
/// L1BlockHashPusher created: on L2 their `msg.sender` is the pusher's aliased address
/// (L1 address + 0x1111000000000000000000000000000000001111, mod 2^160).
/// @dev The first hash stored for a block is final: a second message for the same
/// block is rejected (replay), and a different hash is rejected as a conflict.
contract L2BlockHashStore is IL2BlockHashStore {
    /// @notice Arbitrum's L1→L2 address alias offset.
    uint160 internal constant ALIAS_OFFSET = uint160(0x1111000000000000000000000000000000001111);

    /// @notice The L1 pusher contract.
    address public immutable l1Pusher;
    /// @notice The only address allowed to write: `l1Pusher` aliased.
    address public immutable aliasedPusher;

    mapping(uint256 number => bytes32) private _hashes;

    /// @notice The hash of L1 block `number` arrived.
    event BlockHashReceived(uint256 indexed number, bytes32 hash);

    /// @notice The caller is not the aliased L1 pusher.
    /// @dev Selector `0x7bd79b6f` = bytes4(keccak256("StoreUnauthorized(address)")).
    error StoreUnauthorized(address caller);
    /// @notice A zero hash was sent.
    /// @dev Selector `0x36a0a76e` = bytes4(keccak256("StoreZeroHash(uint256)")).
    error StoreZeroHash(uint256 number);
    /// @notice This block's hash is already stored (replayed message).
    /// @dev Selector `0xaef1a841` = bytes4(keccak256("StoreAlreadyKnown(uint256)")).
    error StoreAlreadyKnown(uint256 number);
    /// @notice A different hash is already stored for this block.
    /// @dev Selector `0x42e388c7` = bytes4(keccak256("StoreHashConflict(uint256,bytes32,bytes32)")).
    error StoreHashConflict(uint256 number, bytes32 stored, bytes32 got);

    /// @param l1Pusher_ Address of the L1BlockHashPusher on L1.
    constructor(address l1Pusher_) {
        l1Pusher = l1Pusher_;
        unchecked {
            aliasedPusher = address(uint160(l1Pusher_) + ALIAS_OFFSET);
        }
    }

    /// @notice Record the hash of L1 block `number` (aliased L1 pusher only).
    /// @param number The L1 block number.
    /// @param hash Its block hash, as read on L1.
    function receiveBlockHash(uint256 number, bytes32 hash) external {
        if (msg.sender != aliasedPusher) revert StoreUnauthorized(msg.sender);
        if (hash == bytes32(0)) revert StoreZeroHash(number);
        bytes32 stored = _hashes[number];
        if (stored == hash) revert StoreAlreadyKnown(number);
        if (stored != bytes32(0)) revert StoreHashConflict(number, stored, hash);
        _hashes[number] = hash;
        emit BlockHashReceived(number, hash);
    }

    /// @inheritdoc IL2BlockHashStore
    function blockHashOf(uint256 number) external view returns (bytes32) {
        return _hashes[number];
    }
}
