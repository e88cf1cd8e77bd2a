//! The JSON-RPC server.
