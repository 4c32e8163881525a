#!/usr/bin/env bash
# Schema-driven API fuzzing (issue 8): schemathesis generates requests for every route of
# GET /openapi.json and checks every answer against the documented contract:
#   not_a_server_error           no 5xx, ever
#   status_code_conformance      only documented status codes
#   response_schema_conformance  bodies match their documented schemas
#   content_type_conformance     documented content types
#
# Starts the debug server on a fresh SQLite file on a free port with a known superuser,
# signs in, and fuzzes with its bearer token and X-Company-ID of the seeded company.
# Exits non-zero on any failure; the server is stopped on exit.
#
# Knobs (environment): FUZZ_MAX_EXAMPLES (per operation and phase, default 20),
# FUZZ_SEED (default 1; fixed so CI runs are reproducible), FUZZ_WORKERS (default 2),
# FUZZ_DIR (${TMPDIR:-/tmp}/fastvue-api-fuzz: database, server log, reports).
# schemathesis comes from PyPI into a virtualenv under ~/.cache/fastvue-api-fuzz
# (FUZZ_VENV), installed on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

MAX_EXAMPLES="${FUZZ_MAX_EXAMPLES:-20}"
SEED="${FUZZ_SEED:-1}"
WORKERS="${FUZZ_WORKERS:-2}"
PHASES="${FUZZ_PHASES:-examples,coverage,fuzzing,stateful}"
DIR="${FUZZ_DIR:-${TMPDIR:-/tmp}/fastvue-api-fuzz}"
VENV="${FUZZ_VENV:-$HOME/.cache/fastvue-api-fuzz/venv}"
SCHEMATHESIS_SPEC="schemathesis>=4,<5"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fastvue-target}"
ADMIN_EMAIL="fuzz-admin@example.com" ADMIN_PASSWORD="fuzz-admin-password-123"

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'api-fuzz: %s\n' "$*" >&2; exit 1; }

for tool in curl jq python3; do command -v "$tool" >/dev/null || die "$tool is required"; done

if [ ! -x "$VENV/bin/schemathesis" ]; then
  say "installing $SCHEMATHESIS_SPEC into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "$SCHEMATHESIS_SPEC"
fi
say "$("$VENV/bin/schemathesis" --version)"

say "building the server (debug)"
cargo build -q -p fastvue-server --bin fastvue-server

rm -rf "$DIR" && mkdir -p "$DIR" && DIR="$(cd "$DIR" && pwd)"
PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"

say "starting the server on port $PORT (SQLite $DIR/fuzz.db)"
# A clean environment: no .env file is read from the temp directory, no Redis, cheap
# argon2 (the fuzzer signs in often) and a login rate limit the fuzzer cannot reach.
(cd "$DIR" && exec env -i PATH="$PATH" HOME="$HOME" \
  DATABASE_URL="sqlite://$DIR/fuzz.db?mode=rwc" HOST=127.0.0.1 PORT="$PORT" LOG_LEVEL=warn \
  FASTVUE_ADMIN_EMAIL="$ADMIN_EMAIL" FASTVUE_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
  ARGON2_MEMORY_KIB=8 ARGON2_ITERATIONS=1 ARGON2_PARALLELISM=1 \
  RATE_LIMIT_LOGIN_PER_MINUTE=100000 \
  "$CARGO_TARGET_DIR/debug/fastvue-server") >"$DIR/server.log" 2>&1 &
SERVER_PID=$!
trap 'kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null || true' EXIT
for _ in $(seq 1 150); do
  curl -fs "$BASE/health" >/dev/null 2>&1 && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$DIR/server.log" >&2; die "the server exited"; }
  sleep 0.2
done
curl -fs "$BASE/health" >/dev/null || die "the server did not become healthy (see $DIR/server.log)"

TOKEN="$(curl -fs -X POST "$BASE/api/v1/auth/login" -H 'Content-Type: application/json' \
  -d "$(jq -cn --arg u "$ADMIN_EMAIL" --arg p "$ADMIN_PASSWORD" '{username: $u, password: $p}')" \
  | jq -er .access_token)" || die "superuser login failed"
COMPANY_ID="$(curl -fs "$BASE/api/v1/companies?page_size=1" -H "Authorization: Bearer $TOKEN" \
  | jq -er '.items[0].id')" || die "no seeded company"

# Rows for the {id} routes to find (most generated ids hit nothing): two companies (ids 2
# and 3, with their seeded roles), two users in them (ids 2 and 3; the superuser, id 1,
# is left out so the fuzzer cannot lock itself out) and groups. Generated path ids are
# drawn from these half of the time (a schemathesis dictionary), at random otherwise.
post() {
  local out
  out="$(curl -s -w '\n%{http_code}' -X POST "$BASE/api/v1/$1" -H "Authorization: Bearer $TOKEN" \
    -H "X-Company-ID: $COMPANY_ID" -H 'Content-Type: application/json' -d "$2")"
  [ "${out##*$'\n'}" = 201 ] || die "fixture POST /api/v1/$1 failed: $out"
}
ROLE_ID="$(curl -fs "$BASE/api/v1/roles?company_id=$COMPANY_ID&page_size=100" -H "Authorization: Bearer $TOKEN" \
  | jq -er '[.items[] | select(.codename == "viewer")][0].id')" || die "no seeded viewer role"
for n in 1 2; do
  post companies "{\"name\": \"Fuzz $n\", \"code\": \"FUZZ$n\"}"
  post users "{\"email\": \"fuzz$n@example.com\", \"username\": \"fuzz$n\", \"password\": \"fuzz-password-123\", \"company_id\": $COMPANY_ID, \"role_id\": $ROLE_ID}"
done
for n in 1 2 3; do
  post groups "{\"name\": \"Fuzz $n\", \"codename\": \"fuzz$n\", \"permissions\": [\"user.read\"]}"
done
cat >"$DIR/schemathesis.toml" <<'TOML'
[dictionaries.existing]
values = [2, 3]

[dictionaries.assignments]
values = [1, 2, 3]

[parameters]
"path.id" = { dictionary = "existing", probability = 0.5 }
"path.user_id" = { dictionary = "existing", probability = 0.5 }
"path.assignment_id" = { dictionary = "assignments", probability = 0.5 }
TOML

say "fuzzing every operation of $BASE/openapi.json (max $MAX_EXAMPLES examples, seed $SEED)"
set +e
# Run from $DIR: schemathesis keeps its cache (.schemathesis/) in the working directory.
cd "$DIR"
"$VENV/bin/schemathesis" --config-file "$DIR/schemathesis.toml" run "$BASE/openapi.json" \
  --url "$BASE" \
  --header "Authorization: Bearer $TOKEN" \
  --header "X-Company-ID: $COMPANY_ID" \
  --checks not_a_server_error,status_code_conformance,response_schema_conformance,content_type_conformance \
  --phases "$PHASES" \
  --max-examples "$MAX_EXAMPLES" \
  --seed "$SEED" \
  --workers "$WORKERS" \
  --request-timeout 30 \
  --suppress-health-check all \
  --report junit,ndjson \
  --report-dir "$DIR/report" \
  --output-truncate false 2>&1 | tee "$DIR/schemathesis.log"
STATUS=${PIPESTATUS[0]}
set -e

# schemathesis prints "Test cases: N generated, N passed, ..." in its summary.
say "$(grep -E '^ *[0-9]+ generated' "$DIR/schemathesis.log" | sed 's/^ *//' | head -n1) (max $MAX_EXAMPLES examples per operation and phase)"
say "reports: $DIR/report (JUnit XML, NDJSON events); server log: $DIR/server.log"
[ "$STATUS" -eq 0 ] || die "schemathesis found failures (exit $STATUS)"
if grep -q 'panicked' "$DIR/server.log"; then
  die "the server panicked (see $DIR/server.log)"
fi
say "ok: no server errors and no responses outside the documented contract"
