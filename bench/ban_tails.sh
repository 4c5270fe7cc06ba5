#!/usr/bin/env bash
# Where a BAN tail comes from: bench/compare.sh's BAN scenario for hybridsyncd-memory (one service
# thread on CPU 1, the load generator on CPU 0, 10,000 sockets on moderation:users, 10 bans at 1/s),
# R rounds, with a copy of ../shared/bench's wsbench that also prints each ban's worst latency, so
# a round's p99 reads as one stalled ban or a slow fan-out of every ban.
#
#   make release && R=10 bench/ban_tails.sh        (about 20 s a round; stops by itself)
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SHARED:-$HERE/../shared/bench}
OUT=${OUT:-${TMPDIR:-/tmp}/hybridsync-ban-tails}
mkdir -p "$OUT"
# The copy: a worst latency per message sequence number, printed at the end; and the subprotocol header.
python3 - "$SHARED/loadgen/wsbench.c" "$OUT/wsbench_seq.c" <<'PY'
import sys
src = open(sys.argv[1]).read()
def sub(old, new):
    global src
    assert old in src, old
    src = src.replace(old, new, 1)
sub("    volatile int64_t lat_max, lat_sum;\n",
    "    volatile int64_t lat_max, lat_sum;\n    int64_t seq_max_us[1024];\n")
sub("        if (lat / 1000 > W->lat_max) W->lat_max = lat / 1000;\n",
    "        if (lat / 1000 > W->lat_max) W->lat_max = lat / 1000;\n"
    "        if (seq >= 0 && seq < 1024 && lat / 1000 > W->seq_max_us[seq]) W->seq_max_us[seq] = lat / 1000;\n")
i = src.rindex("    return (timed_out ||")
src = src[:i] + """    fprintf(stderr, "per-message worst latency ms:");
    for (long k = 0; k < sent && k < 1024; k++) {
        int64_t m = 0;
        for (int w = 0; w < C.workers; w++) if (S->w[w].seq_max_us[k] > m) m = S->w[w].seq_max_us[k];
        fprintf(stderr, " %lld", (long long)(m / 1000));
    }
    fprintf(stderr, "\\n");
""" + src[i:]
sub("Sec-WebSocket-Version: 13\\r\\n\\r\\n", "Sec-WebSocket-Version: 13\\r\\nSec-WebSocket-Protocol: hybridsync.v1\\r\\n\\r\\n")
open(sys.argv[2], "w").write(src)
PY
cc -O2 -Wall -o "$OUT/wsbench_seq" "$OUT/wsbench_seq.c" -lm
LOADGEN_HS=$OUT/wsbench_seq OUT=$OUT PEERS=hybridsyncd-memory SCENARIOS=BAN ROUNDS=${R:-10} "$HERE/bench/compare.sh"
