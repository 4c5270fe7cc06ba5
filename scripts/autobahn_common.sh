# Shared by scripts/autobahn.sh (the daemon, fuzzingclient) and scripts/autobahn_client.sh (the
# SDK's transport, fuzzingserver); source it, then call the functions in order.

# autobahn_setup LABEL: sets $python27 and $suite, installs autobahntestsuite 25.10.1 (Python 2.7
# only) into .build/autobahn when missing; exits 0 with the reason when there is no Python 2.7.
autobahn_setup() {
    local label=$1
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    python27="${PYENV_ROOT:-$HOME/.pyenv}/versions/2.7.18/bin/python"
    if [ ! -x "$python27" ]; then
        echo "$label: skipped: no Python 2.7 at $python27 (autobahntestsuite runs on Python 2.7 only)"
        exit 0
    fi
    suite="$root/.build/autobahn"
    if [ ! -d "$suite/autobahntestsuite" ]; then
        echo "$label: installing autobahntestsuite 25.10.1 into $suite"
        "$python27" -m pip install -q --disable-pip-version-check -t "$suite" autobahntestsuite==25.10.1 2>&1 | grep -v DEPRECATION || true
    fi
}

# autobahn_wstest DIR MODE SPEC: runs `wstest -m MODE -s SPEC` in DIR (output in DIR/wstest.log).
autobahn_wstest() {
    (cd "$1" && exec "$python27" -c "import site,sys; site.addsitedir('$suite'); sys.argv[0]='wstest'; from autobahntestsuite.wstest import run; run()" \
        -m "$2" -s "$3" >"$1/wstest.log" 2>&1)
}

# autobahn_verdict LABEL AGENT INDEX_JSON ACCEPTED...: one summary line, a line per case whose
# behaviour is not among ACCEPTED, the closing 'N passed, N failed' line; fails when any is not.
autobahn_verdict() {
    python3 - "$@" <<'PY'
import collections, json, sys
label, agent, index, good = sys.argv[1], sys.argv[2], sys.argv[3], tuple(sys.argv[4:])
cases = json.load(open(index))[agent]
bad = sorted((k, v["behavior"], v["behaviorClose"]) for k, v in cases.items()
             if v["behavior"] not in good or v["behaviorClose"] not in good)
print(f"{label}: behavior", dict(collections.Counter(v["behavior"] for v in cases.values())),
      "close", dict(collections.Counter(v["behaviorClose"] for v in cases.values())))
for case in bad:
    print(f"{label}: not OK:", *case)
print(f"{label}: {len(cases) - len(bad)} passed, {len(bad)} failed")
sys.exit(1 if bad else 0)
PY
}
