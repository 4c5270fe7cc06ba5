#!/usr/bin/env bash
# make check-long: every long check runs, even after one fails; a summary line per check at the
# end, and a non-zero exit when any failed. Logs: .build/check-long/<check>.log.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd); cd "$root"
logs=.build/check-long; mkdir -p "$logs"
swift=${SWIFT:-swift}
results=()
check() {
    local name=$1; shift
    echo "== $name"
    local start=$SECONDS
    if "$@" >"$logs/$name.log" 2>&1; then results+=("$name: passed ($((SECONDS - start)) s)"); else results+=("$name: FAILED ($((SECONDS - start)) s), see $logs/$name.log"); fi
    tail -3 "$logs/$name.log"
}
# One sanitizer over the whole suite, daemons built with it too: the unit suites in parallel, then
# the integration suites one at a time, so their timing (pings, deadlines) holds under the
# slowdown. Every daemon's log is kept (its own TMPDIR) and searched for reports.
sanitized() {
    local kind=$1 name=$2
    local scratch=.build-$name tmp=$root/$logs/$name-tmp
    rm -rf "$tmp"; mkdir -p "$tmp"
    $swift build --build-tests --sanitize="$kind" --scratch-path "$scratch" || return 1
    local run=(env TMPDIR="$tmp" KEEP_HYBRIDSYNC_TEST_FILES=1 HYBRIDSYNC_SANITIZER="$kind"
        LSAN_OPTIONS=suppressions=$root/scripts/lsan.supp $swift test --skip-build --sanitize="$kind" --scratch-path "$scratch")
    "${run[@]}" --skip HybridSyncIntegrationTests 2>&1 | tee "$tmp/tests.log" || return 1
    "${run[@]}" --filter HybridSyncIntegrationTests --no-parallel 2>&1 | tee -a "$tmp/tests.log" || return 1
    local daemons reports
    daemons=$(ls -d "$tmp"/hybridsyncd-* 2>/dev/null | wc -l)
    reports=$(grep -l "Sanitizer" "$tmp/tests.log" "$tmp"/hybridsyncd-*/*.log 2>/dev/null)
    if [ -n "$reports" ]; then echo "sanitizer reports in:"; echo "$reports"; return 1; fi
    echo "no sanitizer report in the test process or the logs of $daemons daemons"
    rm -rf "$tmp" 2>/dev/null || true  # a browser may still be writing its profile there
}
check release $swift build -c release
check autobahn scripts/autobahn.sh "$($swift build -c release --show-bin-path)/hybridsyncd" '*'
check autobahn-client scripts/autobahn_client.sh "$($swift build -c release --show-bin-path)" '*'
check fuzz scripts/fuzz.sh 60
check asan sanitized address asan
check tsan sanitized thread tsan
check edge-figures scripts/edge_figures.sh
check soak scripts/soak.sh "${SOAK_MINUTES:-10}" 10000
printf '%s\n' "${results[@]}"
failed=$(printf '%s\n' "${results[@]}" | grep -c FAILED)
echo "check-long: $(( ${#results[@]} - failed )) passed, $failed failed"
[ "$failed" = 0 ]
