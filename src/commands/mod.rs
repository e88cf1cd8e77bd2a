//! The subcommands, one module each.

pub mod chain;
pub mod devnet;
pub mod envelope;
pub mod keys;
