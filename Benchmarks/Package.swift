// swift-tools-version: 6.2
// Micro-benchmarks of HybridSync's hot paths (ordo-one/benchmark), kept out of the main package so
// `make test` never builds them. Run: `make microbench` (or `cd Benchmarks && swift package benchmark`).
import PackageDescription

let package = Package(
    name: "HybridSyncBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "HotPaths",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "HybridSyncProtocol", package: "main"),
                .product(name: "HybridSyncTesting", package: "main"),
            ],
            path: "Benchmarks/HotPaths",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
