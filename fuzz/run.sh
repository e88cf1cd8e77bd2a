#!/usr/bin/env bash
# Runs one fuzz target (or all of them, one after another) for a while.
#
#   fuzz/run.sh envelope_open 600     # ten minutes of envelope_open
#   fuzz/run.sh all 300               # five minutes of each target
#
# The corpus grows in fuzz/corpus/<target> (not committed), starting from the
# committed seeds in fuzz/seeds/<target>; crashes land in
# fuzz/artifacts/<target>. RUSTC_BOOTSTRAP=1 lets cargo-fuzz's nightly-only
# flags through on a stable toolchain; it is harmless on nightly.
set -euo pipefail
cd "$(dirname "$0")"
target=${1:?usage: run.sh TARGET|all [SECONDS] [extra libFuzzer flags...]}
secs=${2:-300}
shift $(( $# >= 2 ? 2 : 1 ))
targets=("$target")
if [[ $target == all ]]; then
    targets=(envelope_open envelope_mutate sm2_cipher_parse key_pem chain_json index_payload abi_decode mapping sm2_decrypt_fast sm2_verify_fast stream_message evidence_pack)
fi
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    RUSTC_BOOTSTRAP=1 cargo fuzz run "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$secs" -timeout=30 -print_final_stats=1 "$@"
done
