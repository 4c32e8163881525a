#!/usr/bin/env bash
# A real SMTP server on localhost for the mail tests: Python's aiosmtpd (from PyPI, in a
# venv under ~/.cache), storing every message it receives in a Maildir.
#
#   scripts/smtp-sink.sh start   # prints the variables the tests read
#   scripts/smtp-sink.sh stop
#
# Variables: SMTP_SINK_PORT (default 2525), SMTP_SINK_DIR (default /tmp/fastvue-smtp-sink).
# The tests use FASTVUE_TEST_SMTP=127.0.0.1:$SMTP_SINK_PORT and
# FASTVUE_TEST_SMTP_MAILDIR=$SMTP_SINK_DIR/maildir.
set -euo pipefail
PORT="${SMTP_SINK_PORT:-2525}"
DIR="${SMTP_SINK_DIR:-/tmp/fastvue-smtp-sink}"
VENV="${SMTP_SINK_VENV:-$HOME/.cache/fastvue-smtp-venv}"
PIDFILE="$DIR/aiosmtpd.pid"

up() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

case "${1:-}" in
  start)
    mkdir -p "$DIR/maildir/tmp" "$DIR/maildir/new" "$DIR/maildir/cur"
    if [ ! -x "$VENV/bin/aiosmtpd" ]; then
      python3 -m venv "$VENV"
      "$VENV/bin/pip" install -q --disable-pip-version-check aiosmtpd==1.4.6
    fi
    if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
      echo "aiosmtpd already runs (pid $(cat "$PIDFILE"))" >&2
    else
      if up; then
        echo "FAIL: 127.0.0.1:$PORT is taken by another process (set SMTP_SINK_PORT)" >&2
        exit 1
      fi
      nohup "$VENV/bin/aiosmtpd" -n -l "127.0.0.1:$PORT" \
        -c aiosmtpd.handlers.Mailbox "$DIR/maildir" >"$DIR/aiosmtpd.log" 2>&1 &
      echo $! >"$PIDFILE"
    fi
    for _ in $(seq 1 50); do up && break; sleep 0.2; done
    up || { echo "FAIL: aiosmtpd does not listen on 127.0.0.1:$PORT" >&2; cat "$DIR/aiosmtpd.log" >&2; exit 1; }
    echo "FASTVUE_TEST_SMTP=127.0.0.1:$PORT"
    echo "FASTVUE_TEST_SMTP_MAILDIR=$DIR/maildir"
    ;;
  stop)
    if [ -f "$PIDFILE" ]; then kill "$(cat "$PIDFILE")" 2>/dev/null || true; rm -f "$PIDFILE"; fi
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
