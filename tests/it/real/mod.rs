//! Real daemons for the tests: ipfs-cluster peers (`REAL_PEERS_BIN`, built by
//! `scripts/real-peers`) and a Lotus devnet (`REAL_LOTUS_BIN`, built by `scripts/real-lotus`).

pub mod lotus;
pub mod process;
pub mod stack;
