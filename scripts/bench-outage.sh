#!/usr/bin/env bash
# Outage benchmark (issue 26): two release replicas (A, B) on one scratch PostgreSQL
# database and a private redis-server. Prints, for B:
#   - the time from a revoke sent to A until B's first answer without the permission
#     (p50/p99/max over BENCH_REVOKES revokes), with Redis up and with Redis killed;
#   - requests/s and p99 of GET /api/v1/auth/me/permissions (wrk, 64 connections) before,
#     during and after the outage, on A and B during it;
#   - how long after Redis restarts B reports healthy again;
#   - the same load on a replica C whose invalidation feed can never go live
#     (DATABASE_LISTEN_URL pointing at a closed port): the database read-through cost.
#
# Needs PostgreSQL at PG_URL (default postgres://postgres@127.0.0.1:5432, trust auth;
# a database is created and dropped) and redis-server, wrk, curl, jq.
# Knobs: BENCH_DURATION (10s), BENCH_REVOKES (50), BENCH_PROFILE (release | dev),
# BENCH_DIR (${TMPDIR:-/tmp}/fastvue-bench-outage), BENCH_PORT (18090: A, +1 B, +2 C,
# +3 Redis).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${BENCH_DURATION:-10s}"
REVOKES="${BENCH_REVOKES:-50}"
PROFILE="${BENCH_PROFILE:-release}"
DIR="${BENCH_DIR:-${TMPDIR:-/tmp}/fastvue-bench-outage}"
PORT="${BENCH_PORT:-18090}"
PG_URL="${PG_URL:-postgres://postgres@127.0.0.1:5432}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fastvue-target}"
A="http://127.0.0.1:$PORT" B="http://127.0.0.1:$((PORT + 1))" C="http://127.0.0.1:$((PORT + 2))"
REDIS_PORT=$((PORT + 3))
DB="fastvue_bench_outage_$(date +%s)_$$"

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench-outage: %s\n' "$*" >&2; exit 1; }
for tool in redis-server wrk curl jq psql; do command -v "$tool" >/dev/null || die "$tool is required"; done

mkdir -p "$DIR"
case "$PROFILE" in
  release) cargo_profile=(--release); bin_dir="$CARGO_TARGET_DIR/release" ;;
  dev) cargo_profile=(); bin_dir="$CARGO_TARGET_DIR/debug" ;;
  *) die "BENCH_PROFILE must be release or dev" ;;
esac
say "building ($PROFILE)"
cargo build -q "${cargo_profile[@]}" -p fastvue-server --bin fastvue-server --example outage_probe

PIDS=()
REDIS_PID=""
cleanup() {
  for pid in "${PIDS[@]}" $REDIS_PID; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

psql "$PG_URL/postgres" -v ON_ERROR_STOP=1 -qc "CREATE DATABASE $DB"
export DATABASE_URL="$PG_URL/$DB"
export REDIS_URL="redis://127.0.0.1:$REDIS_PORT/"
export FASTVUE_ADMIN_EMAIL="outage-admin@bench.local" FASTVUE_ADMIN_PASSWORD="outage-admin-password-123"
export LOG_LEVEL="${LOG_LEVEL:-warn}" RATE_LIMIT_LOGIN_PER_MINUTE=100000 RATE_LIMIT_LOGIN_PER_IP_PER_MINUTE=100000

start_redis() {
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
    >"$DIR/redis.log" 2>&1 &
  REDIS_PID=$!
  for _ in $(seq 1 100); do
    [ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = "PONG" ] && return
    sleep 0.05
  done
  die "redis-server did not start"
}
start_replica() { # name port [VAR=value...]
  local name="$1" port="$2"; shift 2
  env HOST=127.0.0.1 PORT="$port" "$@" "$bin_dir/fastvue-server" >"$DIR/$name.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 150); do
    curl -fs "http://127.0.0.1:$port/health/live" >/dev/null 2>&1 && return
    sleep 0.2
  done
  cat "$DIR/$name.log" >&2
  die "replica $name did not start"
}

start_redis
say "starting replicas A and B"
start_replica A "$PORT"
start_replica B "$((PORT + 1))"
export PROBE_A="$A" PROBE_B="$B"
eval "$("$bin_dir/examples/outage_probe" setup)"
export ROLE_ID USER_TOKEN


ROWS=()
load() { # label base
  local out line
  curl -fs -o /dev/null -H "Authorization: Bearer $USER_TOKEN" "$2/api/v1/auth/me/permissions" \
    || die "$1: warm-up request failed"
  out="$(BENCH_TOKEN="$USER_TOKEN" wrk -t2 -c64 -d"$DURATION" --latency -s scripts/wrk-request.lua \
    "$2/api/v1/auth/me/permissions")"
  line="$(grep '^RESULT ' <<<"$out")" || die "$1: no result from wrk: $out"
  read -r _ rps p50 p99 total failed <<<"$line"
  [ "$failed" -eq 0 ] || say "$1: $failed of $total requests failed or were not 2xx"
  ROWS+=("$(printf '%-44s %9s %9s %9s %7s' "$1" "$rps" "$p50" "$p99" "$failed")")
}
REVOKE_ROWS=()
revokes() { # label
  local line
  say "$1: $REVOKES revokes"
  line="$("$bin_dir/examples/outage_probe" revokes "$REVOKES" | grep '^RESULT ')" \
    || die "$1: the probe failed"
  read -r _ p50 p99 max put <<<"$line"
  REVOKE_ROWS+=("$(printf '%-44s %9s %9s %9s %9s' "$1" "$p50" "$p99" "$max" "$put")")
}
health_of() { curl -s "$1/health" | jq -r .status; }

say "before the outage"
load "B, Redis up" "$B"
revokes "Redis up"

say "killing Redis (SIGKILL)"
kill -9 "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null || true; REDIS_PID=""
for _ in $(seq 1 100); do [ "$(health_of "$B")" = degraded ] && break; sleep 0.1; done
[ "$(health_of "$B")" = degraded ] || die "B never reported degraded"
load "A, Redis killed" "$A"
load "B, Redis killed" "$B"
revokes "Redis killed"

say "restarting Redis"
restart_ns=$(date +%s%N)
start_redis
until [ "$(health_of "$B")" = healthy ]; do
  [ $(( ($(date +%s%N) - restart_ns) / 1000000 )) -lt 60000 ] || die "B never healthy again"
  sleep 0.01
done
HEALTHY_MS=$(( ($(date +%s%N) - restart_ns) / 1000000 ))
load "B, Redis back" "$B"
revokes "Redis back"

say "replica C with a feed that never goes live (database read-through)"
start_replica C "$((PORT + 2))" DATABASE_LISTEN_URL="postgres://postgres@127.0.0.1:1/$DB"
load "C, feed silent (reads through)" "$C"
[ "$(curl -s "$C/health" | jq -r .invalidation_feed)" = silent ] || die "C's feed was not silent"

printf '\nfastvue-server %s, PostgreSQL + private Redis, two replicas, %s per load, %s revokes, MAX_STALENESS_MS=%s\n' \
  "$PROFILE" "$DURATION" "$REVOKES" "${MAX_STALENESS_MS:-1000}"
printf '\n%-44s %9s %9s %9s %7s\n' "GET /api/v1/auth/me/permissions, 64 conns" "req/s" "p50 ms" "p99 ms" "errors"
printf '%s\n' "${ROWS[@]}"
printf '\n%-44s %9s %9s %9s %9s\n' "revoke through A -> first refusal on B" "p50 ms" "p99 ms" "max ms" "A's PUT"
printf '%s\n' "${REVOKE_ROWS[@]}"
printf '\nB healthy again %s ms after redis-server restarted\n' "$HEALTHY_MS"
