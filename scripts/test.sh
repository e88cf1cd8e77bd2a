#!/usr/bin/env bash
# The project's test command: formatting, lints, and every test of the workspace.
# Each stage prints its wall time. Lints and tests share one build of the C/C++
# dependencies (RocksDB, aws-lc, zstd, lz4): see the profiles in Cargo.toml.
set -euo pipefail
cd "$(dirname "$0")/.."

stage() {
  local name=$1
  shift
  local start=$SECONDS
  echo "==> $name: $*" >&2
  "$@"
  echo "==> $name: done in $((SECONDS - start)) s" >&2
}

stage fmt cargo fmt --all -- --check
stage clippy cargo clippy --workspace --all-targets --locked -- -D warnings
stage test cargo test --workspace --locked
