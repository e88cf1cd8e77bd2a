#!/usr/bin/env bash
# The envelope round trip: a regulator and a counterparty key, a payload sealed
# for both and bound to a transaction, opened by the regulator, and refused in
# another transaction. Runs in a temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet
bin="$(realpath "${CARGO_TARGET_DIR:-target}")/release/lookthrough"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
ctx=chain0/group0/0x5b38da6a701c568545dcfcb03fcb875f56beddc4
echo "== keys"
"$bin" keygen --out regulator.pem --public-out regulator.pub
"$bin" keygen --out counterparty.pem --public-out counterparty.pub
printf '{"scenario":"跨境汇款","amount":"1250000.00","currency":"CNY","memo":"货款 invoice 2026-117"}\n' > payload.json
echo "== seal for the counterparty and the regulator, bound to $ctx"
"$bin" envelope seal --to counterparty.pub --to regulator.pub --context "$ctx" --in payload.json --out envelope.der
echo "== open as the regulator"
"$bin" envelope open --key regulator.pem --context "$ctx" --in envelope.der --out opened.json
cat opened.json
echo "== the same envelope lifted into another transaction is refused"
if "$bin" envelope open --key regulator.pem --context chain0/group1/0x5b38da6a701c568545dcfcb03fcb875f56beddc4 \
    --in envelope.der --out /dev/null; then
  echo "unexpected: opened in the wrong context" >&2
  exit 1
fi
echo "== done"
