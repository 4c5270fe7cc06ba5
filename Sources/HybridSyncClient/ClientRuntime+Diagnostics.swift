public import HybridSyncProtocol

/// A snapshot of what the runtime holds, for support screens and bug reports.
public struct RuntimeDiagnostics: Sendable, Equatable {
    /// One mounted micro-app.
    public struct App: Sendable, Equatable {
        /// The name given at mount.
        public let name: String
        /// The channels its observers hold.
        public let channels: [String]
        /// Live observers of the micro-app.
        public let observers: Int
        /// Tasks running callback observers.
        public let tasks: Int
    }

    /// One channel the runtime is subscribed to (or will subscribe to when connected).
    public struct Channel: Sendable, Equatable {
        /// The channel name.
        public let name: String
        /// Observers holding it (0: lingering before it unsubscribes).
        public let holders: Int
        /// `active`, `pending` or `offline`.
        public let status: String
        /// The last position applied.
        public let position: StreamPosition?
    }

    /// The connection state now.
    public let connection: ConnectionState
    /// Successful reconnects since the runtime was created.
    public let reconnects: Int
    /// The last connection problem or stop reason, if any.
    public let lastError: String?
    /// Client commands (`publish`) waiting in the offline queue for the connection to come back.
    public let offlineQueue: Int
    /// Commands sent on the current connection whose reply has not arrived yet (subscribes,
    /// publishes, pings, backfills).
    public let inFlight: Int
    /// The mounted micro-apps, by name.
    public let apps: [App]
    /// The channels held, by name.
    public let channels: [Channel]
}

extension ClientRuntime {
    /// Per micro-app channels, per channel positions, reconnect count, last error, queue sizes.
    public func diagnostics() -> RuntimeDiagnostics {
        let apps = registry.apps.values.map { app in
            let channels = Set(app.observers.compactMap { observers.channel(of: $0) })
            return RuntimeDiagnostics.App(name: app.name, channels: channels.map(\.rawValue).sorted(),
                                          observers: app.observers.count, tasks: app.tasks.count)
        }
        let channels = subscriptions.entries.map { name, entry in
            let status = switch entry.status {
            case .active: "active"
            case .pending: "pending"
            case .offline: "offline"
            }
            return RuntimeDiagnostics.Channel(name: name.rawValue, holders: entry.holders, status: status, position: entry.position)
        }
        return RuntimeDiagnostics(
            connection: connectionState, reconnects: machine.reconnectCount, lastError: status.lastError,
            offlineQueue: commands.queuedCount, inFlight: commands.inFlightCount,
            apps: apps.sorted { $0.name < $1.name }, channels: channels.sorted { $0.name < $1.name }
        )
    }
}
