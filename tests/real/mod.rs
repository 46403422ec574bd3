//! Real ipfs-cluster peers for the tests (`REAL_PEERS_BIN`, built by `scripts/real-peers`).
#![allow(dead_code)]

pub mod process;
pub mod stack;
