#!/usr/bin/env bash
# Builds the reference Vue admin app (examples/vue-admin), checks its typed client
# against the server's /openapi.json, serves it from fastvue-server under /admin/ on a
# fresh SQLite database (mailed links point at the app: PUBLIC_URL=$BASE/admin; mail is
# written to $WORK/outbox, where the tests read it), and runs the browser tests
# (playwright-core with the system's chromium, which is installed with apt-get when
# missing; never downloaded otherwise).
#
# The server binary: $FASTVUE_SERVER_BIN, else `cargo build -p fastvue-server`.
# Artifacts (screenshots, server log): ${ADMIN_UI_ARTIFACTS:-/tmp/fastvue-admin-ui}.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
APP="$ROOT/examples/vue-admin"
ARTIFACTS="${ADMIN_UI_ARTIFACTS:-/tmp/fastvue-admin-ui}"
SHOTS="$ARTIFACTS/screenshots"

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'admin-ui-test: %s\n' "$*" >&2; exit 1; }

command -v node >/dev/null || die "node is required"
command -v npm >/dev/null || die "npm is required"
command -v curl >/dev/null || die "curl is required"

# The browser: Debian's chromium (playwright-core never downloads one here).
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM" ]; then
  say "installing chromium with apt-get"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get install -y chromium >/dev/null || { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y chromium >/dev/null; } \
    || die "chromium is missing and apt-get could not install it"
  [ -x "$CHROMIUM" ] || die "chromium is not at $CHROMIUM after apt-get"
fi

# The server.
if [ -n "${FASTVUE_SERVER_BIN:-}" ]; then
  SERVER="$FASTVUE_SERVER_BIN"
else
  say "building fastvue-server"
  cargo build -q -p fastvue-server --bin fastvue-server
  SERVER="${CARGO_TARGET_DIR:-target}/debug/fastvue-server"
fi
[ -x "$SERVER" ] || die "no server binary at $SERVER"
SERVER=$(cd "$(dirname "$SERVER")" && pwd)/$(basename "$SERVER")

WORK=$(mktemp -d "${TMPDIR:-/tmp}/fastvue-admin-ui.XXXXXX")
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

cd "$APP"
say "npm ci"
npm ci --no-audit --no-fund --loglevel=error

PORT=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
BASE="http://127.0.0.1:$PORT"
export FASTVUE_ADMIN_EMAIL="ui-admin@example.com" FASTVUE_ADMIN_PASSWORD="ui-admin-password-123"

start_server() {
  say "starting $SERVER on port $PORT"
  mkdir -p "$ARTIFACTS"
  (cd "$WORK" && exec env HOST=127.0.0.1 PORT="$PORT" \
    DATABASE_URL="sqlite://$WORK/fastvue.db?mode=rwc" \
    ADMIN_UI_DIR="$APP/dist" LOG_LEVEL="${LOG_LEVEL:-warn}" \
    RATE_LIMIT_LOGIN_PER_IP_PER_MINUTE=1000 MAIL_OUTBOX_DIR="$WORK/outbox" \
    PUBLIC_URL="$BASE/admin" \
    "$SERVER") >"$ARTIFACTS/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 150); do
    curl -fs "$BASE/health/live" >/dev/null 2>&1 && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || { tail -20 "$ARTIFACTS/server.log" >&2; die "the server exited"; }
    sleep 0.2
  done
  die "the server did not answer /health/live (see $ARTIFACTS/server.log)"
}
# The build first: the server refuses an ADMIN_UI_DIR without index.html. It type-checks
# against the committed schema.d.ts, which the next step compares with the server's spec.
say "type check and build"
rm -rf "$APP/dist"
npm run --silent build
[ -f dist/index.html ] || die "the build wrote no dist/index.html"

start_server

say "typed client: src/api/schema.d.ts against $BASE/openapi.json"
npm run --silent gen:api:check -- "$BASE/openapi.json"

curl -fs "$BASE/admin/users" | grep -q '<div id="app">' || die "$BASE/admin/users does not fall back to index.html"

say "browser tests"
rm -rf "$SHOTS"
e2e=0
FASTVUE_BASE="$BASE" SCREENSHOTS="$SHOTS" CHROMIUM="$CHROMIUM" MAIL_OUTBOX_DIR="$WORK/outbox" \
  node e2e/run.mjs | tee "$WORK/e2e.log" || e2e=$?

gz=0
for f in dist/assets/*.js dist/assets/*.css; do
  [ -f "$f" ] && gz=$((gz + $(gzip -c "$f" | wc -c)))
done
echo "bundle (gzip, JS+CSS): $gz bytes ($((gz / 1024)) KiB)"
grep '^TTI' "$WORK/e2e.log" || true
echo "screenshots: $SHOTS"
[ "$e2e" -eq 0 ] || die "browser tests failed (exit $e2e)"
echo "admin-ui-test: passed"
