// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Test} from "./utils/Test.sol";

/// @notice Checks the toolchain itself: the test base, cheatcodes and fuzzing work.
contract SmokeTest is Test {
    function test_cheatcodesWork() public {
        vm.roll(1234);
        assertEq(block.number, 1234, "roll");
        vm.chainId(42161);
        assertEq(block.chainid, 42161, "chainId");
    }

    function testFuzz_assume(uint256 x) public pure {
        vm.assume(x > 0);
        assertTrue(x != 0, "assume filtered");
    }
}
