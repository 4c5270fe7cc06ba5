#!/usr/bin/env bash
# Autobahn|Testsuite (fuzzingclient) against hybridsyncd's echo endpoint (debug.echoPath).
#   scripts/autobahn.sh BINARY CASES...      e.g. scripts/autobahn.sh .build/debug/hybridsyncd '1.*' '7.*'
# The suite is Python 2.7 only: it runs with pyenv's 2.7.18 when present and is skipped, with the
# reason printed, when not. Passes only when every case is OK or INFORMATIONAL (no FAILED,
# NON-STRICT or WRONG CODE); UNIMPLEMENTED (12.*, 13.*: permessage-deflate, which hybridsyncd does
# not negotiate) is counted apart. Reports go to .build/autobahn-reports/.
set -euo pipefail
binary=$1; shift
cases=$(printf '"%s",' "$@"); cases="[${cases%,}]"
source "$(dirname "$0")/autobahn_common.sh"
autobahn_setup autobahn
work=$(mktemp -d); reports="$root/.build/autobahn-reports"; rm -rf "$reports"
cat > "$work/daemon.yaml" <<YAML
server: {host: 127.0.0.1, port: 0}
api: {host: 127.0.0.1, port: 0, key: "autobahn-$RANDOM$RANDOM"}
auth: {tokenSecret: "autobahn-$RANDOM$RANDOM$RANDOM"}
YAML
"$binary" --config "$work/daemon.yaml" --debug-echo-path /echo --limits-max-message-bytes 67108864 \
    >"$work/out" 2>"$work/log" & daemon=$!
trap 'kill $daemon 2>/dev/null; wait $daemon 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do grep -q 'hybridsyncd ready' "$work/out" && break; sleep 0.1; done
url=$(sed -n 's/.*ws=\([^ ]*\).*/\1/p' "$work/out")
[ -n "$url" ] || { cat "$work/log"; echo "autobahn: hybridsyncd did not start"; exit 1; }
cat > "$work/fuzzingclient.json" <<JSON
{"outdir": "$reports", "servers": [{"agent": "hybridsyncd", "url": "${url}echo"}],
 "cases": $cases, "exclude-cases": [], "exclude-agent-cases": {}}
JSON
autobahn_wstest "$work" fuzzingclient fuzzingclient.json || { tail -20 "$work/wstest.log"; exit 1; }
autobahn_verdict autobahn hybridsyncd "$reports/index.json" OK INFORMATIONAL UNIMPLEMENTED
