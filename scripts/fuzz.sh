#!/usr/bin/env bash
# libFuzzer (swiftc -sanitize=fuzzer,address) on the three parsers that face the internet:
#   scripts/fuzz.sh SECONDS     each target runs SECONDS (check-long: 60)
# Targets in Tests/Fuzz/, seed corpora in Tests/Fuzz/corpus/<target>/ (committed); the grown corpus
# and any crash input go to .build/fuzz/. Exits non-zero when a target crashes.
set -euo pipefail
seconds=${1:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/.build/fuzz"; mkdir -p "$out"
# The modules are compiled into each target as one module, so their cross-module imports go.
sources() { for dir in "$@"; do for f in "$root/Sources/$dir"/*.swift "$root/Sources/$dir"/*/*.swift; do [ -f "$f" ] && echo "$f"; done; done; }
# swift-crypto (HybridSyncCrypto's HMAC and keys) is linked as SwiftPM builds it (uninstrumented):
# the fuzzers cover our parsers, not BoringSSL.
swift build -q --target HybridSyncCrypto
bin=$(swift build --show-bin-path)
mapfile -t crypto_objects < <(find "$bin"/{Crypto,CryptoExtras,CryptoBoringWrapper,CCryptoBoringSSL,CCryptoBoringSSLShims,CXKCP,CXKCPShims,SwiftASN1}.build -name '*.o')
build() {
    local name=$1; shift
    local staging="$out/src-$name"; rm -rf "$staging"; mkdir -p "$staging"
    for f in $(sources "$@"); do
        sed -E '/^(public |package |internal )?import HybridSync/d' "$f" > "$staging/$(basename "$(dirname "$f")")_$(basename "$f")"
    done
    cp "$root/Tests/Fuzz/fuzz_$name.swift" "$staging/"
    swiftc -O -sanitize=fuzzer,address -parse-as-library -module-name Fuzz$name -package-name HybridSync \
        -I "$bin/Modules" "${crypto_objects[@]}" "$staging"/*.swift -o "$out/fuzz_$name" 2>"$out/build-$name.log" \
        || { grep -v "ld.gold: warning" "$out/build-$name.log"; exit 1; }
}
build frames HybridSyncWebSocket HybridSyncHTTP HybridSyncProtocol
build http HybridSyncHTTP HybridSyncWebSocket HybridSyncProtocol
build jwt HybridSyncProtocol HybridSyncCrypto
status=0
for name in frames http jwt; do
    corpus="$out/corpus-$name"; mkdir -p "$corpus"; cp "$root/Tests/Fuzz/corpus/$name/"* "$corpus/"
    log="$out/fuzz_$name.log"
    if "$out/fuzz_$name" -max_total_time="$seconds" -max_len=4096 -artifact_prefix="$out/crash-$name-" "$corpus" >"$log" 2>&1; then
        echo "fuzz $name: $(grep -Eo 'Done [0-9]+ runs in [0-9]+ second\(s\)' "$log" | tail -1), corpus $(ls "$corpus" | wc -l) inputs, 0 crashes"
    else
        status=1
        echo "fuzz $name: CRASH, input in $out/crash-$name-*"; grep -E "ERROR|Fatal|precondition" "$log" | head -5
    fi
done
exit $status
