//! The subcommands, one module each.

pub mod abi;
pub mod admin;
pub mod chain;
pub mod demo;
pub mod devnet;
pub mod envelope;
pub mod evidence;
pub mod keys;
pub mod rules;
pub mod run;
pub mod search;
