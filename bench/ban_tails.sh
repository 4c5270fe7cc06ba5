#!/usr/bin/env bash
# Where a fan-out tail comes from: bench/compare.sh (default: the BAN scenario for hybridsyncd-memory,
# one service thread on CPU 1, the load generator on CPU 0, 10,000 sockets on moderation:users, 10
# bans at 1/s), R rounds, with a copy of ../shared/bench's wsbench that also prints each message's
# publish time and worst latency, and bench/stall_watch.py sampling meanwhile who ran on the CPUs
# (the server's service thread, its other threads, the load generator; steal, softirq, idle). At
# the end, $OUT/stalls.txt: for every message, what each of them did from its publish to its last
# delivery, so a tail reads as the server's own work, the server waiting for a CPU, the VM's
# steal, or the server idle while the message was late.
#
#   make release && R=10 bench/ban_tails.sh        (about 20 s a round; stops by itself)
#   PEERS="lws hybridsyncd-memory" SCENARIOS="S2L BAN" R=5 bench/ban_tails.sh    (lws's S2L beside it)
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SHARED:-$HERE/../shared/bench}
OUT=${OUT:-${TMPDIR:-/tmp}/hybridsync-ban-tails}
mkdir -p "$OUT"
# The copies: a publish time and a worst latency per message sequence number, printed at the end;
# one with the subprotocol header for hybridsyncd, one without for the other peers.
python3 - "$SHARED/loadgen/wsbench.c" "$OUT/wsbench_seq.c" "$OUT/wsbench_seq_hs.c" <<'PY'
import sys
src = open(sys.argv[1]).read()
def sub(old, new):
    global src
    assert old in src, old
    src = src.replace(old, new, 1)
sub("    volatile int64_t lat_max, lat_sum;\n",
    "    volatile int64_t lat_max, lat_sum;\n    int64_t seq_max_us[1024];\n")
sub("static size_t build_body(long seq) {\n",
    "static int64_t seq_sent_ns[1024];\nstatic size_t build_body(long seq) {\n    if (seq >= 0 && seq < 1024) seq_sent_ns[seq] = now_ns();\n")
sub("        if (lat / 1000 > W->lat_max) W->lat_max = lat / 1000;\n",
    "        if (lat / 1000 > W->lat_max) W->lat_max = lat / 1000;\n"
    "        if (seq >= 0 && seq < 1024 && lat / 1000 > W->seq_max_us[seq]) W->seq_max_us[seq] = lat / 1000;\n")
i = src.rindex("    return (timed_out ||")
src = src[:i] + """    fprintf(stderr, "per-message send ns:");
    for (long k = 0; k < sent && k < 1024; k++) fprintf(stderr, " %lld", (long long)seq_sent_ns[k]);
    fprintf(stderr, "\\n");
    fprintf(stderr, "per-message worst latency ms:");
    for (long k = 0; k < sent && k < 1024; k++) {
        int64_t m = 0;
        for (int w = 0; w < C.workers; w++) if (S->w[w].seq_max_us[k] > m) m = S->w[w].seq_max_us[k];
        fprintf(stderr, " %lld", (long long)(m / 1000));
    }
    fprintf(stderr, "\\n");
""" + src[i:]
open(sys.argv[2], "w").write(src)
sub("Sec-WebSocket-Version: 13\\r\\n\\r\\n", "Sec-WebSocket-Version: 13\\r\\nSec-WebSocket-Protocol: hybridsync.v1\\r\\n\\r\\n")
open(sys.argv[3], "w").write(src)
PY
cc -O2 -Wall -DWSBENCH_TLS -o "$OUT/wsbench_seq" "$OUT/wsbench_seq.c" -lm -lssl -lcrypto
cc -O2 -Wall -DWSBENCH_TLS -o "$OUT/wsbench_seq_hs" "$OUT/wsbench_seq_hs.c" -lm -lssl -lcrypto
# Who had the CPUs meanwhile: the sampler on CPU 0 (with the load generator), its report at the end.
taskset -c 0 python3 "$HERE/bench/stall_watch.py" record "$OUT/samples.jsonl" & watch_pid=$!
trap 'kill $watch_pid 2>/dev/null || true' EXIT
LOADGEN_PEER=$OUT/wsbench_seq LOADGEN_HS=$OUT/wsbench_seq_hs OUT=$OUT PEERS=${PEERS:-hybridsyncd-memory} \
  SCENARIOS=${SCENARIOS:-BAN} ROUNDS=${R:-10} "$HERE/bench/compare.sh" | tee "$OUT/run.log"
kill $watch_pid; wait $watch_pid 2>/dev/null || true
python3 "$HERE/bench/stall_watch.py" explain "$OUT/samples.jsonl" "$OUT/run.log" --tail-ms "${TAIL_MS:-150}" | tee "$OUT/stalls.txt"
