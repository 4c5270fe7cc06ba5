import Foundation
import HybridSyncBroker
import HybridSyncLWS
import HybridSyncProtocol
import HybridSyncServer
import HybridSyncSQLite
import Logging
import Prometheus
import ServiceLifecycle

/// Runs the transport and the server until graceful shutdown, then drains and stops.
struct DaemonService: Service, CustomStringConvertible {
    let configuration: DaemonConfiguration
    let logger: Logger
    /// Where the metrics are collected; exported as Prometheus text on the API's `/metrics`.
    let metrics: PrometheusCollectorRegistry

    /// What ServiceGroup logs for this service: never the configuration (it holds secrets).
    var description: String { "hybridsyncd" }

    func run() async throws {
        // The engine is loaded (deny-list included) before anything listens.
        let broker = try makeBroker()
        let transport = LWSServerTransport(configuration: configuration.transport, logger: logger)
        let server = SyncServer(configuration: configuration.server, transport: transport, broker: broker, logger: logger)
        let metrics = metrics
        server.metricsExporter = { metrics.emitToBuffer() }
        if configuration.usesDevelopmentSecrets {
            logger.warning("using the development api.key / auth.tokenSecret from Config/hybridsyncd.yaml: set HYBRIDSYNC_API_KEY and HYBRIDSYNC_AUTH_TOKEN_SECRET before exposing this daemon")
        }
        let bound = try transport.start(delegate: server)
        logger.info("hybridsyncd listening", metadata: ["websocket": "\(bound.publicURL)", "api": "\(bound.apiURL)"])
        // One machine-readable line on stdout, for scripts and the TestDaemon harness.
        FileHandle.standardOutput.write(Data("hybridsyncd ready ws=\(bound.publicURL) api=\(bound.apiURL)\n".utf8))

        try? await gracefulShutdown()

        logger.info("shutting down: disconnect push and close \(CloseCode.shutdown) to every client", metadata: [
            "grace_seconds": "\(configuration.shutdownGraceSeconds)",
        ])
        await transport.shutdown(code: .shutdown, grace: .milliseconds(Int(configuration.shutdownGraceSeconds * 1000)))
        logger.info("hybridsyncd stopped")
    }

    private func makeBroker() throws -> any Broker {
        switch configuration.engine {
        case .memory:
            logger.info("engine: memory (a restart forgets streams, retained state and bans)")
            return MemoryBroker()
        case .sqlite(let path, let synchronous):
            let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
            do {
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            } catch {
                throw DaemonConfiguration.Invalid(description: "engine.sqlite.path: cannot create \(directory.path): \(error.localizedDescription)")
            }
            return try SQLiteBroker(path: path, synchronous: synchronous, logger: logger)
        }
    }
}
