// swift-tools-version: 6.2
// Micro-benchmarks of HybridSync's hot paths (ordo-one/benchmark), kept out of the main package so
// `make test` never builds them. Run: `make microbench` (or `cd Benchmarks && swift package benchmark`).
import PackageDescription

let package = Package(
    name: "HybridSyncBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "HybridSync", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        .executableTarget(
            name: "HotPaths",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "HybridSyncProtocol", package: "HybridSync"),
                .product(name: "HybridSyncServer", package: "HybridSync"),
                .product(name: "HybridSyncServerTransport", package: "HybridSync"),
                .product(name: "HybridSyncAdmin", package: "HybridSync"),
                .product(name: "HybridSyncWebSocket", package: "HybridSync"),
                .product(name: "HybridSyncHTTP", package: "HybridSync"),
                .product(name: "HybridSyncAPI", package: "HybridSync"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/HotPaths",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
