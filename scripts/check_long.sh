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
asan() {
    $swift build --build-tests --sanitize=address --scratch-path .build-asan &&
    HYBRIDSYNC_SANITIZER=address LSAN_OPTIONS=suppressions=$root/scripts/lsan.supp \
        $swift test --skip-build --sanitize=address --scratch-path .build-asan
}
tsan() {
    $swift build --build-tests --sanitize=thread --scratch-path .build-tsan &&
    HYBRIDSYNC_SANITIZER=thread $swift test --skip-build --sanitize=thread --scratch-path .build-tsan
}
check release $swift build -c release
check autobahn scripts/autobahn.sh "$($swift build -c release --show-bin-path)/hybridsyncd" '*'
check fuzz scripts/fuzz.sh 60
check asan asan
check tsan tsan
check edge-figures scripts/edge_figures.sh
check soak scripts/soak.sh "${SOAK_MINUTES:-10}" 10000
printf '%s\n' "${results[@]}"
failed=$(printf '%s\n' "${results[@]}" | grep -c FAILED)
echo "check-long: $(( ${#results[@]} - failed )) passed, $failed failed"
[ "$failed" = 0 ]
