import Foundation
import HybridSyncLWS
import HybridSyncProtocol
import HybridSyncServer
import Logging
import ServiceLifecycle

/// Runs the transport and the server until graceful shutdown, then drains and stops.
struct DaemonService: Service, CustomStringConvertible {
    let configuration: DaemonConfiguration
    let logger: Logger

    /// What ServiceGroup logs for this service: never the configuration (it holds secrets).
    var description: String { "hybridsyncd" }

    func run() async throws {
        let transport = LWSServerTransport(configuration: configuration.transport, logger: logger)
        let server = SyncServer(configuration: configuration.server, transport: transport, logger: logger)
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
}
