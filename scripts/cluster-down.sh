#!/usr/bin/env bash
# Stops what scripts/cluster-up.sh started (by the PIDs it recorded): nginx, then both
# replicas (SIGTERM, so they drain; SIGKILL after 15 s). Keeps the logs and the database;
# pass --purge to also delete the state directory and drop the cluster database.
set -euo pipefail
STATE="${CLUSTER_DIR:-/tmp/fastvue-cluster}"
[ -d "$STATE" ] || { echo "cluster-down: nothing to stop ($STATE does not exist)"; exit 0; }

stop_pid() { # pidfile name
  [ -f "$1" ] || return 0
  local pid; pid="$(cat "$1")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "$2 (pid $pid) did not stop in 15 s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    echo "stopped $2 (pid $pid)"
  else
    echo "$2 (pid $pid) was not running"
  fi
  rm -f "$1"
}
# nginx first (SIGQUIT = graceful), so no request reaches a stopping replica.
if [ -f "$STATE/nginx.pid" ]; then
  pid="$(cat "$STATE/nginx.pid")"
  kill -QUIT "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  echo "stopped nginx (pid $pid)"
  rm -f "$STATE/nginx.pid"
fi
stop_pid "$STATE/replica-a.pid" "replica a"
stop_pid "$STATE/replica-b.pid" "replica b"

if [ "${1:-}" = "--purge" ]; then
  if [ -f "$STATE/cluster.env" ]; then
    db_url="$(sed -n 's/^CLUSTER_DATABASE_URL=//p' "$STATE/cluster.env")"
    db_name="${db_url##*/}"; db_name="${db_name%%\?*}"
    psql "${db_url%/*}/postgres" -qc "DROP DATABASE IF EXISTS \"$db_name\" WITH (FORCE)" \
      && echo "dropped database $db_name"
  fi
  rm -rf "$STATE"
  echo "removed $STATE"
else
  rm -f "$STATE/cluster.env"
fi
