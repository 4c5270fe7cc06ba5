#!/usr/bin/env bash
# The two-micro-app demo, start to finish without a human: hybridsyncd (SQLite in a temporary
# directory, ephemeral ports), Examples/TwoMicroApps, a ban made with curl, a daemon restart in the
# middle (both micro-apps converge again), then the unban. Exits 0 when both micro-apps saw both.
#   usage: scripts/demo.sh BIN_DIR
set -euo pipefail
bin=${1:?usage: scripts/demo.sh BIN_DIR}
work=$(mktemp -d)
key=demo-api-key-$RANDOM$RANDOM
secret=demo-token-secret-$RANDOM$RANDOM
daemon=""; client=""
cleanup() {
    if [ -n "$client" ]; then kill "$client" 2>/dev/null || true; fi
    if [ -n "$daemon" ]; then kill "$daemon" 2>/dev/null || true; fi
    wait 2>/dev/null || true
    rm -rf "$work"
}
shown=0
# Prints the demo's lines not shown yet.
show() { local lines; lines=$(wc -l <"$work/demo.out"); if [ "$lines" -gt "$shown" ]; then tail -n +"$((shown + 1))" "$work/demo.out" | head -n "$((lines - shown))"; shown=$lines; fi; }
trap cleanup EXIT

# Starts the daemon on the given ports (0: ephemeral) and sets WS and API from its ready line.
start_daemon() {
    HYBRIDSYNC_API_KEY=$key HYBRIDSYNC_AUTH_TOKEN_SECRET=$secret "$bin/hybridsyncd" \
        --server-port "$1" --api-port "$2" --engine-sqlite-path "$work/demo.db" >"$work/ready" 2>>"$work/daemon.log" &
    daemon=$!
    for _ in $(seq 1 300); do grep -q 'hybridsyncd ready' "$work/ready" && break; sleep 0.1; done
    grep -q 'hybridsyncd ready' "$work/ready" || { cat "$work/daemon.log"; echo "demo: hybridsyncd did not start"; exit 1; }
    WS=$(sed -n 's/.*ws=\([^ ]*\).*/\1/p' "$work/ready"); API=$(sed -n 's/.*api=\([^ ]*\).*/\1/p' "$work/ready")
}
# Waits (bounded) until the demo's output has a line matching $1.
wait_for() {
    for _ in $(seq 1 600); do grep -q "$1" "$work/demo.out" && { show; return 0; }; kill -0 "$client" 2>/dev/null || break; sleep 0.1; done
    cat "$work/demo.out"; echo "demo: no '$1'"; exit 1
}

start_daemon 0 0
HYBRIDSYNC_URL=$WS HYBRIDSYNC_AUTH_TOKEN_SECRET=$secret "$bin/hybridsync-demo" >"$work/demo.out" 2>>"$work/demo.log" &
client=$!
wait_for 'demo ready'

echo "\$ curl -H 'Authorization: Bearer …' -d '{\"user\":\"42\",\"reason\":\"spam\"}' $API/api/ban"
curl -fsS -H "Authorization: Bearer $key" -d '{"user":"42","reason":"spam"}' "$API/api/ban"; echo
wait_for 'both micro-apps saw the ban'

echo "-- restarting hybridsyncd (SIGTERM, then the same ports and data file)"
ws_port=${WS##*:}; ws_port=${ws_port%/}; api_port=${API##*:}
kill "$daemon"; wait "$daemon" || true
start_daemon "$ws_port" "$api_port"
wait_for 'reconnected'

echo "\$ curl -X DELETE -H 'Authorization: Bearer …' $API/api/ban/42"
curl -fsS -X DELETE -H "Authorization: Bearer $key" "$API/api/ban/42"; echo
status=0; wait "$client" || status=$?
client=""
show
[ "$status" = 0 ] || { cat "$work/demo.log" "$work/daemon.log"; echo "demo: the client failed ($status)"; exit 1; }
echo "demo: done"
