#!/usr/bin/env python3
"""Checks from the package graph (`swift package describe --type json`, not a grep) that the client
SDK product (HybridSyncClient) builds wherever Swift apps run: its closure holds no system-library
target (no C library to install: no libwebsockets, libev, OpenSSL), no server code (HybridSyncLWS,
HybridSyncWebSocket, HybridSyncServer, HybridSyncCrypto…), and only the package products it needs
(swift-log, DequeModule, SwiftNIO and NIOSSL for its transport); and that a client-only program
(Examples/ClientOnly) links no libwebsockets, libev, libssl or libcrypto. Prints one closing line
'sdk-dependencies: N passed, N failed'."""
import json
import subprocess
import sys

FORBIDDEN = {"HybridSyncServer", "HybridSyncCrypto", "HybridSyncLWS", "HybridSyncWebSocket", "HybridSyncBroker",
             "HybridSyncSQLite", "HybridSyncRedis", "HybridSyncTesting", "HybridSyncAdmin", "hybridsyncd",
             "Configuration", "ServiceLifecycle", "Prometheus", "UnixSignals", "ArgumentParser"}
ALLOWED_PRODUCTS = {"Logging", "DequeModule", "NIOConcurrencyHelpers", "NIOCore", "NIOHTTP1", "NIOPosix",
                    "NIOWebSocket", "NIOSSL"}

package = json.loads(subprocess.run(["swift", "package", "describe", "--type", "json"],
                                    check=True, capture_output=True, text=True).stdout)
targets = {target["name"]: target for target in package["targets"]}

seen, products, stack = set(), set(), ["HybridSyncClient"]
while stack:
    name = stack.pop()
    if name in seen:
        continue
    seen.add(name)
    target = targets[name]
    stack.extend(target.get("target_dependencies", []))
    products.update(target.get("product_dependencies", []))

failures = []
for name in sorted(seen):
    if targets[name].get("type") == "system-target":
        failures.append(f"HybridSyncClient depends on the system library target {name}")
for name in sorted((seen | products) & FORBIDDEN):
    failures.append(f"HybridSyncClient depends on {name}")
for name in sorted(products - ALLOWED_PRODUCTS):
    failures.append(f"HybridSyncClient pulls in the package product {name}; only {sorted(ALLOWED_PRODUCTS)} are expected")

# What an app links: the client-only example's shared libraries (built by `swift build`).
bin_path = subprocess.run(["swift", "build", "--show-bin-path"], check=True, capture_output=True, text=True).stdout.strip()
example = f"{bin_path}/hybridsync-client-example"
try:
    linked = subprocess.run(["ldd", example], check=True, capture_output=True, text=True).stdout
except (OSError, subprocess.CalledProcessError) as error:
    failures.append(f"cannot read the shared libraries of {example} (build it first): {error}")
    linked = ""
for library in ["libwebsockets", "libev.", "libssl", "libcrypto"]:
    if library in linked:
        failures.append(f"hybridsync-client-example links {library}: " + next(l.strip() for l in linked.splitlines() if library in l))

for failure in failures:
    print("FAIL:", failure)
print(f"SDK closure: targets {sorted(seen)}, products {sorted(products)}")
print(f"sdk-dependencies: {0 if failures else 1} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
