#!/usr/bin/env bash
# Start or stop a local Ray head on loopback with the dashboard (job server), for the
# `ray job submit` integration test (tests/test_ray_job.py).
#   .ci/ray_head.sh start   -> prints `export AUTOEMBED_RAY_DASHBOARD=http://127.0.0.1:<port>`
#   .ci/ray_head.sh stop    -> stops that head (only the processes this script started)
# State (pid, address, logs) lives in $AUTOEMBED_RAY_HEAD_STATE (default /tmp/autoembed-ray-head).
set -euo pipefail
STATE="${AUTOEMBED_RAY_HEAD_STATE:-/tmp/autoembed-ray-head}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
if [ -x "$ROOT/.venv/bin/ray" ]; then export PATH="$ROOT/.venv/bin:$PATH"; fi
export RAY_USAGE_STATS_ENABLED=0
# loopback-only test head: no token auth (clients in the test would need the token otherwise)
export RAY_AUTH_MODE="${RAY_AUTH_MODE:-disabled}"

free_port() { python - <<'PY'
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

case "${1:-}" in
start)
  mkdir -p "$STATE"
  port=$(free_port); dash=$(free_port)
  # --block keeps the head in this process group, so `stop` ends exactly these processes
  setsid ray start --head --block --node-ip-address=127.0.0.1 --port="$port" \
    --dashboard-host=127.0.0.1 --dashboard-port="$dash" --include-dashboard=true \
    --num-cpus=2 --temp-dir="$STATE/tmp" >"$STATE/head.log" 2>&1 &
  echo $! >"$STATE/pid"
  echo "http://127.0.0.1:$dash" >"$STATE/dashboard"
  for _ in $(seq 1 120); do
    if curl -s -o /dev/null "http://127.0.0.1:$dash/api/version"; then
      echo "export AUTOEMBED_RAY_DASHBOARD=http://127.0.0.1:$dash"
      exit 0
    fi
    if ! kill -0 "$(cat "$STATE/pid")" 2>/dev/null; then break; fi
    sleep 1
  done
  echo "ray head did not come up; log:" >&2; tail -30 "$STATE/head.log" >&2
  exit 1
  ;;
stop)
  [ -f "$STATE/pid" ] || { echo "no head started from $STATE" >&2; exit 0; }
  pgid=$(cat "$STATE/pid")
  kill -TERM -- "-$pgid" 2>/dev/null || true
  for _ in $(seq 1 20); do kill -0 -- "-$pgid" 2>/dev/null || break; sleep 0.5; done
  kill -KILL -- "-$pgid" 2>/dev/null || true
  rm -f "$STATE/pid" "$STATE/dashboard"
  ;;
*)
  echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
