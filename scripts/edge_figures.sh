#!/usr/bin/env bash
# The edge-hardening figures of docs/RELIABILITY.md, on the release daemon (loopback, bounded):
# mass expiry of 17,000 half-open upgrades under a pinging healthy client, RSS of 5,000 idle
# unauthenticated sockets over two waves, and the flood at a 256-fd limit.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$(cd "$root" && swift build -c release --show-bin-path)
work=$(mktemp -d)
ulimit -n "$(ulimit -Hn)"
start_daemon() {  # start_daemon [prefix...] -- flags...
    printf 'server: {host: 127.0.0.1, port: 0}\napi: {host: 127.0.0.1, port: 0, key: figures}\nauth: {tokenSecret: figures-secret}\nlog: {level: warning}\n' > "$work/d.yaml"
    "$@" --config "$work/d.yaml" >"$work/out" 2>"$work/log" & pid=$!
    for _ in $(seq 1 100); do grep -q 'hybridsyncd ready' "$work/out" && break; sleep 0.1; done
    ws=$(sed -n 's/.*ws=ws:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$work/out"); api=$(sed -n 's/.*api=http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$work/out")
}
stop_daemon() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT

start_daemon "$bin/hybridsyncd" --limits-http-header-timeout-seconds 5 --limits-connect-timeout-seconds 120
echo "mass expiry, 17000 half-open upgrades: $(python3 "$root/Tests/Interop/attacks.py" halfopen 127.0.0.1 "$ws" 17000)"
stop_daemon
start_daemon "$bin/hybridsyncd" --limits-connect-timeout-seconds 120
echo "idle memory, 5000 unauthenticated sockets, two waves: $(python3 "$root/Tests/Interop/attacks.py" idle 127.0.0.1 "$ws" 5000 "$pid")"
stop_daemon
start_daemon sh -c 'ulimit -n 256 && exec "$0" "$@"' "$bin/hybridsyncd"
echo "flood at a 256-fd limit, 600 sockets: $(python3 "$root/Tests/Interop/attacks.py" flood 127.0.0.1 "$ws" 600 "$api" "$pid")"
stop_daemon
