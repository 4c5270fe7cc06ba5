import HybridSyncHooks
import HybridSyncLWS
import HybridSyncServer
import HybridSyncRedis
import HybridSyncSQLite

extension DaemonConfiguration {
    /// The effective configuration, one `key: value` per line in key order, defaults included and
    /// secrets redacted (`hybridsyncd --print-config`, `hybridsync config print`).
    var printed: String {
        var entries: [String: String] = [
            "server.host": transport.publicHost, "server.port": "\(transport.publicPort)",
            "server.allowedOrigins": "\(transport.allowedOrigins)", "server.demo": "\(demo)", "server.threads": "\(transport.threads)", "api.console": "\(console)",
            "server.tls.certificate": transport.tls?.certificatePath ?? "(none)",
            "server.tls.privateKey": transport.tls?.privateKeyPath ?? "(none)",
            "server.tls.ticketKeyFiles": transport.tls.map { $0.ticketKeys.map { "\($0.count) key(s) (redacted)" } ?? "(none: one random key per run)" } ?? "(none)",
            "api.host": transport.apiHost, "api.port": "\(transport.apiPort)", "api.maxBodyBytes": "\(transport.maxBodyBytes)",
            "api.key": Self.redacted(server.apiKey),
            "api.idempotencyWindowSeconds": "\(server.idempotencyWindowSeconds)",
            "api.idempotencyMaxKeys": "\(server.idempotencyMaxKeys)",
            "api.maxRequestsPerSecond": "\(server.apiRequestsPerSecond)",
            "auth.tokenSecret": server.auth.hmacSecret.map { Self.redacted(String(decoding: $0, as: UTF8.self)) } ?? "(none)",
            "auth.publicKeys": "\(server.auth.publicKeys.count) (from auth.rsaPublicKeyFile, auth.ecPublicKeyFile)",
            "auth.audience": server.auth.audience ?? "(none)", "auth.issuer": server.auth.issuer ?? "(none)",
            "auth.leewaySeconds": "\(server.auth.leewaySeconds)",
            "namespaces.enabled": "\(server.namespaces.keys.sorted())",
            "limits.maxMessageBytes": "\(transport.maxMessageBytes)", "limits.maxQueuedBytes": "\(transport.maxQueuedBytes)",
            "limits.writeDelayMillis": "\(transport.writeDelayMillis)",
            "limits.maxChannelsPerConnection": "\(server.maxChannelsPerConnection)",
            "limits.connectTimeoutSeconds": "\(server.connectTimeoutSeconds)",
            "limits.commandsPerSecond": "\(server.commandsPerSecond)", "limits.commandBurst": "\(server.commandBurst)",
            "limits.httpHeaderTimeoutSeconds": "\(transport.httpHeaderTimeoutSeconds)",
            "limits.httpBodyTimeoutSeconds": "\(transport.httpBodyTimeoutSeconds)",
            "limits.maxHeaderBytes": "\(transport.maxHeaderBytes)",
            "limits.maxConnections": transport.maxConnections.map { "\($0)" } ?? "0 (from the open-file limit: \(transport.effectiveMaxConnections))",
            "limits.maxApiConnections": "\(transport.maxAPIConnections)",
            "limits.maxConnectingPerThread": "\(transport.maxConnectingPerThread)",
            "ping.intervalSeconds": "\(server.pingIntervalSeconds)", "ping.pongTimeoutSeconds": "\(server.pongTimeoutSeconds)",
            "shutdown.graceSeconds": "\(shutdownGraceSeconds)",
            "hooks.connectURL": hooks.connectURL ?? "(none)", "hooks.subscribeURL": hooks.subscribeURL ?? "(none)",
            "hooks.secret": hooks.secret.map(Self.redacted) ?? "(none)", "hooks.timeoutMillis": "\(hooks.timeoutMillis)",
            "hooks.maxConcurrent": "\(hooks.maxConcurrent)", "hooks.breakerFailures": "\(hooks.breakerFailures)",
            "hooks.breakerSeconds": "\(hooks.breakerSeconds)",
            "webhooks.url": webhooks?.url ?? "(none)", "webhooks.secret": webhooks.map { Self.redacted($0.secret) } ?? "(none)",
            "webhooks.events": "\(webhooks?.events.sorted() ?? [])", "webhooks.batchSize": "\(webhooks?.batchSize ?? 100)",
            "webhooks.maxBacklog": "\(webhooks?.maxBacklog ?? 100_000)", "webhooks.maxBackoffSeconds": "\(webhooks?.maxBackoffSeconds ?? 60)",
            "webhooks.timeoutMillis": "\(webhooks?.timeoutMillis ?? 5000)",
            "log.level": logLevel, "log.format": logFormat.rawValue,
            "debug.echoPath": transport.echoPath ?? "(none)",
        ]
        switch engine {
        case .memory:
            entries["engine.kind"] = "memory"
        case .sqlite(let path, let synchronous):
            entries["engine.kind"] = "sqlite"
            entries["engine.sqlite.path"] = path
            entries["engine.sqlite.synchronous"] = synchronous.rawValue
        case .redis(let redis):
            entries["engine.kind"] = "redis"
            entries["engine.redis.address"] = redis.address
            entries["engine.redis.prefix"] = redis.prefix
            entries["engine.redis.historySize"] = "\(redis.historySize)"
            entries["engine.redis.presenceLeaseSeconds"] = "\(redis.presenceLeaseSeconds)"
        }
        for (name, policy) in server.namespaces {
            entries["namespaces.\(name).subscribe"] = policy.subscribe.rawValue
            entries["namespaces.\(name).clientPublish"] = "\(policy.clientPublish)"
            entries["namespaces.\(name).historySize"] = "\(policy.historySize)"
            entries["namespaces.\(name).historyTTLSeconds"] = "\(policy.historyTTLSeconds)"
            entries["namespaces.\(name).retainState"] = "\(policy.retainState)"
            entries["namespaces.\(name).presence"] = "\(policy.presence)"
            entries["namespaces.\(name).presenceMaxUsers"] = "\(policy.presenceMaxUsers)"
            entries["namespaces.\(name).subscriptionToken"] = "\(policy.subscriptionToken)"
            entries["namespaces.\(name).subscribeProxy"] = "\(policy.subscribeProxy)"
        }
        return entries.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "\n")
    }

    /// A secret as its length only.
    static func redacted(_ secret: String) -> String { "<redacted, \(secret.utf8.count) bytes>" }
}
