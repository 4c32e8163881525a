#!/usr/bin/env bash
# Live-permission-stream benchmark of fastvue-server (issue 9): seeds BENCH_STREAMS users
# (default 2000) in two companies (each holding its company's `manager` role), starts the
# release server, opens one permission stream per user, changes the first company's
# `manager` role through the HTTP API BENCH_ROUNDS times, one change after the other
# (each affecting half of the streams), and reports per change the time until the affected
# streams received their new set (p50, p99, max, measured from sending the PUT), the
# server's RSS per open stream (average over all streams, and the marginal cost: growth
# while the second half opened), and the events the unaffected streams received (must be
# 0). The client is fastvue-server/examples/bench_sse.rs.
#
# Backend: PostgreSQL (+ Redis) when DATABASE_URL (and REDIS_URL) are set -- point
# DATABASE_URL at a scratch database -- else a SQLite file in BENCH_DIR, kept between
# runs (seeding is skipped when present).
#
# Knobs (environment): BENCH_STREAMS (2000), BENCH_ROUNDS (5), BENCH_PORT (18081), BENCH_DIR
# (${TMPDIR:-/tmp}/fastvue-bench-sse), BENCH_PROFILE (release; `dev` for a quick check of
# the script). Client and server share the machine: on a small machine the numbers are a
# floor.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT="${BENCH_PORT:-18081}"
DIR="${BENCH_DIR:-${TMPDIR:-/tmp}/fastvue-bench-sse}"
PROFILE="${BENCH_PROFILE:-release}"
STREAMS="${BENCH_STREAMS:-2000}"
export BENCH_USERS="$STREAMS" BENCH_COMPANIES=2 BENCH_STREAMS="$STREAMS"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fastvue-target}"
export FASTVUE_ADMIN_EMAIL="bench-admin@bench.local" FASTVUE_ADMIN_PASSWORD="bench-admin-password-123"
# Both processes sign with the same key (the client mints the users' access tokens).
export JWT_SECRET_KEY="${JWT_SECRET_KEY:-bench-sse-jwt-secret-key-0123456789abcdef}"
export BENCH_BASE="http://127.0.0.1:$PORT"

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench-sse: %s\n' "$*" >&2; exit 1; }

# One socket per stream on each side, plus the database pool.
need=$((STREAMS + 512))
[ "$(ulimit -n)" -ge "$need" ] || ulimit -n "$need" 2>/dev/null \
  || die "open-file limit $(ulimit -n) is below $need; raise it (ulimit -n)"
command -v curl >/dev/null || die "curl is required"

mkdir -p "$DIR"
if [ -z "${DATABASE_URL:-}" ]; then
  export DATABASE_URL="sqlite://$DIR/bench.sqlite?mode=rwc"
  unset REDIS_URL
  BACKEND="SQLite, in-process cache"
else
  BACKEND="PostgreSQL${REDIS_URL:+ + Redis}"
fi

case "$PROFILE" in
  release) cargo_profile=(--release); bin_dir="$CARGO_TARGET_DIR/release" ;;
  dev) cargo_profile=(); bin_dir="$CARGO_TARGET_DIR/debug" ;;
  *) die "BENCH_PROFILE must be release or dev" ;;
esac
say "building ($PROFILE)"
cargo build -q "${cargo_profile[@]}" -p fastvue-server --bin fastvue-server \
  --example seed_bench --example bench_sse

say "seeding $STREAMS users in 2 companies ($BACKEND)"
"$bin_dir/examples/seed_bench"

say "starting the server on port $PORT"
HOST=127.0.0.1 PORT="$PORT" LOG_LEVEL="${LOG_LEVEL:-warn}" "$bin_dir/fastvue-server" \
  >"$DIR/server.log" 2>&1 &
SERVER_PID=$!
trap 'kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -fs "$BENCH_BASE/health" >/dev/null 2>&1 && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$DIR/server.log" >&2; die "the server exited"; }
  sleep 0.2
done
curl -fs "$BENCH_BASE/health" >/dev/null || die "the server did not become healthy (see $DIR/server.log)"

say "opening $STREAMS streams, then changing one role"
printf '\nfastvue-server %s, %s, %s streams (%s affected by the change)\n' \
  "$PROFILE" "$BACKEND" "$STREAMS" "$((STREAMS / 2))"
BENCH_SERVER_PID="$SERVER_PID" "$bin_dir/examples/bench_sse"
