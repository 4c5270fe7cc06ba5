#!/usr/bin/env bash
# Soak: CONNECTIONS subscribers (default 10,000) and steady publishes (2/s) for MINUTES (default 10)
# against the release daemon on loopback, with the shared load generator (../shared/bench).
#   scripts/soak.sh [MINUTES] [CONNECTIONS]
# Passes when, after one minute of warm-up, the daemon's RSS stays within 5 % of its mean, its open
# fds do not grow, and the load generator counts 0 lost and 0 reordered for connected clients.
# Samples (time, RSS KiB, fds) go to $OUT/soak-samples.tsv; the load generator's line to $OUT/soak.jsonl.
set -euo pipefail
minutes=${1:-10}; connections=${2:-10000}
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${SHARED:-$root/../shared/bench}
OUT=${OUT:-$root/.build/soak}; mkdir -p "$OUT"; rm -f "$OUT/soak.jsonl" "$OUT/soak-samples.tsv"
ulimit -n "$(ulimit -Hn)"
sed 's|Sec-WebSocket-Version: 13\\r\\n\\r\\n|Sec-WebSocket-Version: 13\\r\\nSec-WebSocket-Protocol: hybridsync.v1\\r\\n\\r\\n|' \
    "$shared/loadgen/wsbench.c" > "$OUT/wsbench_hs.c"
cc -O2 -Wall -o "$OUT/wsbench_hs" "$OUT/wsbench_hs.c" -lm
bin=$(cd "$root" && swift build -c release --show-bin-path)
token=$(cd "$root" && "$bin/hybridsync" token --user soak --secret soaksecret --ttl 86400)
printf 'log: {level: warning}\n' > "$OUT/hybridsyncd.yaml"
port=${PORT:-9500}
"$bin/hybridsyncd" --config "$OUT/hybridsyncd.yaml" --server-port "$port" --api-port $((port + 1)) \
    --api-key soak --auth-token-secret soaksecret --api-max-requests-per-second 100000 --ping-interval-seconds 3600 >"$OUT/hybridsyncd.log" 2>&1 & pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
sleep 1
( start=$(date +%s); while kill -0 $pid 2>/dev/null; do
    printf '%s\t%s\t%s\n' $(( $(date +%s) - start )) "$(awk '/VmRSS/ {print $2}' /proc/$pid/status)" "$(ls /proc/$pid/fd | wc -l)" >> "$OUT/soak-samples.tsv"
    sleep 10; done ) & sampler=$!
sub=$'{"id":1,"op":"connect","token":"'"$token"$'"}\n{"id":2,"op":"subscribe","channel":"app:soak"}'
# The client answers the server's ping pushes implicitly: it has nothing to say, so the ping
# interval is set past the run (liveness is covered by the tests, not the soak).
"$OUT/wsbench_hs" --url "ws://127.0.0.1:$port/" -n "$connections" --sub-msg "$sub" --sub-ack '"id":2' \
    --pub-http "http://127.0.0.1:$((port + 1))/api/publish" --pub-header 'Authorization: Bearer soak' \
    --template '{"channel":"app:soak","data":"{}"}' --duration $((minutes * 60)) --rate 2 --settle 2 --drain 10 \
    --pid "$pid" --timeout $((minutes * 60 + 120)) --label hybridsyncd --scenario soak --json "$OUT/soak.jsonl" 2>"$OUT/wsbench.log" >/dev/null || true
kill $sampler 2>/dev/null || true
python3 - "$OUT/soak-samples.tsv" "$OUT/soak.jsonl" "$minutes" "$connections" <<'PY'
import json, sys
samples = [tuple(map(int, line.split("\t"))) for line in open(sys.argv[1]) if line.strip()]
result = json.loads(open(sys.argv[2]).read().splitlines()[-1])
steady = [s for s in samples if s[0] >= 60 and s[0] <= int(sys.argv[3]) * 60]
rss = [s[1] for s in steady]; fds = [s[2] for s in steady]
mean = sum(rss) / len(rss)
spread = max(abs(r - mean) / mean for r in rss)
print(f"soak: {sys.argv[4]} connections, {sys.argv[3]} min: connected {result['connected']}, deliveries {result['deliveries']}, "
      f"lost {result['lost']}, reordered {result['dup_or_reordered']}, p99 {result['lat_us']['p99']/1000:.1f} ms")
print(f"soak: RSS after warm-up {min(rss)}-{max(rss)} KiB (mean {mean:.0f}, spread {spread*100:.1f} %), fds {min(fds)}-{max(fds)}")
ok = result["lost"] == 0 and result["dup_or_reordered"] == 0 and spread <= 0.05 and max(fds) - min(fds) <= 2 \
     and result["connected"] == int(sys.argv[4])
print(f"soak: {1 if ok else 0} passed, {0 if ok else 1} failed")
sys.exit(0 if ok else 1)
PY
