#!/usr/bin/env bash
# Fan-out over wss:// beside ws://: what TLS costs the daemon per delivery and per connection.
#
#   make release && bench/tls.sh          (about 2 minutes; every run stops by itself)
#   CLIENTS=5000 MESSAGES=30 RATE=2 ROUNDS=3 bench/tls.sh
#   KEY=rsa bench/tls.sh                  (an RSA-2048 certificate instead of ECDSA P-256)
#
# The neutral load generator (../shared/bench, used by compare.sh) speaks plain TCP only, so here the
# clients are `hybridsync bench fanout`'s SDK runtimes (one WebSocket each, lws + OpenSSL on the
# client side too), on CPU 0; the daemon (memory engine, one service thread) on CPU 1. Each round
# runs the same daemon build plain, then with a throwaway self-signed ECDSA P-256 certificate (the
# key type docs/SECURITY.md recommends; KEY=rsa: RSA-2048). Server CPU per delivery and RSS per connection are
# the daemon's (read from /proc); latency is measured at the clients, so it includes their own
# decoding (and, for wss://, decryption) on the other core.
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-${TMPDIR:-/tmp}/hybridsync-bench-tls}
PORT=${PORT:-9420}
CLIENTS=${CLIENTS:-2000}
MESSAGES=${MESSAGES:-50}
RATE=${RATE:-10}
mkdir -p "$OUT"
ulimit -n "$(ulimit -Hn)"

BIN=$(cd "$HERE" && swift build -c release --show-bin-path)
[ -x "$BIN/hybridsyncd" ] && [ -x "$BIN/hybridsync" ] || { echo "build first: make release"; exit 1; }
case ${KEY:-ec} in
  ec) key=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1) ;;
  rsa) key=(-newkey rsa:2048) ;;
  *) echo "KEY must be ec or rsa"; exit 1 ;;
esac
openssl req -x509 "${key[@]}" -nodes -keyout "$OUT/key.pem" \
  -out "$OUT/cert.pem" -days 1 -subj /CN=127.0.0.1 2>"$OUT/openssl.log" || { cat "$OUT/openssl.log"; exit 1; }
printf 'log: {level: warning}\n' > "$OUT/hybridsyncd.yaml"

for round in $(seq "${ROUNDS:-2}"); do
  for scheme in ws wss; do
    tls=(); client_tls=()
    if [ "$scheme" = wss ]; then
      tls=(--server-tls-certificate "$OUT/cert.pem" --server-tls-private-key "$OUT/key.pem")
      client_tls=(--allow-self-signed)
    fi
    taskset -c 1 "$BIN/hybridsyncd" --config "$OUT/hybridsyncd.yaml" --server-port "$PORT" --api-port $((PORT + 1)) \
      --server-threads 1 --engine-kind memory --api-key bench --auth-token-secret benchsecret \
      --limits-connect-timeout-seconds 120 --ping-interval-seconds 600 --api-max-requests-per-second 100000 \
      "${tls[@]}" >"$OUT/hybridsyncd.log" 2>&1 & pid=$!
    for _ in $(seq 50); do curl -sf "http://127.0.0.1:$((PORT + 1))/health" >/dev/null && break; sleep 0.1; done
    echo "== round $round: $scheme://$([ "$scheme" = wss ] && echo " (${KEY:-ec} key)"), $CLIENTS clients, $MESSAGES messages at $RATE/s"
    taskset -c 0 "$BIN/hybridsync" bench fanout --clients "$CLIENTS" --messages "$MESSAGES" --rate "$RATE" \
      --url "$scheme://127.0.0.1:$PORT/" --api "http://127.0.0.1:$((PORT + 1))" --key bench --secret benchsecret \
      --server-pid "$pid" "${client_tls[@]}" 2>/dev/null | tee -a "$OUT/results.txt"
    kill "$pid"; wait "$pid" 2>/dev/null || true
  done
done
echo "results: $OUT/results.txt"
