// Empty: this crate exists only to pin and fetch risc0-ethereum-contracts (see Cargo.toml).
