import Foundation
import HybridSyncAdmin
import HybridSyncAPI
import HybridSyncBroker
import HybridSyncGzip
import HybridSyncHTTP
import HybridSyncHooks
import HybridSyncLWS
import HybridSyncProtocol
import HybridSyncServer
import HybridSyncRedis
import HybridSyncSQLite
import HybridSyncWeb
import Logging
import Prometheus
import ServiceLifecycle
import UnixSignals
import Synchronization

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
        let transport = LWSServerTransport(
            configuration: configuration.transport, logger: logger,
            publicPages: Self.publicPages(configuration), apiPages: Self.apiPages(configuration)
        )
        let broker = try makeBroker(resultsOn: transport)
        let clock = SystemClock()
        let hooks = HTTPBackendHooks(configuration: configuration.hooks, logger: logger, monotonic: { clock.monotonic() }) { work in
            transport.onServiceThread(work)
        }
        let webhooks = try makeWebhooks(resultsOn: transport)
        let server = SyncServer(
            configuration: configuration.server, transport: transport, broker: broker, hooks: hooks.connects || hooks.subscribes ? hooks : nil,
            webhooks: webhooks, clock: clock, logger: logger
        )
        let metrics = metrics
        server.metricsExporter = { metrics.emitToBuffer() }
        if configuration.usesDevelopmentSecrets {
            logger.warning("using the development api.key / auth.tokenSecret from Config/hybridsyncd.yaml: set HYBRIDSYNC_API_KEY and HYBRIDSYNC_AUTH_TOKEN_SECRET before exposing this daemon")
        }
        let router = BackendAPIRouter(server: server, logger: logger)
        let bound = try transport.start(delegate: server, api: router.handle)
        if let webhooks {
            let outbox = UncheckedServer.Box(webhooks)
            transport.onServiceThread { outbox.value.start() }
        }
        logger.info("hybridsyncd listening", metadata: ["websocket": "\(bound.publicURL)", "api": "\(bound.apiURL)"])
        // One machine-readable line on stdout, for scripts and the TestDaemon harness.
        FileHandle.standardOutput.write(Data("hybridsyncd ready ws=\(bound.publicURL) api=\(bound.apiURL)\n".utf8))

        // SIGHUP: read the configuration again and apply what can change while running.
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        let reloads = Task { [server = UncheckedServer(server), logger, configuration] in
            var running = configuration
            for await _ in hangups {
                running = await Self.reload(running, into: server, transport: transport, logger: logger)
            }
        }
        try? await gracefulShutdown()
        reloads.cancel()

        logger.info("shutting down: disconnect push and close \(CloseCode.shutdown) to every client", metadata: [
            "grace_seconds": "\(configuration.shutdownGraceSeconds)",
        ])
        await transport.shutdown(code: .shutdown, grace: .milliseconds(Int(configuration.shutdownGraceSeconds * 1000)))
        logger.info("hybridsyncd stopped")
    }

    /// `/client/hybridsync.js` always, the demo with `server.demo` (docs/BROWSER.md).
    static func publicPages(_ configuration: DaemonConfiguration) -> HTTPPages {
        var demoToken: (@Sendable (String) -> String)?
        if configuration.demo, let secret = configuration.server.auth.hmacSecret {
            let minter = TokenMinter(secret: String(decoding: secret, as: UTF8.self))
            demoToken = { user in minter.token(user: user) }
        }
        let site = WebSite.publicListener(allowedOrigins: configuration.transport.allowedOrigins, demoToken: demoToken,
                                          compress: { Gzip.compress($0) })
        return { site.response(to: $0) }
    }

    /// The web console with `api.console` (the default).
    static func apiPages(_ configuration: DaemonConfiguration) -> HTTPPages? {
        guard configuration.console else { return nil }
        let site = WebSite.console(compress: { Gzip.compress($0) })
        return { site.response(to: $0) }
    }

    /// One reload: an invalid file keeps the running configuration (and says why); a valid one
    /// is applied on the service thread, and what needs a restart is named.
    static func reload(
        _ running: DaemonConfiguration, into server: UncheckedServer, transport: LWSServerTransport, logger: Logger
    ) async -> DaemonConfiguration {
        let new: DaemonConfiguration
        do {
            new = try await HybridSyncDaemon.loadConfiguration()
        } catch {
            logger.error("SIGHUP: the configuration was not reloaded, the running one stays: \(error)")
            return running
        }
        var restartNeeded: [String] = []
        if new.transport != running.transport { restartNeeded.append("server.*, api.host/port/maxBodyBytes, limits of the edge") }
        if new.engine != running.engine { restartNeeded.append("engine.*") }
        if new.shutdownGraceSeconds != running.shutdownGraceSeconds { restartNeeded.append("shutdown.graceSeconds") }
        if new.logFormat != running.logFormat { restartNeeded.append("log.format") }
        if new.demo != running.demo || new.console != running.console { restartNeeded.append("server.demo, api.console") }
        var level = ""
        if new.logLevel != running.logLevel, let parsed = Logger.Level(rawValue: new.logLevel) {
            DaemonLogHandler.level.withLock { $0 = parsed }
            level = "log.level"
        }
        var reloaded = new.server
        reloaded.maxMessageBytes = running.transport.maxMessageBytes  // the edge's limit needs a restart
        let serverConfiguration = reloaded
        let (changed, finished) = AsyncStream.makeStream(of: [String].self)
        transport.onServiceThread {
            finished.yield(server.value.reconfigure(serverConfiguration))
            finished.finish()
        }
        var applied: [String] = []
        for await names in changed { applied = names }
        if !level.isEmpty { applied.append(level) }
        logger.info("SIGHUP: configuration reloaded", metadata: [
            "changed": "\(applied.isEmpty ? "nothing" : applied.joined(separator: ", "))",
            "needs_restart": "\(restartNeeded.isEmpty ? "nothing" : restartNeeded.joined(separator: "; "))",
        ])
        var kept = new
        kept.transport = running.transport
        kept.engine = running.engine
        return kept
    }

    /// The webhook outbox (`webhooks.*`), durable beside the SQLite engine's file (`<path>.webhooks`).
    private func makeWebhooks(resultsOn transport: LWSServerTransport) throws -> WebhookOutbox? {
        guard let webhooks = configuration.webhooks else { return nil }
        let store: any WebhookStore
        if case .sqlite(let path, _) = configuration.engine {
            do {
                store = try SQLiteWebhookStore(path: path + ".webhooks")
            } catch {
                throw DaemonConfiguration.Invalid(description: error.message)
            }
        } else {
            store = MemoryWebhookStore()
        }
        return WebhookOutbox(configuration: webhooks, store: store, logger: logger) { work in transport.onServiceThread(work) }
    }

    /// The configured engine; a networked one hands its results to `transport`'s service thread.
    private func makeBroker(resultsOn transport: LWSServerTransport) throws -> any Broker {
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
        case .redis(let redis):
            return RedisBroker(configuration: redis, logger: logger) { work in transport.onServiceThread(work) }
        }
    }
}

/// The server, handed to the reload task: it is only ever touched on the service thread
/// (`LWSServerTransport.onServiceThread`), which is what makes the transfer safe.
struct UncheckedServer: @unchecked Sendable {
    let value: SyncServer
    init(_ value: SyncServer) { self.value = value }

    /// Another object of the service thread, handed over the same way (the webhook outbox).
    struct Box<Value: AnyObject>: @unchecked Sendable {
        let value: Value
        init(_ value: Value) { self.value = value }
    }
}
