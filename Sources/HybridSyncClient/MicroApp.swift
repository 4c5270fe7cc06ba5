import HybridSyncProtocol

/// A micro-app mounted into a ``ClientRuntime``: it owns its observations, and ``unmount()``
/// (or releasing the last reference) ends all of them and releases unused server subscriptions.
public final class MicroApp: Sendable {
    /// The name given at mount, used in logs and error reports.
    public let name: String
    let id: UInt64
    let runtime: ClientRuntime

    init(name: String, id: UInt64, runtime: ClientRuntime) {
        self.name = name
        self.id = id
        self.runtime = runtime
    }

    deinit {
        Task { [runtime, id] in await runtime.unmount(app: id) }
    }

    /// Publications on `channel` from now on. Many micro-apps observing one channel share one
    /// server subscription. Throws if the channel name is invalid or the server refuses it.
    public func observe(_ channel: String) async throws -> ClientRuntime.PublicationStream {
        let name: ChannelName
        do {
            name = try ChannelName(channel)
        } catch {
            throw ClientRuntimeError.server(ReplyError(.invalidChannel, error.description))
        }
        return try await runtime.observe(name, app: id)
    }

    /// Ends every observation of this micro-app.
    public func unmount() async {
        await runtime.unmount(app: id)
    }
}
