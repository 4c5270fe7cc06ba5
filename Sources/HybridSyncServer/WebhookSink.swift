public import HybridSyncProtocol

/// Takes the server's webhook events (docs/API.md "Webhooks") and delivers them to the receiver,
/// at least once. Called on the server's thread; it must not block it.
public protocol WebhookSink: AnyObject {
    /// Records one event of `type` (`ban`, `unban`, `presence_join`, `presence_leave`,
    /// `channel_occupied`, `channel_vacated`) with its `data`.
    func record(_ type: String, _ data: JSONValue)
}
