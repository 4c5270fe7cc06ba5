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
root=$(cd "$(dirname "$0")/.." && pwd)
python27="${PYENV_ROOT:-$HOME/.pyenv}/versions/2.7.18/bin/python"
if [ ! -x "$python27" ]; then
    echo "autobahn: skipped: no Python 2.7 at $python27 (autobahntestsuite runs on Python 2.7 only)"
    exit 0
fi
suite="$root/.build/autobahn"
if [ ! -d "$suite/autobahntestsuite" ]; then
    echo "autobahn: installing autobahntestsuite 25.10.1 into $suite"
    "$python27" -m pip install -q --disable-pip-version-check -t "$suite" autobahntestsuite==25.10.1 2>&1 | grep -v DEPRECATION || true
fi
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
(cd "$work" && "$python27" -c "import site,sys; site.addsitedir('$suite'); sys.argv[0]='wstest'; from autobahntestsuite.wstest import run; run()" \
    -m fuzzingclient -s fuzzingclient.json >"$work/wstest.log" 2>&1) || { tail -20 "$work/wstest.log"; exit 1; }
python3 - "$reports/index.json" <<'PY'
import collections, json, sys
cases = json.load(open(sys.argv[1]))["hybridsyncd"]
good = ("OK", "INFORMATIONAL", "UNIMPLEMENTED")
bad = sorted((k, v["behavior"], v["behaviorClose"]) for k, v in cases.items()
             if v["behavior"] not in good or v["behaviorClose"] not in good)
print("autobahn: behavior", dict(collections.Counter(v["behavior"] for v in cases.values())),
      "close", dict(collections.Counter(v["behaviorClose"] for v in cases.values())))
for case in bad:
    print("autobahn: not OK:", *case)
print(f"autobahn: {len(cases) - len(bad)} passed, {len(bad)} failed")
sys.exit(1 if bad else 0)
PY
