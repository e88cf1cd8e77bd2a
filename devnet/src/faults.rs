//! Ways a devnet server can lie, for tests of the observer's verification.
