//! The business workload.
