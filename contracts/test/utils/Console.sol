// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @notice forge's console: calls to this address are printed with `-vv`.
library Console {
    address internal constant CONSOLE = 0x000000000000000000636F6e736F6c652e6c6f67;

    function log(string memory label, uint256 value) internal view {
        (bool ok,) = CONSOLE.staticcall(abi.encodeWithSignature("log(string,uint256)", label, value));
        ok;
    }
}
