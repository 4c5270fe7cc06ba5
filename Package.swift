// swift-tools-version: 6.2
import PackageDescription

/// Every Swift target gets the same upcoming features, so the rules are the same everywhere.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "HybridSync",
    // The SDK's floor is Observation's (ObservedState): iOS 17, macOS 14, tvOS 17, visionOS 1. The
    // daemon and its tools build on Linux only.
    platforms: [.macOS(.v14), .iOS(.v17), .tvOS(.v17), .visionOS(.v1)],
    products: [
        .library(name: "HybridSyncClient", targets: ["HybridSyncClient"]),
        .library(name: "HybridSyncProtocol", targets: ["HybridSyncProtocol"]),
        // The in-memory half (InMemoryServer, ManualClock, token minting): builds wherever the SDK does.
        .library(name: "HybridSyncTesting", targets: ["HybridSyncTesting"]),
        // The real-daemon half (TestDaemon, TestRedis): Linux, with hybridsyncd built beside the tests.
        .library(name: "HybridSyncDaemonTesting", targets: ["HybridSyncDaemonTesting"]),
        .library(name: "HybridSyncAdmin", targets: ["HybridSyncAdmin"]),
        // The server without a transport of its own, and the seam a transport implements (the
        // benchmarks package drives it in memory).
        .library(name: "HybridSyncServer", targets: ["HybridSyncServer"]),
        .library(name: "HybridSyncServerTransport", targets: ["HybridSyncServerTransport"]),
        // The edge's HTTP/1.1 model and parser, the RFC 6455 code and the backend API's router (the
        // benchmarks package measures the handshake, frame packing and an API publish).
        .library(name: "HybridSyncWebSocket", targets: ["HybridSyncWebSocket"]),
        .library(name: "HybridSyncHTTP", targets: ["HybridSyncHTTP"]),
        .library(name: "HybridSyncAPI", targets: ["HybridSyncAPI"]),
        .executable(name: "hybridsyncd", targets: ["hybridsyncd"]),
        .executable(name: "hybridsync", targets: ["hybridsync"]),
        .executable(name: "hybridsync-demo", targets: ["hybridsync-demo"]),
        .executable(name: "hybridsync-viewmodel-example", targets: ["hybridsync-viewmodel-example"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        // The client SDK's WebSocket transport (no system library: NIOSSL carries BoringSSL).
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        // HybridSyncCrypto's HMAC and RS256/ES256 verification (CryptoKit on Apple platforms).
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(
            url: "https://github.com/apple/swift-configuration",
            from: "1.4.0",
            traits: [.defaults, "YAML", "CommandLineArguments"]
        ),
    ],
    targets: [
        // C shims: the only places that include C headers.
        .systemLibrary(
            name: "CLibWebSockets",
            pkgConfig: "libwebsockets",
            providers: [.apt(["libwebsockets-dev", "libssl-dev"])]
        ),
        .systemLibrary(
            name: "CLibEV",
            providers: [.apt(["libev-dev", "libwebsockets-evlib-ev"])]
        ),
        // No pkgConfig needed: zlib.h and -lz are in the default paths (zlib1g-dev, a dependency of
        // libwebsockets-dev; the daemon already links libz through libwebsockets).
        .systemLibrary(
            name: "CZlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),

        // No pkgConfig: hiredis.pc only adds -I/usr/include/hiredis (the shim includes
        // <hiredis/hiredis.h>) and -D_FILE_OFFSET_BITS=64, which SwiftPM drops with a warning.
        .systemLibrary(
            name: "CHiredis",
            providers: [.apt(["libhiredis-dev"])]
        ),

        // Pure Swift: wire frames, codec, codes, transport seams. No I/O.
        .target(
            name: "HybridSyncProtocol",
            swiftSettings: swiftSettings
        ),
        // Pure Swift: the seam between the server and its transports (connections, shared encoded
        // messages). Kept out of HybridSyncProtocol, which the SDK re-exports.
        .target(
            name: "HybridSyncServerTransport",
            dependencies: ["HybridSyncProtocol"],
            swiftSettings: swiftSettings
        ),
        // Pure Swift: the edge's HTTP/1.1 model (request, response, the error table) and its strict
        // request parser. No I/O.
        .target(
            name: "HybridSyncHTTP",
            dependencies: ["HybridSyncProtocol"],
            swiftSettings: swiftSettings
        ),
        // Pure Swift: RFC 6455 framing and the upgrade handshake for the server's edge. No I/O.
        .target(
            name: "HybridSyncWebSocket",
            dependencies: ["HybridSyncHTTP"],
            swiftSettings: swiftSettings
        ),
        // The only Swift importer of swift-crypto: HMAC, constant-time compare, JWT (no system library,
        // so the in-memory server and the token minter build wherever the SDK does).
        .target(
            name: "HybridSyncCrypto",
            dependencies: [
                "HybridSyncProtocol",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        // The only Swift importer of libwebsockets.
        .target(
            name: "HybridSyncLWS",
            dependencies: [
                "CLibEV",
                "CLibWebSockets",
                "HybridSyncHTTP",
                "HybridSyncProtocol",
                "HybridSyncServerTransport",
                "HybridSyncWebSocket",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: swiftSettings
        ),
        // Where streams live: the Broker seam, its in-memory image and the memory engine.
        .target(
            name: "HybridSyncBroker",
            dependencies: [
                "HybridSyncProtocol",
                "HybridSyncServerTransport",
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: swiftSettings
        ),
        // The durable embedded engine; the only Swift importer of SQLite.
        .target(
            name: "HybridSyncSQLite",
            dependencies: [
                "CSQLite",
                "HybridSyncBroker",
                "HybridSyncProtocol",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The multi-node engine on Redis; the only Swift importer of hiredis.
        .target(
            name: "HybridSyncRedis",
            dependencies: [
                "CHiredis",
                "HybridSyncBroker",
                "HybridSyncProtocol",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The browser files of clients/js, embedded at build time, and the pages that serve them.
        .target(
            name: "HybridSyncWeb",
            dependencies: ["HybridSyncHTTP", "HybridSyncProtocol"],
            swiftSettings: swiftSettings,
            plugins: ["EmbedWebFiles"]
        ),
        // The only Swift importer of zlib: gzip for the browser files the daemon serves.
        .target(
            name: "HybridSyncGzip",
            dependencies: ["CZlib"],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "hybridsync-embed",
            swiftSettings: swiftSettings
        ),
        .plugin(
            name: "EmbedWebFiles",
            capability: .buildTool(),
            dependencies: ["hybridsync-embed"]
        ),
        .target(
            name: "HybridSyncServer",
            dependencies: [
                "HybridSyncBroker",
                "HybridSyncProtocol",
                "HybridSyncServerTransport",
                "HybridSyncCrypto",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: swiftSettings
        ),
        // The app backend's connect and subscribe proxies over HTTP, on SwiftNIO's threads.
        .target(
            name: "HybridSyncHooks",
            dependencies: [
                "HybridSyncBroker",
                "HybridSyncCrypto",
                "HybridSyncProtocol",
                "HybridSyncServer",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),
        // The backend HTTP API: the route table in front of the server's typed operations.
        .target(
            name: "HybridSyncAPI",
            dependencies: [
                "HybridSyncBroker",
                "HybridSyncCrypto",
                "HybridSyncHTTP",
                "HybridSyncProtocol",
                "HybridSyncServer",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "HybridSyncClient",
            dependencies: [
                "HybridSyncProtocol",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),
        // For backend services and operators: the typed backend API client and the token minter.
        .target(
            name: "HybridSyncAdmin",
            dependencies: ["HybridSyncProtocol", "HybridSyncCrypto"],
            swiftSettings: swiftSettings
        ),
        // In memory, no system library: builds for every platform the SDK does.
        .target(
            name: "HybridSyncTesting",
            dependencies: [
                "HybridSyncAdmin",
                "HybridSyncAPI",
                "HybridSyncHTTP",
                "HybridSyncWebSocket",
                "HybridSyncServerTransport",
                "HybridSyncBroker",
                "HybridSyncProtocol",
                "HybridSyncServer",
                "HybridSyncClient",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // Processes on this machine (hybridsyncd, redis-server): Linux only. Re-exports HybridSyncTesting.
        .target(
            name: "HybridSyncDaemonTesting",
            dependencies: [
                "HybridSyncTesting",
                "HybridSyncClient",
                "HybridSyncProtocol",
                "HybridSyncCrypto",
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "hybridsyncd",
            dependencies: [
                "HybridSyncAPI",
                "HybridSyncBroker",
                "HybridSyncHTTP",
                "HybridSyncSQLite",
                "HybridSyncRedis",
                "HybridSyncServer",
                "HybridSyncCrypto",
                "HybridSyncProtocol",
                "HybridSyncLWS",
                "HybridSyncWeb",
                "HybridSyncGzip",
                "HybridSyncAdmin",
                "HybridSyncHooks",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "hybridsync",
            dependencies: [
                "HybridSyncProtocol",
                "HybridSyncAdmin",
                "HybridSyncClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "hybridsync-demo",
            dependencies: ["HybridSyncClient", "HybridSyncTesting"],
            path: "Examples/TwoMicroApps",
            swiftSettings: swiftSettings
        ),
        // Autobahn|Testsuite's fuzzingserver driven through the SDK's transport (make check-long).
        .executableTarget(
            name: "hybridsync-autobahn-client",
            dependencies: ["HybridSyncClient"],
            swiftSettings: swiftSettings
        ),
        // The SDK alone, as an app links it (make test checks its shared libraries with ldd).
        .executableTarget(
            name: "hybridsync-client-example",
            dependencies: ["HybridSyncClient"],
            path: "Examples/ClientOnly",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "hybridsync-viewmodel-example",
            dependencies: ["HybridSyncClient", "HybridSyncTesting"],
            path: "Examples/ObservableViewModel",
            swiftSettings: swiftSettings
        ),

        .testTarget(
            name: "HybridSyncProtocolTests",
            dependencies: ["HybridSyncProtocol"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "HybridSyncHTTPTests",
            dependencies: ["HybridSyncHTTP"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "HybridSyncWebSocketTests",
            dependencies: ["HybridSyncHTTP", "HybridSyncWebSocket"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "HybridSyncServerTests",
            dependencies: [
                "HybridSyncServer", "HybridSyncServerTransport", "HybridSyncBroker", "HybridSyncSQLite", "HybridSyncRedis",
                "HybridSyncCrypto", "HybridSyncHTTP", "HybridSyncHooks",
                "HybridSyncDaemonTesting",
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "HybridSyncClientTests",
            dependencies: ["HybridSyncClient", "HybridSyncHTTP", "HybridSyncTesting", "HybridSyncDaemonTesting"],
            swiftSettings: swiftSettings
        ),
        // Every Swift block of README.md, docs/CLIENT.md and docs/TESTING.md, verbatim
        // (scripts/check_doc_snippets.py checks that each one is here).
        .testTarget(
            name: "DocSnippets",
            dependencies: [
                "HybridSyncClient", "HybridSyncTesting", "HybridSyncDaemonTesting",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Tests/DocSnippets",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "HybridSyncIntegrationTests",
            dependencies: [
                "HybridSyncClient", "HybridSyncDaemonTesting", "HybridSyncCrypto", "HybridSyncGzip",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
