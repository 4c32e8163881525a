#!/usr/bin/env bash
# HTTP benchmark of fastvue-server (issues 4 and 24): seeds 100k users in 100 companies,
# starts the release server with the access log on and runs, in one invocation, wrk loads
# printing requests/s, p50 and p99 of each:
#   h) GET  /health/live                          no authentication, 64 connections
#   a) GET  /api/v1/auth/me/permissions           warm cache, 64 connections (a bench user)
#   c) POST /api/v1/permissions/check             10 codenames, 64 connections (a bench user)
#   b) GET  /api/v1/users?page=500&page_size=20   as superuser, 8 connections
#   d) GET  /api/v1/users?cursor=..&page_size=20  the same rows by cursor, 8 connections
# and the ratio a/h of the same run (the machines are noisy; the ratio is what compares).
#
# Backend: PostgreSQL (+ Redis) when DATABASE_URL (and REDIS_URL) are set -- point
# DATABASE_URL at a scratch database, the script adds the bench data to it -- else a
# SQLite file in BENCH_DIR, kept between runs (seeding is skipped when present).
#
# Knobs (environment): BENCH_DURATION (30s), BENCH_THREADS (2), BENCH_PORT (18080),
# BENCH_DIR (${TMPDIR:-/tmp}/fastvue-bench), BENCH_PROFILE (release; `dev` for a quick
# check of the script), BENCH_USERS (100000), BENCH_COMPANIES (100), LOG_LEVEL (info:
# one access log line per request, written to BENCH_DIR/server.log), BENCH_SERVER_BIN (a
# fastvue-server binary to run instead of the one built here, e.g. a previous commit's
# for an A/B comparison on one machine).
# wrk is installed from Debian (apt-get) when missing. The load generator shares the
# machine with the server: on a small machine the numbers are a floor.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${BENCH_DURATION:-30s}"
THREADS="${BENCH_THREADS:-2}"
PORT="${BENCH_PORT:-18080}"
DIR="${BENCH_DIR:-${TMPDIR:-/tmp}/fastvue-bench}"
PROFILE="${BENCH_PROFILE:-release}"
export BENCH_USERS="${BENCH_USERS:-100000}" BENCH_COMPANIES="${BENCH_COMPANIES:-100}"
export BENCH_PASSWORD="bench-password-123"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fastvue-target}"
BASE="http://127.0.0.1:$PORT"
ADMIN_EMAIL="bench-admin@bench.local" ADMIN_PASSWORD="bench-admin-password-123"

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench-http: %s\n' "$*" >&2; exit 1; }

mkdir -p "$DIR"
if ! command -v wrk >/dev/null; then
  command -v apt-get >/dev/null || die "wrk is missing and apt-get is not available; install wrk"
  say "installing wrk"
  apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
fi
for tool in curl jq; do command -v "$tool" >/dev/null || die "$tool is required"; done

if [ -z "${DATABASE_URL:-}" ]; then
  export DATABASE_URL="sqlite://$DIR/bench.sqlite?mode=rwc"
  unset REDIS_URL
  BACKEND="SQLite, in-process cache"
else
  BACKEND="PostgreSQL${REDIS_URL:+ + Redis}"
fi
export FASTVUE_ADMIN_EMAIL="$ADMIN_EMAIL" FASTVUE_ADMIN_PASSWORD="$ADMIN_PASSWORD"

case "$PROFILE" in
  release) cargo_profile=(--release); bin_dir="$CARGO_TARGET_DIR/release" ;;
  dev) cargo_profile=(); bin_dir="$CARGO_TARGET_DIR/debug" ;;
  *) die "BENCH_PROFILE must be release or dev" ;;
esac
say "building ($PROFILE)"
cargo build -q "${cargo_profile[@]}" -p fastvue-server --bin fastvue-server --example seed_bench

say "seeding $BENCH_USERS users in $BENCH_COMPANIES companies ($BACKEND)"
"$bin_dir/examples/seed_bench"

say "starting the server on port $PORT"
SERVER_BIN="${BENCH_SERVER_BIN:-$bin_dir/fastvue-server}"
HOST=127.0.0.1 PORT="$PORT" LOG_LEVEL="${LOG_LEVEL:-info}" "$SERVER_BIN" \
  >"$DIR/server.log" 2>&1 &
SERVER_PID=$!
trap 'kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -fs "$BASE/health" >/dev/null 2>&1 && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$DIR/server.log" >&2; die "the server exited"; }
  sleep 0.2
done
curl -fs "$BASE/health" >/dev/null || die "the server did not become healthy (see $DIR/server.log)"

login() {
  curl -fs -X POST "$BASE/api/v1/auth/login" -H 'Content-Type: application/json' \
    -d "$(jq -cn --arg u "$1" --arg p "$2" '{username: $u, password: $p}')" | jq -er .access_token
}
USER_TOKEN="$(login loaduser1 "$BENCH_PASSWORD")" || die "bench user login failed"
ADMIN_TOKEN="$(login "$ADMIN_EMAIL" "$ADMIN_PASSWORD")" || die "superuser login failed"
CHECK_BODY='{"permissions":["user.read","user.create","user.update","company.read","role.read","role.assign","permission.read","group.read","audit.read","cache.manage"],"mode":"all"}'

# Each load runs scripts/wrk-request.lua: method, body and token from the environment.

RESULTS=()
run() { # name method path token connections [body]
  local name="$1" method="$2" path="$3" token="$4" conns="$5" body="${6:-}"
  local warm=()
  [ -n "$token" ] && warm+=(-H "Authorization: Bearer $token")
  [ -n "$body" ] && warm+=(-H 'Content-Type: application/json' -d "$body")
  curl -fs -o /dev/null -X "$method" "${warm[@]}" "$BASE$path" || die "$name: warm-up request failed"
  say "$name: $method $path, $conns connections, $DURATION"
  local out
  out="$(BENCH_METHOD="$method" BENCH_TOKEN="$token" BENCH_BODY="$body" \
    wrk -t"$THREADS" -c"$conns" -d"$DURATION" --latency -s scripts/wrk-request.lua "$BASE$path")"
  local line; line="$(grep '^RESULT ' <<<"$out")" || die "$name: no result from wrk: $out"
  read -r _ rps p50 p99 total failed <<<"$line"
  [ "$failed" -eq 0 ] || say "$name: $failed of $total requests failed or were not 2xx"
  RESULTS+=("$(printf '%-34s %6s %10s %9s %9s' "$name" "$conns" "$rps" "$p50" "$p99")")
}

rps_of() { # the req/s of the scenario whose name starts with $1
  local row
  for row in "${RESULTS[@]}"; do
    [[ "$row" == "$1"* ]] && awk '{print $(NF-2)}' <<<"$row"
  done
  return 0
}

run "h) health/live (no auth)" GET /health/live "" 64
run "a) me/permissions (warm cache)" GET /api/v1/auth/me/permissions "$USER_TOKEN" 64
run "c) permissions/check x10" POST /api/v1/permissions/check "$USER_TOKEN" 64 "$CHECK_BODY"
run "b) users page 500 (superuser)" GET "/api/v1/users?page=500&page_size=20" "$ADMIN_TOKEN" 8
# The cursor that reaches the same rows: the last id of page 499.
CURSOR="$(curl -fs -H "Authorization: Bearer $ADMIN_TOKEN" \
  "$BASE/api/v1/users?page=499&page_size=20" | jq -er '.items[-1].id')" || die "no page 499"
run "d) users by cursor, same rows" GET "/api/v1/users?cursor=$CURSOR&page_size=20" "$ADMIN_TOKEN" 8

printf '\n%s (%s), %s, %s users, %s per run, %s wrk threads\n' \
  "$SERVER_BIN" "$PROFILE" "$BACKEND" "$BENCH_USERS" "$DURATION" "$THREADS"
printf '%-34s %6s %10s %9s %9s\n' "scenario" "conns" "req/s" "p50 ms" "p99 ms"
printf '%s\n' "${RESULTS[@]}"
printf 'a/h: me/permissions at %.2f x health/live\n' \
  "$(awk -v a="$(rps_of 'a) me/permissions')" -v h="$(rps_of 'h) health/live')" 'BEGIN { print a / h }')"
