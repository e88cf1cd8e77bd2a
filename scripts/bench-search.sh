#!/usr/bin/env bash
# `lookthrough-bench search` against a throwaway PostgreSQL: starts a fresh
# PostgreSQL server (15 if installed, else the newest) in a temporary
# directory, on 127.0.0.1 and a free port, with pg_trgm available; runs
#   cargo run --release -p lookthrough-bench -- search --postgres "..." "$@"
# and stops and removes the server on exit. As root, the server runs as the
# `postgres` user (created if missing); otherwise as the current user.
#
#   scripts/bench-search.sh --txs 20000 --queries 20
#   scripts/bench-search.sh --txs 1M,10M --queries 200
#
# Environment: BENCH_PG_SHARED_BUFFERS (default 2GB), BENCH_PG_MAINTENANCE_WORK_MEM
# (default 1GB), BENCH_PG_WORK_MEM (default 64MB), BENCH_PG_KEEP_LOG=1 to print
# the server log on exit, TMPDIR for where the server's files go.
set -euo pipefail
cd "$(dirname "$0")/.."

find_bin() {
  local d
  for d in /usr/lib/postgresql/15/bin $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [[ -x "$d/initdb" && -x "$d/pg_ctl" && -x "$d/postgres" ]]; then
      echo "$d"
      return 0
    fi
  done
  return 1
}

pg_bin=$(find_bin || true)
has_trgm() {
  # Debian's layout: /usr/lib/postgresql/N/bin and /usr/share/postgresql/N/extension.
  [[ -n "$pg_bin" ]] && [[ -f "/usr/share/postgresql/$(basename "$(dirname "$pg_bin")")/extension/pg_trgm.control" ||
    -f "$pg_bin/../share/extension/pg_trgm.control" || -f "$pg_bin/../share/postgresql/extension/pg_trgm.control" ]]
}
if ! has_trgm; then
  if [[ $(id -u) -ne 0 ]]; then
    echo "PostgreSQL with pg_trgm is not installed; install postgresql and postgresql-contrib" >&2
    exit 1
  fi
  echo "== installing PostgreSQL" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql postgresql-contrib >/dev/null
  pg_bin=$(find_bin)
fi

# Build first, so the server does not sit idle through a long compile.
cargo build --release --locked --quiet -p lookthrough-bench
bin="$(realpath "${CARGO_TARGET_DIR:-target}")/release/lookthrough-bench"

work=$(mktemp -d "${TMPDIR:-/tmp}/lookthrough-pg.XXXXXX")
run_as=()
if [[ $(id -u) -eq 0 ]]; then
  if ! id postgres >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin postgres
  fi
  chown postgres: "$work"
  chmod 700 "$work"
  run_as=(runuser -u postgres --)
fi

started=0
cleanup() {
  if [[ $started -eq 1 ]]; then
    "${run_as[@]}" "$pg_bin/pg_ctl" -D "$work/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  if [[ "${BENCH_PG_KEEP_LOG:-0}" == 1 && -f "$work/log" ]]; then
    echo "== PostgreSQL log" >&2
    cat "$work/log" >&2
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A free port on 127.0.0.1.
port=""
for p in $(seq 54320 54420); do
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    port=$p
    break
  fi
done
if [[ -z "$port" ]]; then
  echo "no free port in 54320-54420" >&2
  exit 1
fi

echo "== PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') in $work on 127.0.0.1:$port" >&2
"${run_as[@]}" "$pg_bin/initdb" -D "$work/data" -U bench --auth=trust --encoding=UTF8 \
  --locale=C.UTF-8 >/dev/null
# A benchmark server: memory for index builds and queries, no replication,
# so the COPY into a table created in the same transaction skips the WAL; no
# JIT (it is meant for long analytical queries and adds latency here).
cat >>"$work/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$work'
shared_buffers = ${BENCH_PG_SHARED_BUFFERS:-2GB}
work_mem = ${BENCH_PG_WORK_MEM:-64MB}
maintenance_work_mem = ${BENCH_PG_MAINTENANCE_WORK_MEM:-1GB}
effective_cache_size = 8GB
random_page_cost = 1.1
wal_level = minimal
max_wal_senders = 0
max_wal_size = 16GB
checkpoint_timeout = 30min
synchronous_commit = off
jit = off
timezone = 'UTC'
EOF
"${run_as[@]}" "$pg_bin/pg_ctl" -D "$work/data" -l "$work/log" -w start >/dev/null
started=1

conn="host=127.0.0.1 port=$port user=bench dbname=postgres"
echo "== $bin search --postgres \"$conn\" $*" >&2
"$bin" search --postgres "$conn" "$@"
