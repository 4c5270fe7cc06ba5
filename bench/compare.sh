#!/usr/bin/env bash
# Fan-out comparison on loopback: hybridsyncd vs the libwebsockets C floor, same session, same
# scenarios, with the neutral load generator from ../shared/bench (read its README first).
#
#   bench/compare.sh            (after `make release`; takes about 3 minutes; every run stops by itself)
#   PEERS="hybridsyncd-memory hybridsyncd-sqlite hybridsyncd-redis" SCENARIOS="S2 S3" ROUNDS=2 bench/compare.sh
#                               (the engines side by side, interleaved)
#
# Peers: lws (the C floor), node (node-ws, Debian's node-ws package), nio (plain swift-nio, the
# harness's NIOPeer, built here into $OUT the first time: minutes), hybridsyncd (its default engine,
# SQLite), hybridsyncd-memory, hybridsyncd-sqlite, hybridsyncd-redis; suffixes: -wd<N> (hybridsyncd-memory-wd100) adds
# limits.writeDelayMillis N, -t<N> runs N service threads (server.threads; 1 without it, so the
# pinned comparison is one thread against lws's one), -free pins neither the server nor the load
# generator (for several threads: hybridsyncd-memory-t2-free), -alt runs the daemon at $ALT_BIN instead
# of this checkout's (an earlier commit's release build, to measure a change in one run), -tls serves
# wss:// (lws and hybridsyncd*: a throwaway ECDSA P-256 certificate made in $OUT, TLS 1.3 negotiated,
# the load generator built with -DWSBENCH_TLS; hybridsyncd's API port stays plain http, the lws
# peer's publish endpoint becomes https). SQLite runs on a fresh database file in $OUT for every
# run; Scenarios: S1 S2 S2L S3 as in ../shared/bench/README.md, and BAN (hybridsyncd only): 10,000
# sockets subscribed to moderation:users, 10 bans at 1/s through POST /api/ban, each a state change
# every socket gets (the reason carries the harness's marker), so the latency is the daemon's fan-out
# of a ban measured by the same load generator as S2L. Redis is a fresh redis-server (appendonly, appendfsync everysec) on port $PORT+2, started
# for the run and stopped after it, sharing CPU 1 with the server (the VM has two cores).
# wsbench sends no Sec-WebSocket-Protocol header and hybridsyncd requires `hybridsync.v1`, so for
# hybridsyncd a copy of wsbench.c gets that one header line added (sed, below); the lws peer uses
# the unmodified load generator (LOADGEN_HS=path runs another build of it for hybridsyncd, as
# bench/ban_tails.sh does). Server on CPU 1, load generator on CPU 0. Results: $OUT/results.jsonl.
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SHARED:-$HERE/../shared/bench}
OUT=${OUT:-${TMPDIR:-/tmp}/hybridsync-bench}
PORT=${PORT:-9400}
mkdir -p "$OUT"
ulimit -n "$(ulimit -Hn)"

cc -O2 -Wall -DWSBENCH_TLS -o "$OUT/wsbench" "$SHARED/loadgen/wsbench.c" -lm -lssl -lcrypto
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$OUT/key.pem" \
  -out "$OUT/cert.pem" -days 1 -subj /CN=127.0.0.1 2>"$OUT/openssl.log" || { cat "$OUT/openssl.log"; exit 1; }
sed 's|Sec-WebSocket-Version: 13\\r\\n\\r\\n|Sec-WebSocket-Version: 13\\r\\nSec-WebSocket-Protocol: hybridsync.v1\\r\\n\\r\\n|' \
    "$SHARED/loadgen/wsbench.c" > "$OUT/wsbench_hs.c"
grep -q 'hybridsync.v1' "$OUT/wsbench_hs.c" || { echo "could not add the subprotocol header to wsbench"; exit 1; }
cc -O2 -Wall -DWSBENCH_TLS -o "$OUT/wsbench_hs" "$OUT/wsbench_hs.c" -lm -lssl -lcrypto
cc -O2 -Wall -o "$OUT/lws_peer" "$SHARED/peers/lws/lws_peer.c" -lwebsockets
if [[ " ${PEERS:-} " == *" nio"* ]] && [ ! -x "$OUT/swiftpeers/release/NIOPeer" ]; then
  (cd "$SHARED/peers/swift" && swift build -c release --product NIOPeer --scratch-path "$OUT/swiftpeers" >"$OUT/niopeer-build.log" 2>&1) \
    || { tail -20 "$OUT/niopeer-build.log"; exit 1; }
fi
if [[ " ${PEERS:-} " == *" node"* ]] && [ ! -d /usr/share/nodejs/ws ]; then
  echo "the node peer needs Debian's node-ws: apt-get install node-ws"; exit 1
fi

BIN=$(cd "$HERE" && swift build -c release --show-bin-path)
[ -x "$BIN/hybridsyncd" ] || { echo "build first: make release"; exit 1; }
TOKEN=$(cd "$HERE" && swift run -q hybridsync token --user bench --secret benchsecret --ttl 86400)
SUB=$'{"id":1,"op":"connect","token":"'"$TOKEN"$'"}\n{"id":2,"op":"subscribe","channel":"app:bench"}'
BAN_SUB=$'{"id":1,"op":"connect","token":"'"$TOKEN"$'"}\n{"id":2,"op":"subscribe","channel":"moderation:users"}'
printf 'log: {level: warning}\n' > "$OUT/hybridsyncd.yaml"

for round in $(seq "${ROUNDS:-1}"); do
for peer in ${PEERS:-lws hybridsyncd}; do
  for scenario in ${SCENARIOS:-S1 S2L S3}; do
    delay=(); [[ $peer =~ -wd([0-9]+) ]] && delay=(--limits-write-delay-millis "${BASH_REMATCH[1]}")
    threads=1; [[ $peer =~ -t([0-9]+) ]] && threads=${BASH_REMATCH[1]}
    server_cpu=(taskset -c 1); loadgen_cpu=(taskset -c 0)
    case $peer in *-free*) server_cpu=(); loadgen_cpu=() ;; esac
    ws=ws; http=http; peer_tls=(); daemon_tls=()
    if [[ $peer == *-tls* ]]; then
      ws=wss; http=https
      peer_tls=(--tls-cert "$OUT/cert.pem" --tls-key "$OUT/key.pem")
      daemon_tls=(--server-tls-certificate "$OUT/cert.pem" --server-tls-private-key "$OUT/key.pem")
    fi
    daemon=$BIN/hybridsyncd
    case $peer in *-alt*) daemon=${ALT_BIN:?"-alt needs ALT_BIN=path/to/hybridsyncd"} ;; esac
    [[ $peer =~ ^(lws|node|nio|hybridsyncd(-memory|-sqlite|-redis)?) ]] && base=${BASH_REMATCH[1]}
    if [ "$scenario" = BAN ] && [[ $base != hybridsyncd* ]]; then continue; fi  # no ban API
    case $base in
      hybridsyncd-memory) engine=(--engine-kind memory) ;;
      hybridsyncd-redis)
        rm -rf "$OUT/redis"; mkdir -p "$OUT/redis"
        taskset -c 1 redis-server --port $((PORT + 2)) --bind 127.0.0.1 --dir "$OUT/redis" --save "" --appendonly yes \
          --appendfsync everysec --daemonize no --logfile "$OUT/redis/redis.log" & redis_pid=$!
        engine=(--engine-kind redis --engine-redis-address "127.0.0.1:$((PORT + 2))") ;;
      *) rm -f "$OUT"/bench.db*; engine=(--engine-kind sqlite --engine-sqlite-path "$OUT/bench.db") ;;
    esac
    if [[ $base != hybridsyncd* ]]; then
      case $base in
        lws) "${server_cpu[@]}" "$OUT/lws_peer" "${peer_tls[@]}" "$PORT" >"$OUT/lws.log" 2>&1 & pid=$! ;;
        node) NODE_PATH=/usr/share/nodejs "${server_cpu[@]}" node "$SHARED/peers/node/node_peer.js" "$PORT" >"$OUT/node.log" 2>&1 & pid=$! ;;
        nio) "${server_cpu[@]}" "$OUT/swiftpeers/release/NIOPeer" "$PORT" >"$OUT/nio.log" 2>&1 & pid=$! ;;
      esac
      [[ $base == lws || $ws == ws ]] || { echo "-tls: lws and hybridsyncd only"; exit 1; }
      common=(--url "$ws://127.0.0.1:$PORT/ws" --pub-http "$http://127.0.0.1:$PORT/publish")
      loadgen=${LOADGEN_PEER:-$OUT/wsbench}
    else
      "${server_cpu[@]}" "$daemon" --config "$OUT/hybridsyncd.yaml" --server-port "$PORT" --api-port $((PORT + 1)) --server-threads "$threads" \
        --api-key bench --auth-token-secret benchsecret --limits-connect-timeout-seconds 120 \
        --ping-interval-seconds 600 --api-max-requests-per-second 100000 "${engine[@]}" "${delay[@]}" "${daemon_tls[@]}" >"$OUT/hybridsyncd.log" 2>&1 & pid=$!
      if [ "$scenario" = BAN ]; then
        common=(--sub-msg "$BAN_SUB" --pub-http "http://127.0.0.1:$((PORT + 1))/api/ban"
                --template '{"user":"bench-banned","reason":"{}"}')
      else
        common=(--sub-msg "$SUB" --pub-http "http://127.0.0.1:$((PORT + 1))/api/publish"
                --template '{"channel":"app:bench","data":"{}"}')
      fi
      common+=(--url "$ws://127.0.0.1:$PORT/" --sub-ack '"id":2' --pub-header 'Authorization: Bearer bench')
      loadgen=${LOADGEN_HS:-$OUT/wsbench_hs}
    fi
    sleep 1
    case $scenario in
      S1) args=(-n 10000 -m 0 --settle 2) ;;
      S2) args=(-n 10000 -m 200 --rate 20 --settle 1 --drain 10) ;;
      S2L) args=(-n 10000 -m 30 --rate 2 --settle 1 --drain 10) ;;
      S3) args=(-n 1000 --duration 5 --rate 0 --window 64) ;;
      BAN) args=(-n 10000 -m 10 --rate 1 --settle 1 --drain 10) ;;
    esac
    echo "== round $round: $peer $scenario"
    "${loadgen_cpu[@]}" "$loadgen" "${common[@]}" "${args[@]}" --pid "$pid" --timeout 60 --label "$peer" \
      --scenario "$scenario" --json "$OUT/results.jsonl" 2>&1 >/dev/null | grep -E 'connect :|memory  :|deliver :|latency :|cpu     :|per-message' || true
    kill "$pid"; wait "$pid" 2>/dev/null || true
    if [ -n "${redis_pid:-}" ]; then kill "$redis_pid"; wait "$redis_pid" 2>/dev/null || true; redis_pid=; fi
  done
done
done
echo "results: $OUT/results.jsonl"
