//! Real ipfs-cluster peers for the tests (`REAL_PEERS_BIN`, built by `scripts/real-peers`).

pub mod process;
pub mod stack;
