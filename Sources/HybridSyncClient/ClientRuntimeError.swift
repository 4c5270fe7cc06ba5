public import HybridSyncProtocol

/// Why a runtime operation failed. Switch on ``code``; the other fields carry the details.
///
/// ```swift
/// do { try await runtime.start() } catch let error as ClientRuntimeError where error.code == .banned {
///     showBanScreen(error.ban)
/// }
/// ```
/// Two errors are equal when their codes are (and, for server refusals, the server's codes are).
public struct ClientRuntimeError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A stable kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The code's name, for example `banned`.
        public let description: String
        init(_ name: String) { description = name }

        /// ``ClientRuntime/close()`` was called; the runtime cannot be used again.
        public static let closed = Code("closed")
        /// The user is banned (close 4501); ``ClientRuntimeError/ban`` says why and until when.
        /// ``ClientRuntime/start()`` may be called again after the unban.
        public static let banned = Code("banned")
        /// The server refused the token (close 4500), or found every fresh token expired.
        /// Fix the token provider, then call ``ClientRuntime/start()`` again.
        public static let unauthorized = Code("unauthorized")
        /// The server ended the connection for good for another reason (4502–4504); see ``closeCode``.
        public static let disconnected = Code("disconnected")
        /// The URL can never be opened (not `ws://` or `wss://` with a host).
        public static let invalidURL = Code("invalidURL")
        /// The wait ran past its documented bound (see ``ClientRuntime/Configuration``).
        public static let timeout = Code("timeout")
        /// The server refused the command; ``serverError`` holds its code and message.
        public static let serverRefused = Code("serverRefused")
        /// The channel name is invalid (checked locally, nothing was sent).
        public static let invalidChannel = Code("invalidChannel")
        /// An observer fell too far behind and was ended; observe again.
        public static let observerOverflow = Code("observerOverflow")
        /// The connection dropped before the reply: the command may or may not have been applied.
        public static let connectionLost = Code("connectionLost")
        /// The operation needs a live connection (it does not wait offline).
        public static let notConnected = Code("notConnected")
        /// Too many commands already wait for the connection to come back.
        public static let offlineQueueFull = Code("offlineQueueFull")
        /// The command is larger than the server reads (its `limits.maxMessageBytes`, from the
        /// `connect` result): it was not sent, and the connection stays up. Send less data.
        public static let messageTooBig = Code("messageTooBig")
        /// The micro-app was unmounted; mount again to observe.
        public static let unmounted = Code("unmounted")
        /// The key is server-owned; change it through the backend API.
        public static let readOnly = Code("readOnly")
        /// A state key observed on a channel whose namespace keeps no retained state: observe the
        /// channel's events instead.
        public static let stateNotRetained = Code("stateNotRetained")
        /// The server sent something this client cannot read.
        public static let protocolViolation = Code("protocolViolation")
        /// The micro-app's subscription token provider failed for the channel (nothing was sent):
        /// the observation ends; observe again once the provider can answer.
        public static let subscriptionToken = Code("subscriptionToken")

        /// Every code above (the behaviour spec checks it against this file and the docs).
        package static let all: [Code] = [
            closed, banned, unauthorized, disconnected, invalidURL, timeout, serverRefused, invalidChannel, observerOverflow,
            connectionLost, notConnected, offlineQueueFull, messageTooBig, unmounted, readOnly, stateNotRetained, protocolViolation,
            subscriptionToken,
        ]
    }

    /// What kind of failure this is.
    public let code: Code
    /// What happened and what to do, for logs.
    public let message: String
    /// The server's refusal, when the server refused a command or the connection.
    public let serverError: ReplyError?
    /// The close code, when the server closed the connection.
    public let closeCode: CloseCode?
    /// The ban, for ``Code/banned``.
    public let ban: Ban?

    init(_ code: Code, _ message: String, serverError: ReplyError? = nil, closeCode: CloseCode? = nil, ban: Ban? = nil) {
        self.code = code
        self.message = message
        self.serverError = serverError
        self.closeCode = closeCode
        self.ban = ban
    }

    /// The code and the message.
    public var description: String { "\(code): \(message)" }

    /// Equal codes (and, for refusals, equal server error codes).
    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.code == rhs.code && lhs.serverError?.code == rhs.serverError?.code
    }

    /// The runtime was closed by the app.
    public static let closed = ClientRuntimeError(.closed, "the runtime was closed; create a new one")
    /// The micro-app was unmounted.
    public static let unmounted = ClientRuntimeError(.unmounted, "the micro-app was unmounted; mount again to observe")
    /// No live connection.
    public static let notConnected = ClientRuntimeError(.notConnected, "not connected; try again once connected")
    /// The connection dropped before the reply.
    public static let connectionLost = ClientRuntimeError(
        .connectionLost, "the connection dropped before the reply; the command may or may not have been applied")
    /// The server refused a command.
    public static func serverRefused(_ error: ReplyError) -> ClientRuntimeError {
        ClientRuntimeError(.serverRefused, "server refused: \(error)", serverError: error)
    }
    /// The micro-app's subscription token provider failed for `channel`.
    static func subscriptionToken(_ channel: String, _ error: any Error) -> ClientRuntimeError {
        ClientRuntimeError(.subscriptionToken, "the subscription token provider failed for \(channel): \(error)")
    }
    /// A wait ran out.
    public static func timeout(_ what: String, _ bound: Duration) -> ClientRuntimeError {
        ClientRuntimeError(.timeout, "\(what) did not finish within \(bound)")
    }
    /// An invalid channel name.
    public static func invalidChannel(_ detail: String) -> ClientRuntimeError { ClientRuntimeError(.invalidChannel, detail) }
    /// State observed on a channel whose namespace keeps none.
    public static func stateNotRetained(_ channel: String) -> ClientRuntimeError {
        ClientRuntimeError(.stateNotRetained, "the namespace of \(channel) keeps no state: observe its events instead")
    }
    /// A server-owned key.
    public static func readOnly(_ key: String) -> ClientRuntimeError {
        ClientRuntimeError(.readOnly, "\(key) is server-owned and read-only in the client; change it through the backend API")
    }
    /// The offline queue is full.
    public static func offlineQueueFull(_ limit: Int) -> ClientRuntimeError {
        ClientRuntimeError(.offlineQueueFull, "\(limit) commands already wait for the connection; try again when connected")
    }
    /// A command over the server's message limit.
    public static func messageTooBig(_ size: Int, limit: Int) -> ClientRuntimeError {
        ClientRuntimeError(.messageTooBig, "the command is \(size) bytes, over the server's limit of \(limit) (maxMessageBytes); it was not sent")
    }
    /// An observer overflowed.
    public static func observerOverflow(_ limit: Int) -> ClientRuntimeError {
        ClientRuntimeError(.observerOverflow, "the observer fell \(limit) publications behind and was ended; observe again")
    }
    /// An unreadable server message.
    public static func protocolViolation(_ detail: String) -> ClientRuntimeError {
        ClientRuntimeError(.protocolViolation, "unreadable server message: \(detail)")
    }

    /// The error for a connection the server ended for good with `code`.
    static func terminal(code: CloseCode?, reason: String, refusal: ReplyError?, ban: Ban?) -> ClientRuntimeError {
        switch code {
        case CloseCode.banned?:
            return ClientRuntimeError(.banned, "banned: \(ban?.reason ?? reason)", serverError: refusal, closeCode: code, ban: ban)
        case CloseCode.invalidToken?, CloseCode.tokenExpired?:
            return ClientRuntimeError(.unauthorized, "the server refused the token: \(refusal?.message ?? reason); fix the token provider and start again",
                                      serverError: refusal, closeCode: code)
        default:
            return ClientRuntimeError(.disconnected, "the server ended the connection for good: \(reason)", serverError: refusal, closeCode: code)
        }
    }

    /// The ``ChannelName`` for `raw`, or ``Code/invalidChannel``.
    static func channel(_ raw: String) throws -> ChannelName {
        do { return try ChannelName(raw) } catch { throw ClientRuntimeError.invalidChannel(error.description) }
    }
}
