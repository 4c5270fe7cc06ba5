import Configuration
import Foundation
import HybridSyncCrypto
import HybridSyncHooks
import HybridSyncBroker
import HybridSyncProtocol
import HybridSyncLWS
import HybridSyncServer
import HybridSyncRedis
import HybridSyncSQLite

/// Everything `hybridsyncd` reads from its configuration, with defaults. docs/CONFIGURATION.md
/// lists every key with its type, default and meaning; the doc comment of each field of
/// `LWSServerConfiguration` and `ServerConfiguration` names its key, and the engine, shutdown and
/// log keys are the fields below.
///
/// Sources, highest priority first: command-line flags (`--server-port 9000`), environment
/// variables (`HYBRIDSYNC_SERVER_PORT=9000`), the YAML file (`server: {port: 9000}`), defaults.
struct DaemonConfiguration {
    var transport: LWSServerConfiguration
    var server: ServerConfiguration
    /// `engine.kind`, `engine.sqlite.*`, `engine.redis.*`.
    var engine: Engine
    /// `shutdown.graceSeconds`.
    var shutdownGraceSeconds: Double
    /// `log.level`.
    var logLevel: String
    /// `log.format`: text lines or one JSON object per line.
    var logFormat: DaemonLogHandler.Format
    /// `server.demo`: the demo page and its token minter on the public listener (development only).
    var demo: Bool
    /// `api.console`: the web console on the API listener.
    var console: Bool
    /// `hooks.*`: the app backend's connect and subscribe proxies.
    var hooks: HTTPBackendHooks.Configuration
    /// `webhooks.*`: signed, batched event deliveries (nil without `webhooks.url`).
    var webhooks: WebhookOutbox.Configuration?

    /// `engine.*`: where streams, retained state and the deny-list live.
    enum Engine: Equatable {
        /// In memory: a restart forgets everything (every epoch changes).
        case memory
        /// The durable embedded engine: a SQLite database file.
        case sqlite(path: String, synchronous: SQLiteBroker.Synchronous)
        /// Shared by several nodes: one Redis.
        case redis(RedisBroker.Configuration)
    }

    /// Whether the secrets are the well-known development values shipped in Config/.
    var usesDevelopmentSecrets: Bool {
        server.apiKey == "dev-api-key" || server.auth.hmacSecret == Array("dev-token-secret-change-me".utf8)
    }

    /// The development secrets on an address other hosts reach: refused, they are public.
    func checkSecretsForExposure() throws {
        let exposed = [("server.host", transport.publicHost), ("api.host", transport.apiHost)].filter { !Self.loopback.contains($0.1) }
        guard usesDevelopmentSecrets, let (key, host) = exposed.first else { return }
        throw Invalid(description: "\(key) is \(host) but api.key or auth.tokenSecret is the public development value from "
            + "Config/hybridsyncd.yaml: set HYBRIDSYNC_API_KEY and HYBRIDSYNC_AUTH_TOKEN_SECRET (or the file's keys) to secrets of your own")
    }

    /// `server.demo`'s `/demo/token` mints a token for any user: only where nobody else reaches it.
    func checkDemoForExposure() throws {
        guard demo else { return }
        guard Self.loopback.contains(transport.publicHost) else {
            throw Invalid(description: "server.demo mints tokens for anyone who asks; it runs only with server.host on loopback "
                + "(127.0.0.1, ::1), got \(transport.publicHost): set server.demo to false (HYBRIDSYNC_SERVER_DEMO=false)")
        }
        guard server.auth.hmacSecret != nil else {
            throw Invalid(description: "server.demo mints HS256 tokens: set auth.tokenSecret, or server.demo to false")
        }
    }

    struct Invalid: Error, CustomStringConvertible {
        let description: String
    }

    init(config: ConfigReader) throws {
        var transport = LWSServerConfiguration()
        transport.publicHost = config.string(forKey: "server.host", default: transport.publicHost)
        transport.publicPort = config.int(forKey: "server.port", default: transport.publicPort)
        transport.allowedOrigins = config.stringArray(forKey: "server.allowedOrigins", default: [])
        transport.apiHost = config.string(forKey: "api.host", default: transport.apiHost)
        transport.apiPort = config.int(forKey: "api.port", default: transport.apiPort)
        transport.maxBodyBytes = config.int(forKey: "api.maxBodyBytes", default: transport.maxBodyBytes)
        transport.maxMessageBytes = config.int(forKey: "limits.maxMessageBytes", default: transport.maxMessageBytes)
        transport.maxQueuedBytes = config.int(forKey: "limits.maxQueuedBytes", default: transport.maxQueuedBytes)
        transport.writeDelayMillis = config.int(forKey: "limits.writeDelayMillis", default: transport.writeDelayMillis)
        transport.httpHeaderTimeoutSeconds = config.double(forKey: "limits.httpHeaderTimeoutSeconds", default: transport.httpHeaderTimeoutSeconds)
        transport.httpBodyTimeoutSeconds = config.double(forKey: "limits.httpBodyTimeoutSeconds", default: transport.httpBodyTimeoutSeconds)
        transport.maxHeaderBytes = config.int(forKey: "limits.maxHeaderBytes", default: transport.maxHeaderBytes)
        let maxConnections = config.int(forKey: "limits.maxConnections", default: 0)
        transport.maxConnections = maxConnections > 0 ? maxConnections : nil
        transport.maxAPIConnections = config.int(forKey: "limits.maxApiConnections", default: transport.maxAPIConnections)
        transport.maxConnectingPerThread = config.int(forKey: "limits.maxConnectingPerThread", default: transport.maxConnectingPerThread)
        transport.echoPath = config.string(forKey: "debug.echoPath").flatMap { $0.isEmpty ? nil : $0 }
        let threads = config.int(forKey: "server.threads", default: 0)
        guard (0...64).contains(threads) else {
            throw Invalid(description: "server.threads must be 0 (one per core) to 64, got \(threads)")
        }
        transport.threads = threads == 0 ? max(1, ProcessInfo.processInfo.activeProcessorCount) : threads
        if let path = transport.echoPath, !path.hasPrefix("/") {
            throw Invalid(description: "debug.echoPath must start with '/', got '\(path)'")
        }
        for (key, value) in [
            ("limits.httpHeaderTimeoutSeconds", transport.httpHeaderTimeoutSeconds),
            ("limits.httpBodyTimeoutSeconds", transport.httpBodyTimeoutSeconds),
        ] where value <= 0 {
            throw Invalid(description: "\(key) must be greater than 0, got \(value)")
        }
        guard maxConnections >= 0, transport.maxAPIConnections >= 1 else {
            throw Invalid(description: "limits.maxConnections must be >= 0 (0: from the open-file limit) and limits.maxApiConnections >= 1")
        }
        guard transport.maxConnectingPerThread >= 0 else {
            throw Invalid(description: "limits.maxConnectingPerThread must be >= 0 (0: no limit), got \(transport.maxConnectingPerThread)")
        }
        guard transport.maxHeaderBytes >= 1024 else {
            throw Invalid(description: "limits.maxHeaderBytes must be at least 1024, got \(transport.maxHeaderBytes)")
        }
        let certificate = config.string(forKey: "server.tls.certificate")
        let privateKey = config.string(forKey: "server.tls.privateKey")
        switch (certificate, privateKey) {
        case (let certificate?, let privateKey?):
            var ticketKeys: TLSTicketKeys?
            let ticketKeyFiles = config.stringArray(forKey: "server.tls.ticketKeyFiles", default: [])
            if !ticketKeyFiles.isEmpty {
                do {
                    ticketKeys = try TLSTicketKeys.load(files: ticketKeyFiles)
                } catch {
                    throw Invalid(description: "server.tls.ticketKeyFiles: \(error)")
                }
            }
            transport.tls = TLSFiles(certificatePath: certificate, privateKeyPath: privateKey, ticketKeys: ticketKeys)
        case (nil, nil):
            guard config.stringArray(forKey: "server.tls.ticketKeyFiles", default: []).isEmpty else {
                throw Invalid(description: "server.tls.ticketKeyFiles needs server.tls.certificate and server.tls.privateKey")
            }
        default:
            throw Invalid(description: "set both server.tls.certificate and server.tls.privateKey, or neither")
        }
        for (key, port) in [("server.port", transport.publicPort), ("api.port", transport.apiPort)] where !(0...65535).contains(port) {
            throw Invalid(description: "\(key) must be 0-65535, got \(port)")
        }
        for (key, value) in [
            ("api.maxBodyBytes", transport.maxBodyBytes), ("limits.maxMessageBytes", transport.maxMessageBytes),
            ("limits.maxQueuedBytes", transport.maxQueuedBytes),
        ] where value < 1024 {
            throw Invalid(description: "\(key) must be at least 1024, got \(value)")
        }
        guard (0...1000).contains(transport.writeDelayMillis) else {
            throw Invalid(description: "limits.writeDelayMillis must be 0-1000 (milliseconds), got \(transport.writeDelayMillis)")
        }

        guard let apiKey = config.string(forKey: "api.key", isSecret: true), !apiKey.isEmpty else {
            throw Invalid(description: "api.key is not set: put it in the config file or HYBRIDSYNC_API_KEY")
        }
        let auth = try Self.tokenPolicy(config)
        // The server's defaults have one source: ServerConfiguration's initializer.
        let defaults = ServerConfiguration(apiKey: apiKey, auth: auth)
        var server = ServerConfiguration(
            apiKey: apiKey, auth: auth, namespaces: try Self.namespaces(config),
            maxChannelsPerConnection: config.int(forKey: "limits.maxChannelsPerConnection", default: defaults.maxChannelsPerConnection),
            connectTimeoutSeconds: config.double(forKey: "limits.connectTimeoutSeconds", default: defaults.connectTimeoutSeconds),
            pingIntervalSeconds: config.double(forKey: "ping.intervalSeconds", default: defaults.pingIntervalSeconds),
            pongTimeoutSeconds: config.double(forKey: "ping.pongTimeoutSeconds", default: defaults.pongTimeoutSeconds),
            commandsPerSecond: config.double(forKey: "limits.commandsPerSecond", default: defaults.commandsPerSecond),
            commandBurst: config.double(forKey: "limits.commandBurst", default: defaults.commandBurst),
            idempotencyWindowSeconds: config.double(forKey: "api.idempotencyWindowSeconds", default: defaults.idempotencyWindowSeconds),
            idempotencyMaxKeys: config.int(forKey: "api.idempotencyMaxKeys", default: defaults.idempotencyMaxKeys),
            apiRequestsPerSecond: config.double(forKey: "api.maxRequestsPerSecond", default: defaults.apiRequestsPerSecond)
        )
        server.maxMessageBytes = transport.maxMessageBytes
        for (key, value) in [
            ("limits.connectTimeoutSeconds", server.connectTimeoutSeconds), ("ping.intervalSeconds", server.pingIntervalSeconds),
            ("ping.pongTimeoutSeconds", server.pongTimeoutSeconds), ("limits.commandsPerSecond", server.commandsPerSecond),
            ("limits.commandBurst", server.commandBurst), ("api.maxRequestsPerSecond", server.apiRequestsPerSecond), ("limits.maxChannelsPerConnection", Double(server.maxChannelsPerConnection)),
            ("api.idempotencyMaxKeys", Double(server.idempotencyMaxKeys)),
        ] where value <= 0 {
            throw Invalid(description: "\(key) must be greater than 0, got \(value)")
        }
        self.transport = transport
        self.server = server
        self.engine = try Self.engine(config)
        self.shutdownGraceSeconds = config.double(forKey: "shutdown.graceSeconds", default: 3)
        self.logLevel = config.string(forKey: "log.level", default: "info")
        let format = config.string(forKey: "log.format", default: "text")
        guard let logFormat = DaemonLogHandler.Format(rawValue: format) else {
            throw Invalid(description: "log.format must be text or json, got '\(format)'")
        }
        self.logFormat = logFormat
        self.console = config.bool(forKey: "api.console", default: true)
        self.demo = config.bool(forKey: "server.demo", default: false)
        do {
            hooks = try HTTPBackendHooks.Configuration(
                connectURL: config.string(forKey: "hooks.connectURL"), subscribeURL: config.string(forKey: "hooks.subscribeURL"),
                secret: config.string(forKey: "hooks.secret", isSecret: true),
                timeoutMillis: config.int(forKey: "hooks.timeoutMillis", default: 1000), maxConcurrent: config.int(forKey: "hooks.maxConcurrent", default: 64),
                breakerFailures: config.int(forKey: "hooks.breakerFailures", default: 5), breakerSeconds: config.double(forKey: "hooks.breakerSeconds", default: 10)
            )
        } catch {
            throw Invalid(description: error.description)
        }
        do {
            let url = config.string(forKey: "webhooks.url")
            let secret = config.string(forKey: "webhooks.secret", isSecret: true)
            let events = Set(config.stringArray(forKey: "webhooks.events", default: WebhookOutbox.Configuration.allEvents.sorted()))
            let batchSize = config.int(forKey: "webhooks.batchSize", default: 100)
            let maxBacklog = config.int(forKey: "webhooks.maxBacklog", default: 100_000)
            let maxBackoff = config.double(forKey: "webhooks.maxBackoffSeconds", default: 60)
            let timeout = config.int(forKey: "webhooks.timeoutMillis", default: 5000)
            if let url {
                webhooks = try WebhookOutbox.Configuration(url: url, secret: secret ?? "", events: events, batchSize: batchSize, maxBacklog: maxBacklog,
                                                           maxBackoffSeconds: maxBackoff, timeoutMillis: timeout)
            } else {
                webhooks = nil
            }
        } catch {
            throw Invalid(description: error.description)
        }
        if hooks.subscribeURL == nil, let name = server.namespaces.first(where: { $0.value.subscribeProxy })?.key {
            throw Invalid(description: "namespaces.\(name).subscribeProxy needs hooks.subscribeURL (the app backend to ask)")
        }
    }

    static let loopback: Set<String> = ["127.0.0.1", "::1", "localhost"]

    /// `engine.kind` (`sqlite`, the default, `memory` or `redis`), `engine.sqlite.*` and `engine.redis.*`.
    private static func engine(_ config: ConfigReader) throws -> Engine {
        let kind = config.string(forKey: "engine.kind", default: "sqlite")
        // Read whatever the kind, so every engine key counts as known (unknown keys are refused).
        let path = config.string(forKey: "engine.sqlite.path", default: "data/hybridsync.db")
        let raw = config.string(forKey: "engine.sqlite.synchronous", default: "normal")
        let address = config.string(forKey: "engine.redis.address", default: "127.0.0.1:6379")
        let prefix = config.string(forKey: "engine.redis.prefix", default: "hybridsync")
        let historySize = config.int(forKey: "engine.redis.historySize", default: 1000)
        let lease = config.double(forKey: "engine.redis.presenceLeaseSeconds", default: 15)
        switch kind {
        case "redis":
            do {
                return .redis(try RedisBroker.Configuration(address: address, prefix: prefix, historySize: historySize, presenceLeaseSeconds: lease))
            } catch {
                throw Invalid(description: error.message)
            }
        case "memory":
            return .memory
        case "sqlite":
            guard !path.isEmpty else { throw Invalid(description: "engine.sqlite.path must not be empty") }
            guard let synchronous = SQLiteBroker.Synchronous(rawValue: raw) else {
                throw Invalid(description: "engine.sqlite.synchronous must be normal or full, got '\(raw)'")
            }
            return .sqlite(path: path, synchronous: synchronous)
        default:
            throw Invalid(description: "engine.kind must be sqlite (durable, the default), memory or redis (several nodes), got '\(kind)'")
        }
    }

    /// `auth.*`: at least one key, each bound to one algorithm.
    private static func tokenPolicy(_ config: ConfigReader) throws -> TokenPolicy {
        let secret = config.string(forKey: "auth.tokenSecret", isSecret: true).flatMap { $0.isEmpty ? nil : $0 }
        var keys: [PublicKey] = []
        for (key, expected) in [("auth.rsaPublicKeyFile", PublicKey.Kind.rsa), ("auth.ecPublicKeyFile", .ecP256)] {
            guard let path = config.string(forKey: ConfigKey(key)), !path.isEmpty else { continue }
            let pem: String
            do {
                pem = try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                throw Invalid(description: "\(key): cannot read \(path): \(error.localizedDescription)")
            }
            let loaded: PublicKey
            do {
                loaded = try PublicKey(pem: pem)
            } catch {
                throw Invalid(description: "\(key): \(path): \(error)")
            }
            guard loaded.kind == expected else {
                throw Invalid(description: "\(key): \(path) holds a \(loaded.algorithm) key, not the kind this key expects")
            }
            keys.append(loaded)
        }
        guard secret != nil || !keys.isEmpty else {
            throw Invalid(description: "no token key: set auth.tokenSecret (HS256), auth.rsaPublicKeyFile (RS256) or auth.ecPublicKeyFile (ES256)")
        }
        let leeway = config.double(forKey: "auth.leewaySeconds", default: 0)
        guard leeway >= 0 else { throw Invalid(description: "auth.leewaySeconds must be >= 0") }
        return TokenPolicy(
            hmacSecret: secret, publicKeys: keys,
            audience: config.string(forKey: "auth.audience").flatMap { $0.isEmpty ? nil : $0 },
            issuer: config.string(forKey: "auth.issuer").flatMap { $0.isEmpty ? nil : $0 },
            leewaySeconds: leeway
        )
    }

    /// `namespaces.enabled` lists the namespaces; `namespaces.<name>.*` sets each one's policy,
    /// starting from the built-in defaults for known names.
    private static func namespaces(_ config: ConfigReader) throws -> [String: NamespacePolicy] {
        let names = config.stringArray(forKey: "namespaces.enabled", default: ServerConfiguration.defaultNamespaces.keys.sorted())
        var result: [String: NamespacePolicy] = [:]
        for name in names {
            guard (try? ChannelName("\(name):x")) != nil else {
                throw Invalid(description: "namespaces.enabled: '\(name)' is not a valid namespace (a-z, 0-9, '_', '-')")
            }
            var policy = ServerConfiguration.defaultNamespaces[name] ?? NamespacePolicy()
            let scoped = config.scoped(to: ConfigKey(["namespaces", name]))
            let access = scoped.string(forKey: "subscribe", default: policy.subscribe.rawValue)
            guard let parsed = NamespacePolicy.Access(rawValue: access) else {
                let allowed = NamespacePolicy.Access.allCases.map(\.rawValue).joined(separator: ", ")
                throw Invalid(description: "namespaces.\(name).subscribe must be one of \(allowed), got '\(access)'")
            }
            policy.subscribe = parsed
            policy.clientPublish = scoped.bool(forKey: "clientPublish", default: policy.clientPublish)
            policy.historySize = scoped.int(forKey: "historySize", default: policy.historySize)
            policy.historyTTLSeconds = scoped.double(forKey: "historyTTLSeconds", default: policy.historyTTLSeconds)
            policy.retainState = scoped.bool(forKey: "retainState", default: policy.retainState)
            policy.presence = scoped.bool(forKey: "presence", default: policy.presence)
            policy.presenceMaxUsers = scoped.int(forKey: "presenceMaxUsers", default: policy.presenceMaxUsers)
            policy.subscriptionToken = scoped.bool(forKey: "subscriptionToken", default: policy.subscriptionToken)
            policy.subscribeProxy = scoped.bool(forKey: "subscribeProxy", default: policy.subscribeProxy)
            guard policy.historySize >= 0, policy.historyTTLSeconds >= 0 else {
                throw Invalid(description: "namespaces.\(name): historySize and historyTTLSeconds must be >= 0")
            }
            guard policy.presenceMaxUsers >= 1 else {
                throw Invalid(description: "namespaces.\(name).presenceMaxUsers must be >= 1, got \(policy.presenceMaxUsers)")
            }
            result[name] = policy
        }
        return result
    }
}
