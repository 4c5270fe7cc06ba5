import HybridSyncProtocol

/// The mounted micro-apps and what each owns: observers, callback tasks, event streams.
struct AppRegistry {
    struct App {
        let name: String
        /// The micro-app's provider of subscription tokens, if it has one.
        let subscriptionToken: SubscriptionTokenProvider?
        var observers: Set<UInt64> = []
        var tasks: [UInt64: Task<Void, Never>] = [:]
        var events: [UInt64: AsyncStream<RuntimeEvent>.Continuation] = [:]
    }

    private(set) var apps: [UInt64: App] = [:]

    subscript(id: UInt64) -> App? { apps[id] }

    func name(of id: UInt64?) -> String? { id.flatMap { apps[$0]?.name } }

    mutating func mount(_ id: UInt64, name: String, subscriptionToken: SubscriptionTokenProvider?) {
        apps[id] = App(name: name, subscriptionToken: subscriptionToken)
    }

    /// Forgets the app and returns what it owned, for the runtime to end.
    mutating func unmount(_ id: UInt64) -> App? { apps.removeValue(forKey: id) }

    mutating func addObserver(_ observer: UInt64, to app: UInt64) { apps[app]?.observers.insert(observer) }
    mutating func removeObserver(_ observer: UInt64, from app: UInt64) { apps[app]?.observers.remove(observer) }

    mutating func addTask(_ id: UInt64, _ task: Task<Void, Never>, to app: UInt64) { apps[app]?.tasks[id] = task }
    mutating func removeTask(_ id: UInt64, from app: UInt64) { apps[app]?.tasks[id] = nil }

    mutating func addEvents(_ id: UInt64, _ continuation: AsyncStream<RuntimeEvent>.Continuation, to app: UInt64) {
        apps[app]?.events[id] = continuation
    }
    mutating func removeEvents(_ id: UInt64, from app: UInt64) { apps[app]?.events[id] = nil }

    /// Tells every app's event streams.
    func broadcast(_ event: RuntimeEvent) {
        for app in apps.values {
            for continuation in app.events.values { continuation.yield(event) }
        }
    }

    var taskCount: Int { apps.values.reduce(0) { $0 + $1.tasks.count } }
}
