import Configuration
import Foundation
import HybridSyncLWS
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import UnixSignals
import SystemPackage
import Synchronization

/// `hybridsyncd`: the HybridSync daemon. See DaemonConfiguration for every setting.
@main
enum HybridSyncDaemon {
    static let defaultConfigPath = "Config/hybridsyncd.yaml"

    static func main() async {
        if CommandLine.arguments.contains("--help") || CommandLine.arguments.contains("-h") {
            print(usage)
            return
        }
        LoggingSystem.bootstrap(DaemonLogHandler.init)
        // Before any metric handle exists: the server's counters land in this registry (GET /metrics).
        let metrics = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: metrics))
        var logger = Logger(label: "hybridsyncd")
        raiseOpenFileLimit()
        do {
            let configuration = try await loadConfiguration()
            DaemonLogHandler.format.withLock { $0 = configuration.logFormat }
            if CommandLine.arguments.contains("--print-config") {
                print(configuration.printed)
                return
            }
            if CommandLine.arguments.contains("--check-config") {
                // Everything a start checks (types, values, unknown keys, exposed development
                // secrets), without listening or opening the engine.
                print("hybridsyncd: the configuration is valid")
                return
            }
            if let level = Logger.Level(rawValue: configuration.logLevel) {
                logger.logLevel = level
                DaemonLogHandler.level.withLock { $0 = level }
            } else {
                logger.warning("unknown log.level '\(configuration.logLevel)', using info")
            }
            LWSLog.install(logger: logger, verbose: logger.logLevel <= .debug)
            let service = DaemonService(configuration: configuration, logger: logger, metrics: metrics)
            let group = ServiceGroup(configuration: .init(
                services: [.init(service: service)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            ))
            try await group.run()
        } catch {
            logger.critical("hybridsyncd cannot run: \(error)")
            exit(1)
        }
    }

    /// Every client is a file descriptor: use the whole hard limit the operator allows.
    static func raiseOpenFileLimit() {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }

    /// Flags > `HYBRIDSYNC_*` environment > YAML file > defaults. The file is `--config PATH`
    /// (or `HYBRIDSYNC_CONFIG`), else `Config/hybridsyncd.yaml` if it exists.
    static func loadConfiguration() async throws -> DaemonConfiguration {
        let flags = CommandLineArgumentsProvider()
        let environment = EnvironmentVariablesProvider().prefixKeys(with: "hybridsync")
        let early = ConfigReader(providers: [flags, environment])
        let explicitPath = early.string(forKey: "config")
        let path = explicitPath ?? defaultConfigPath
        let file = try await FileProvider<YAMLSnapshot>(filePath: FilePath(path), allowMissing: explicitPath == nil)
        let collector = KeyCollector()
        let configuration = try DaemonConfiguration(config: ConfigReader(providers: [flags, environment, file], accessReporter: collector))
        let text = try? String(contentsOfFile: path, encoding: .utf8)
        let unknown = UnknownKeys.find(
            known: collector.keys, flags: Array(CommandLine.arguments.dropFirst()),
            environment: ProcessInfo.processInfo.environment, file: text.map { (path, $0) }
        )
        let wrongTypes = UnknownKeys.describe(wrongTypes: collector.wrongTypes, file: text.map { (path, $0) })
        guard wrongTypes.isEmpty else {
            throw DaemonConfiguration.Invalid(description: "configuration values of the wrong type: " + wrongTypes.joined(separator: "; "))
        }
        try configuration.checkSecretsForExposure()
        try configuration.checkDemoForExposure()
        guard unknown.isEmpty else {
            throw DaemonConfiguration.Invalid(description: "unknown configuration keys (docs/CONFIGURATION.md lists every key): "
                + unknown.joined(separator: "; "))
        }
        return configuration
    }

    static let usage = """
        hybridsyncd: the HybridSync realtime state-sync daemon

        usage: hybridsyncd [--config PATH] [--KEY VALUE ...] [--check-config]

        Every setting is a key such as server.port; set it as a flag (--server-port 9000), an
        environment variable (HYBRIDSYNC_SERVER_PORT=9000) or in the YAML file (server: {port: 9000}).
        Flags win over the environment, which wins over the file. The file is --config PATH,
        HYBRIDSYNC_CONFIG, or Config/hybridsyncd.yaml when present. Keys and defaults: docs/CONFIGURATION.md.

        --print-config (last) prints the effective configuration (defaults included, secrets
        redacted) after the same checks, and exits.
        --check-config (last) checks the configuration as a start would (types, values, unknown keys,
        development secrets on a public address) and exits 0, or 1 with what is wrong.

        On start it prints one line to stdout: "hybridsyncd ready ws=URL api=URL".
        SIGTERM or SIGINT: clients are closed with code 4000 (reconnect), then it exits 0.
        """
}
