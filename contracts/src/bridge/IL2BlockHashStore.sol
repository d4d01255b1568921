// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title IL2BlockHashStore
/// @notice L1 block hashes bridged to an L2 (see L2BlockHashStore).
interface IL2BlockHashStore {
    /// @notice The bridged hash of L1 block `number`, or zero if none arrived.
    /// @param number The L1 block number.
    /// @return The block hash, zero when unknown.
    function blockHashOf(uint256 number) external view returns (bytes32);
}
