#!/usr/bin/env bash
# Fan-out comparison on loopback: hybridsyncd vs the libwebsockets C floor, same session, same
# scenarios, with the neutral load generator from ../shared/bench (read its README first).
#
#   bench/compare.sh            (after `make release`; takes about 3 minutes; every run stops by itself)
#   PEERS="hybridsyncd-memory hybridsyncd-sqlite hybridsyncd-redis" SCENARIOS="S2 S3" ROUNDS=2 bench/compare.sh
#                               (the engines side by side, interleaved)
#
# Peers: lws (the C floor), hybridsyncd (its default engine, SQLite), hybridsyncd-memory,
# hybridsyncd-sqlite, hybridsyncd-redis; suffixes: -wd<N> (hybridsyncd-memory-wd100) adds
# limits.writeDelayMillis N, -t<N> runs N service threads (server.threads; 1 without it, so the
# pinned comparison is one thread against lws's one), -free pins neither the server nor the load
# generator (for several threads: hybridsyncd-memory-t2-free). SQLite runs on a fresh database file in $OUT for every
# run; Redis is a fresh redis-server (appendonly, appendfsync everysec) on port $PORT+2, started
# for the run and stopped after it, sharing CPU 1 with the server (the VM has two cores).
# wsbench sends no Sec-WebSocket-Protocol header and hybridsyncd requires `hybridsync.v1`, so for
# hybridsyncd a copy of wsbench.c gets that one header line added (sed, below); the lws peer uses
# the unmodified load generator. Server on CPU 1, load generator on CPU 0. Results: $OUT/results.jsonl.
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SHARED:-$HERE/../shared/bench}
OUT=${OUT:-${TMPDIR:-/tmp}/hybridsync-bench}
PORT=${PORT:-9400}
mkdir -p "$OUT"
ulimit -n "$(ulimit -Hn)"

cc -O2 -Wall -o "$OUT/wsbench" "$SHARED/loadgen/wsbench.c" -lm
sed 's|Sec-WebSocket-Version: 13\\r\\n\\r\\n|Sec-WebSocket-Version: 13\\r\\nSec-WebSocket-Protocol: hybridsync.v1\\r\\n\\r\\n|' \
    "$SHARED/loadgen/wsbench.c" > "$OUT/wsbench_hs.c"
grep -q 'hybridsync.v1' "$OUT/wsbench_hs.c" || { echo "could not add the subprotocol header to wsbench"; exit 1; }
cc -O2 -Wall -o "$OUT/wsbench_hs" "$OUT/wsbench_hs.c" -lm
cc -O2 -Wall -o "$OUT/lws_peer" "$SHARED/peers/lws/lws_peer.c" -lwebsockets

BIN=$(cd "$HERE" && swift build -c release --show-bin-path)
[ -x "$BIN/hybridsyncd" ] || { echo "build first: make release"; exit 1; }
TOKEN=$(cd "$HERE" && swift run -q hybridsync token --user bench --secret benchsecret --ttl 86400)
SUB=$'{"id":1,"op":"connect","token":"'"$TOKEN"$'"}\n{"id":2,"op":"subscribe","channel":"app:bench"}'
printf 'log: {level: warning}\n' > "$OUT/hybridsyncd.yaml"

for round in $(seq "${ROUNDS:-1}"); do
for peer in ${PEERS:-lws hybridsyncd}; do
  for scenario in ${SCENARIOS:-S1 S2L S3}; do
    delay=(); [[ $peer =~ -wd([0-9]+) ]] && delay=(--limits-write-delay-millis "${BASH_REMATCH[1]}")
    threads=1; [[ $peer =~ -t([0-9]+) ]] && threads=${BASH_REMATCH[1]}
    server_cpu=(taskset -c 1); loadgen_cpu=(taskset -c 0)
    case $peer in *-free*) server_cpu=(); loadgen_cpu=() ;; esac
    [[ $peer =~ ^(lws|hybridsyncd(-memory|-sqlite|-redis)?) ]] && base=${BASH_REMATCH[1]}
    case $base in
      hybridsyncd-memory) engine=(--engine-kind memory) ;;
      hybridsyncd-redis)
        rm -rf "$OUT/redis"; mkdir -p "$OUT/redis"
        taskset -c 1 redis-server --port $((PORT + 2)) --bind 127.0.0.1 --dir "$OUT/redis" --save "" --appendonly yes \
          --appendfsync everysec --daemonize no --logfile "$OUT/redis/redis.log" & redis_pid=$!
        engine=(--engine-kind redis --engine-redis-address "127.0.0.1:$((PORT + 2))") ;;
      *) rm -f "$OUT"/bench.db*; engine=(--engine-kind sqlite --engine-sqlite-path "$OUT/bench.db") ;;
    esac
    if [ "$base" = lws ]; then
      "${server_cpu[@]}" "$OUT/lws_peer" "$PORT" >"$OUT/lws.log" 2>&1 & pid=$!
      common=(--url "ws://127.0.0.1:$PORT/ws" --pub-http "http://127.0.0.1:$PORT/publish")
      loadgen=$OUT/wsbench
    else
      "${server_cpu[@]}" "$BIN/hybridsyncd" --config "$OUT/hybridsyncd.yaml" --server-port "$PORT" --api-port $((PORT + 1)) --server-threads "$threads" \
        --api-key bench --auth-token-secret benchsecret --limits-connect-timeout-seconds 120 \
        --ping-interval-seconds 600 --api-max-requests-per-second 100000 "${engine[@]}" "${delay[@]}" >"$OUT/hybridsyncd.log" 2>&1 & pid=$!
      common=(--url "ws://127.0.0.1:$PORT/" --sub-msg "$SUB" --sub-ack '"id":2'
              --pub-http "http://127.0.0.1:$((PORT + 1))/api/publish" --pub-header 'Authorization: Bearer bench'
              --template '{"channel":"app:bench","data":"{}"}')
      loadgen=$OUT/wsbench_hs
    fi
    sleep 1
    case $scenario in
      S1) args=(-n 10000 -m 0 --settle 2) ;;
      S2) args=(-n 10000 -m 200 --rate 20 --settle 1 --drain 10) ;;
      S2L) args=(-n 10000 -m 30 --rate 2 --settle 1 --drain 10) ;;
      S3) args=(-n 1000 --duration 5 --rate 0 --window 64) ;;
    esac
    echo "== round $round: $peer $scenario"
    "${loadgen_cpu[@]}" "$loadgen" "${common[@]}" "${args[@]}" --pid "$pid" --timeout 60 --label "$peer" \
      --scenario "$scenario" --json "$OUT/results.jsonl" 2>&1 >/dev/null | grep -E 'connect :|memory  :|deliver :|latency :|cpu     :' || true
    kill "$pid"; wait "$pid" 2>/dev/null || true
    if [ -n "${redis_pid:-}" ]; then kill "$redis_pid"; wait "$redis_pid" 2>/dev/null || true; redis_pid=; fi
  done
done
done
echo "results: $OUT/results.jsonl"
