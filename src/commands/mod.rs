//! The subcommands, one module each.

pub mod chain;
pub mod envelope;
pub mod keys;
