// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title BlockHashes
/// @notice Trusted hashes of this chain's recent blocks: the BLOCKHASH opcode for the
/// last 256 blocks and the EIP-2935 history contract for the last 8191.
library BlockHashes {
    /// @notice EIP-2935 block-hash history system contract (Prague and later).
    address internal constant HISTORY = 0x0000F90827F1C53a10cb7A02335B175320002935;
    /// @notice How many past blocks the history contract serves (EIP-2935 HISTORY_SERVE_WINDOW).
    uint256 internal constant HISTORY_WINDOW = 8191;

    /// @notice Hash of this chain's block `number`, or zero if it is not one of the last
    /// 8191 blocks (or the history contract does not answer).
    function recent(uint256 number) internal view returns (bytes32 hash) {
        if (number >= block.number) return bytes32(0);
        uint256 age = block.number - number;
        if (age <= 256) return blockhash(number);
        if (age > HISTORY_WINDOW) return bytes32(0);
        // The history contract takes the number as one 32-byte word and reverts when it is
        // out of range; a chain without it has no code there and the call returns nothing.
        (bool ok, bytes memory ret) = HISTORY.staticcall(abi.encode(number));
        if (!ok || ret.length != 32) return bytes32(0);
        hash = abi.decode(ret, (bytes32));
    }
}
