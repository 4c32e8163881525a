#!/usr/bin/env bash
# Starts a local two-replica cluster without Docker: two release `fastvue-server`
# processes over one PostgreSQL database and one Redis, behind nginx (installed from
# Debian's packages when missing) configured from docker/nginx.conf.
#
#   scripts/cluster-up.sh            # build, migrate, start, print the URLs
#   scripts/cluster-down.sh          # stop everything this started
#
# Settings (environment, all optional):
#   CLUSTER_DIR           state: pid files, logs, rendered nginx.conf, cluster.env (default /tmp/fastvue-cluster)
#   CLUSTER_DATABASE_URL  PostgreSQL database, created when missing (default postgres://postgres@127.0.0.1:5432/fastvue_cluster)
#   CLUSTER_REDIS_URL     Redis (default redis://127.0.0.1:6379/)
#   CLUSTER_PORT          nginx port (default 8100); the replicas listen on CLUSTER_PORT+1 and +2
#   CLUSTER_SKIP_BUILD=1  use the binaries already built in the cargo target directory
#   CLUSTER_PROFILE       cargo profile of the binaries (default release; debug for quick local tries)
#   FASTVUE_ADMIN_EMAIL / FASTVUE_ADMIN_PASSWORD   first superuser (generated when unset)
# Every other fastvue variable set in the environment (RATE_LIMIT_LOGIN_PER_MINUTE, ...)
# reaches both replicas.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

STATE="${CLUSTER_DIR:-/tmp/fastvue-cluster}"
DATABASE_URL="${CLUSTER_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/fastvue_cluster}"
REDIS_URL="${CLUSTER_REDIS_URL:-redis://127.0.0.1:6379/}"
PORT="${CLUSTER_PORT:-8100}"
PORT_A=$((PORT + 1)) PORT_B=$((PORT + 2))
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
PROFILE="${CLUSTER_PROFILE:-release}"
BIN="$TARGET/$PROFILE"

die() { echo "cluster-up: $*" >&2; exit 1; }

if [ -f "$STATE/cluster.env" ] && ls "$STATE"/*.pid >/dev/null 2>&1; then
  die "a cluster is already running from $STATE; run scripts/cluster-down.sh first"
fi
mkdir -p "$STATE"
chmod 700 "$STATE"

for port in "$PORT" "$PORT_A" "$PORT_B"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "port $port is already in use (set CLUSTER_PORT)"
  fi
done

# --- prerequisites -----------------------------------------------------------------
pg_isready -q -d "$DATABASE_URL" 2>/dev/null || pg_isready -q -h 127.0.0.1 -p 5432 \
  || die "PostgreSQL is not reachable for $DATABASE_URL"
redis-cli -u "$REDIS_URL" ping >/dev/null 2>&1 || die "Redis is not reachable at $REDIS_URL"
if ! command -v nginx >/dev/null 2>&1; then
  echo "installing nginx (Debian package nginx-light)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q nginx-light >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null && apt-get install -y -q nginx-light >/dev/null; } \
    || die "cannot install nginx"
fi
NGINX="$(command -v nginx)"

# The database: created when missing (the server URL is the same URL on database postgres).
DB_NAME="${DATABASE_URL##*/}"; DB_NAME="${DB_NAME%%\?*}"
SERVER_URL="${DATABASE_URL%/*}/postgres"
if ! psql "$SERVER_URL" -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'" | grep -q 1; then
  psql "$SERVER_URL" -v ON_ERROR_STOP=1 -qc "CREATE DATABASE \"$DB_NAME\""
fi

# --- build -------------------------------------------------------------------------
if [ "${CLUSTER_SKIP_BUILD:-0}" != 1 ]; then
  echo "building $PROFILE binaries (fastvue-server, fastvue)"
  cargo build --profile "$([ "$PROFILE" = debug ] && echo dev || echo "$PROFILE")" --quiet -p fastvue-server -p fastvue-cli
fi
[ -x "$BIN/fastvue-server" ] && [ -x "$BIN/fastvue" ] || die "no $PROFILE binaries in $BIN"

# --- shared configuration ----------------------------------------------------------
# Both replicas must share the signing keys (a token from one is valid on the other);
# they are generated once per state directory and kept there (mode 600).
if [ ! -f "$STATE/secrets.env" ]; then
  umask 077
  {
    echo "SECRET_KEY=$(head -c 48 /dev/urandom | base64 | tr -d '\n/+=')"
    echo "JWT_SECRET_KEY=$(head -c 48 /dev/urandom | base64 | tr -d '\n/+=')"
    echo "FASTVUE_ADMIN_EMAIL=${FASTVUE_ADMIN_EMAIL:-admin@cluster.local}"
    echo "FASTVUE_ADMIN_PASSWORD=${FASTVUE_ADMIN_PASSWORD:-$(head -c 18 /dev/urandom | base64 | tr -d '\n/+=')}"
  } > "$STATE/secrets.env"
fi
set -a
# shellcheck disable=SC1091
. "$STATE/secrets.env"
ENVIRONMENT=production
DATABASE_URL="$DATABASE_URL"
REDIS_URL="$REDIS_URL"
REDIS_KEY_PREFIX="${REDIS_KEY_PREFIX:-fastvue-cluster:}"
HOST=127.0.0.1
TRUSTED_PROXIES=127.0.0.1,::1
FASTVUE_REPLICAS=2
LOG_LEVEL="${LOG_LEVEL:-info}"
set +a

# --- migrate once, then start the replicas -----------------------------------------
"$BIN/fastvue" migrate up > "$STATE/migrate.log" 2>&1 || { cat "$STATE/migrate.log" >&2; die "migration failed"; }

start_replica() { # name port
  PORT="$2" nohup "$BIN/fastvue-server" > "$STATE/replica-$1.log" 2>&1 &
  echo $! > "$STATE/replica-$1.pid"
}
wait_http() { # url what pidfile
  for _ in $(seq 1 100); do
    if curl -fs -o /dev/null "$1"; then return 0; fi
    if [ -n "${3:-}" ] && ! kill -0 "$(cat "$3")" 2>/dev/null; then
      die "$2 exited during start-up; see $STATE/replica-${2#replica }.log"
    fi
    sleep 0.2
  done
  die "$2 did not answer on $1"
}
start_replica a "$PORT_A"
start_replica b "$PORT_B"
wait_http "http://127.0.0.1:$PORT_A/health/live" "replica a" "$STATE/replica-a.pid"
wait_http "http://127.0.0.1:$PORT_B/health/live" "replica b" "$STATE/replica-b.pid"

# --- nginx from docker/nginx.conf --------------------------------------------------
sed -e "s|server backend-1:8000|server 127.0.0.1:$PORT_A|" \
    -e "s|server backend-2:8000|server 127.0.0.1:$PORT_B|" \
    -e "s|listen 8080;|listen 127.0.0.1:$PORT;|" \
    -e "/listen \[::\]:8080;/d" \
    -e "s|/var/log/nginx/access.log|$STATE/nginx-access.log|" \
    -e "s|/var/log/nginx/error.log|$STATE/nginx-error.log|" \
    docker/nginx.conf > "$STATE/nginx.conf"
grep -q "127.0.0.1:$PORT_A" "$STATE/nginx.conf" && grep -q "127.0.0.1:$PORT_B" "$STATE/nginx.conf" \
  || die "docker/nginx.conf no longer has the upstream lines this script rewrites"
NGINX_GLOBALS="pid $STATE/nginx.pid; error_log $STATE/nginx-error.log warn;"
"$NGINX" -q -t -c "$STATE/nginx.conf" -g "$NGINX_GLOBALS" || die "nginx rejected $STATE/nginx.conf"
"$NGINX" -c "$STATE/nginx.conf" -g "$NGINX_GLOBALS"
wait_http "http://127.0.0.1:$PORT/health/live" "nginx"

cat > "$STATE/cluster.env" <<ENV
CLUSTER_URL=http://127.0.0.1:$PORT
CLUSTER_REPLICA_A_URL=http://127.0.0.1:$PORT_A
CLUSTER_REPLICA_B_URL=http://127.0.0.1:$PORT_B
CLUSTER_REPLICA_A_PIDFILE=$STATE/replica-a.pid
CLUSTER_REPLICA_B_PIDFILE=$STATE/replica-b.pid
CLUSTER_ADMIN_EMAIL=$FASTVUE_ADMIN_EMAIL
CLUSTER_ADMIN_PASSWORD=$FASTVUE_ADMIN_PASSWORD
CLUSTER_DATABASE_URL=$DATABASE_URL
CLUSTER_REDIS_URL=$REDIS_URL
ENV
chmod 600 "$STATE/cluster.env"

cat <<MSG
fastvue cluster is up (state and logs in $STATE)
  through nginx   http://127.0.0.1:$PORT          (Swagger UI: /docs)
  replica a       http://127.0.0.1:$PORT_A   pid $(cat "$STATE/replica-a.pid")
  replica b       http://127.0.0.1:$PORT_B   pid $(cat "$STATE/replica-b.pid")
  database        $DATABASE_URL
  redis           $REDIS_URL (key prefix $REDIS_KEY_PREFIX)
  superuser       $FASTVUE_ADMIN_EMAIL (password in $STATE/secrets.env)
stop it with scripts/cluster-down.sh
MSG
