// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @notice Test fixture: storage of every layout kind the slot helpers derive.
contract StorageLayout {
    struct Position {
        uint128 collateral;
        uint128 debt;
        uint256 updatedAt;
    }

    uint256 public value;                                        // slot 0
    uint128 public packedA;                                      // slot 1, bytes 0..16
    uint64 public packedB;                                       // slot 1, bytes 16..24
    int32 public packedC;                                        // slot 1, bytes 24..28
    bool public packedD;                                         // slot 1, byte 28
    mapping(address => uint256) public balances;                 // slot 2
    mapping(address => mapping(uint256 => uint256)) public nested; // slot 3
    uint256[] public items;                                      // slot 4
    mapping(address => Position) public positions;               // slot 5
    uint32[] public small;                                       // slot 6
    Position public fixedPos;                                    // slots 7, 8

    constructor(address who) {
        value = 0x1234;
        packedA = 0xdeadbeef;
        packedB = 77;
        packedC = -5;
        packedD = true;
        balances[who] = 1000 ether;
        nested[who][7] = 42;
        items.push(11);
        items.push(22);
        items.push(33);
        positions[who] = Position(5 ether, 2 ether, 123456);
        for (uint32 i = 0; i < 10; i++) {
            small.push(i * 3 + 1);
        }
        fixedPos = Position(9, 8, 7);
    }

    function setBalance(address who, uint256 amount) external {
        balances[who] = amount;
    }
}
