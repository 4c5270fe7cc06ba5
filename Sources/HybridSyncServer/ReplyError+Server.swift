import HybridSyncProtocol

extension ReplyError {
    /// The close that follows this error, for the errors after which the connection cannot go on.
    var closeCode: CloseCode? {
        switch code {
        case .unauthorized: .invalidToken
        case .tokenExpired: .tokenExpired
        case .banned: .banned
        case .refusedByBackend: .permissionDenied
        default: nil
        }
    }

    /// The reply when the engine failed: temporary, the client may retry.
    static let engineUnavailable = ReplyError(.internalError, "the server's engine is unavailable; retry shortly", temporary: true)
}
