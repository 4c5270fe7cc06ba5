#!/usr/bin/env python3
"""Checks from the package graph (`swift package describe --type json`, not a grep) that the client
SDK product (HybridSyncClient) builds wherever Swift apps run: its closure holds no system-library
target (no C library to install: no libwebsockets, libev, OpenSSL), no server code (HybridSyncLWS,
HybridSyncWebSocket, HybridSyncHTTP, HybridSyncServer, HybridSyncCrypto…), and only the package products it needs
(swift-log, DequeModule, SwiftNIO and NIOSSL for its transport); that the in-memory testing library
(HybridSyncTesting: InMemoryServer, ManualClock, token minting) holds no system-library target and
none of the daemon's or the real-daemon harness's targets either, so app teams test where they
build; and that a client-only program (Examples/ClientOnly) links no libwebsockets, libev, libssl or
libcrypto; and, in both closures' sources, no API newer than the SDK's platforms and no Glibc/Darwin
import outside `#if canImport`. Prints one closing line 'sdk-dependencies: N passed, N failed'."""
import json
import subprocess
import sys

DAEMON_ONLY = {"HybridSyncLWS", "HybridSyncSQLite", "HybridSyncRedis", "HybridSyncDaemonTesting", "HybridSyncWeb",
               "hybridsyncd", "hybridsync", "Configuration", "ServiceLifecycle", "Prometheus", "UnixSignals",
               "ArgumentParser", "Yams", "SystemPackage"}
# What each library may hold: forbidden targets, and the package products it may pull in.
CHECKS = {
    "HybridSyncClient": (DAEMON_ONLY | {"HybridSyncServer", "HybridSyncCrypto", "HybridSyncWebSocket",
                                         "HybridSyncBroker", "HybridSyncTesting", "HybridSyncAdmin",
                                         "HybridSyncHTTP", "HybridSyncAPI", "HybridSyncServerTransport"},
                         {"Logging", "DequeModule", "NIOConcurrencyHelpers", "NIOCore", "NIOHTTP1", "NIOPosix",
                          "NIOWebSocket", "NIOSSL"}),
    "HybridSyncTesting": (DAEMON_ONLY,
                          {"Logging", "Metrics", "DequeModule", "NIOConcurrencyHelpers", "NIOCore", "NIOHTTP1",
                           "NIOPosix", "NIOWebSocket", "NIOSSL", "Crypto", "CryptoExtras"}),
}

package = json.loads(subprocess.run(["swift", "package", "describe", "--type", "json"],
                                    check=True, capture_output=True, text=True).stdout)
targets = {target["name"]: target for target in package["targets"]}


def closure(root):
    seen, products, stack = set(), set(), [root]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        target = targets[name]
        stack.extend(target.get("target_dependencies", []))
        products.update(target.get("product_dependencies", []))
    return seen, products


failures = []
closures = {}
for root, (forbidden, allowed_products) in CHECKS.items():
    seen, products = closures[root] = closure(root)
    for name in sorted(seen):
        if targets[name].get("type") == "system-target":
            failures.append(f"{root} depends on the system library target {name}")
    for name in sorted((seen | products) & forbidden):
        failures.append(f"{root} depends on {name}")
    for name in sorted(products - allowed_products):
        failures.append(f"{root} pulls in the package product {name}; only {sorted(allowed_products)} are expected")

# Source rules the package graph cannot show: the SDK builds for iOS 17 / macOS 14, so no API that
# needs iOS 18 / macOS 15 (Synchronization's Mutex and Atomic, String(validating:)), and no
# platform C module outside `#if canImport(...)`.
import pathlib
import re
ROOT = pathlib.Path(__file__).resolve().parent.parent
NEWER_APIS = {"import Synchronization": "Synchronization (iOS 18, macOS 15)",
              "String(validating:": "String(validating:) (iOS 18, macOS 15)",
              "withTaskExecutorPreference": "task executors (iOS 18, macOS 15)"}
for name in sorted(set().union(*(seen for seen, _ in closures.values()))):
    for path in sorted((ROOT / "Sources" / name).rglob("*.swift")):
        depth = 0
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("//", 1)[0]
            if re.match(r"\s*#if\s+canImport", code):
                depth += 1
            elif re.match(r"\s*#endif", code) and depth:
                depth -= 1
            for needle, what in NEWER_APIS.items():
                if needle in code:
                    failures.append(f"{path.relative_to(ROOT)}:{number} uses {what}")
            if re.match(r"\s*(public |package |internal )?import (Glibc|Darwin|Musl)\b", code) and not depth:
                failures.append(f"{path.relative_to(ROOT)}:{number} imports a platform module outside #if canImport")

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
for root, (seen, products) in closures.items():
    print(f"{root} closure: targets {sorted(seen)}, products {sorted(products)}")
print(f"sdk-dependencies: {0 if failures else 1} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
