import DequeModule
import HybridSyncProtocol
import NIOConcurrencyHelpers
import NIOCore
import NIOWebSocket

/// One connection of ``WebSocketTransport``. Frames reach ``events`` only as fast as the runtime
/// takes them (see ``InboundQueue``); sends and closes may come from any thread.
final class WebSocketConnection: ClientConnection, Sendable {
    let events: AsyncStream<ClientConnectionEvent>
    let inbound: InboundQueue
    private let channel: any Channel

    init(channel: any Channel, readAhead: Int) {
        self.channel = channel
        let inbound = InboundQueue(channel: channel, readAhead: readAhead)
        self.inbound = inbound
        events = AsyncStream(unfolding: { await inbound.next() }, onCancel: { inbound.cancel() })
    }

    func send(_ frame: [UInt8]) {
        let data = channel.allocator.buffer(bytes: frame)
        channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: data), promise: nil)
    }

    func close(code: CloseCode, reason: String) {
        channel.pipeline.fireUserInboundEventTriggered(CloseRequest(code: code, reason: reason))
    }

    /// Asks the frame handler (on the event loop) to start the closing handshake.
    struct CloseRequest: Sendable {
        let code: CloseCode
        let reason: String
    }
}

/// What the server sent, waiting for the runtime: at most `readAhead` messages. When it is full
/// the handler stops reading from the socket (`autoRead` is off); when the runtime has taken half
/// of them, reading starts again. The final `.closed` event always gets in.
final class InboundQueue: Sendable {
    private struct State {
        var items: Deque<ClientConnectionEvent> = []
        var waiter: CheckedContinuation<ClientConnectionEvent?, Never>?
        var finished = false
        /// The handler stopped asking for reads because the queue was full.
        var paused = false
    }

    private let state = NIOLockedValueBox(State())
    private let channel: any Channel
    private let readAhead: Int

    init(channel: any Channel, readAhead: Int) {
        self.channel = channel
        self.readAhead = max(1, readAhead)
    }

    /// Event loop: one more message.
    func push(_ event: ClientConnectionEvent) { deliver(event, last: false) }

    /// Event loop, after a read: whether to read again now (false: paused until the runtime has
    /// taken half of what waits).
    func shouldReadOn() -> Bool {
        state.withLockedValue { state in
            guard !state.finished else { return false }
            state.paused = state.items.count >= readAhead
            return !state.paused
        }
    }

    /// Event loop: the connection is over; `event` (a `.closed`) is the last one.
    func finish(_ event: ClientConnectionEvent) { deliver(event, last: true) }

    private func deliver(_ event: ClientConnectionEvent, last: Bool) {
        let waiter: CheckedContinuation<ClientConnectionEvent?, Never>? = state.withLockedValue { state in
            guard !state.finished else { return nil }
            state.finished = last
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.items.append(event)
            return nil
        }
        waiter?.resume(returning: event)
    }

    /// The next event, waiting for one; nil after the last.
    func next() async -> ClientConnectionEvent? {
        enum Step {
            case event(ClientConnectionEvent, resume: Bool)
            case end
            case wait
        }
        let step: Step = state.withLockedValue { state in
            if let event = state.items.popFirst() {
                let resume = state.paused && !state.finished && state.items.count <= readAhead / 2
                if resume { state.paused = false }
                return .event(event, resume: resume)
            }
            return state.finished ? .end : .wait
        }
        switch step {
        case .event(let event, let resume):
            if resume { channel.read() }
            return event
        case .end:
            return nil
        case .wait:
            return await withCheckedContinuation { continuation in
                let ready: ClientConnectionEvent?? = state.withLockedValue { state in
                    if let event = state.items.popFirst() { return .some(event) }
                    if state.finished { return .some(nil) }
                    state.waiter = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        }
    }

    /// The reader went away: no more events; the connection is closed.
    func cancel() {
        let waiter = state.withLockedValue { state in
            state.finished = true
            state.items.removeAll()
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
        channel.close(promise: nil)
    }
}

/// RFC 6455 after the upgrade, on the event loop: text messages to the queue, pings answered,
/// the closing handshake in both directions, reads only while the queue has room.
final class WebSocketFrameHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let inbound: InboundQueue
    /// How the connection ended (set by the first close frame, sent or received, or an error).
    private var outcome: ClientConnectionEvent?
    private var closeSent = false
    /// Seconds the server has to answer our close frame before the socket is closed anyway.
    static let closeHandshakeSeconds: Int64 = 2

    init(connection: WebSocketConnection) {
        inbound = connection.inbound
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // From now on the runtime's pace decides when the socket is read.
        _ = context.channel.setOption(ChannelOptions.autoRead, value: false)
        if context.channel.isActive { context.read() }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        // RFC 6455 §5.2: no extension is negotiated, so no reserved bit may be set.
        guard !frame.rsv1, !frame.rsv2, !frame.rsv3 else {
            return fail(context, code: .protocolError, reason: "a frame with reserved bits set")
        }
        switch frame.opcode {
        case .text:
            let bytes = Array(frame.unmaskedData.readableBytesView)
            // RFC 6455 §8.1: text that is not UTF-8 fails the connection (NIOWebSocket does not check).
            guard isValidUTF8(bytes[...]) else {
                return fail(context, code: .invalidPayload, reason: "the server sent a text message that is not valid UTF-8")
            }
            inbound.push(.frame(bytes))
        case .binary:
            fail(context, code: .unsupportedData, reason: "binary frames are not part of \(HybridSyncWire.subprotocol)")
        case .ping:
            guard !closeSent else { return }
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: frame.unmaskedData)),
                                  promise: nil)
        case .connectionClose:
            var payload = frame.unmaskedData
            // RFC 6455 §5.5.1, §7.4: no payload, or a code a peer may send and a UTF-8 reason.
            guard payload.readableBytes != 1 else {
                return fail(context, code: .protocolError, reason: "a close frame with a one-byte payload")
            }
            let code = payload.readInteger(as: UInt16.self).map(CloseCode.init(rawValue:))
            if let code, !Self.isSendable(code) {
                return fail(context, code: .protocolError, reason: "close code \(code.rawValue) may not be sent")
            }
            let reasonBytes = Array(payload.readableBytesView)
            guard isValidUTF8(reasonBytes[...]) else {
                return fail(context, code: .invalidPayload, reason: "a close reason that is not UTF-8")
            }
            let reason = String(decoding: reasonBytes, as: UTF8.self)
            if outcome == nil { outcome = .closed(code: code, reason: reason) }
            if closeSent {
                context.close(promise: nil)
            } else {
                // Answer with the same code, then close (RFC 6455 §5.5.1).
                closeSent = true
                var echo = context.channel.allocator.buffer(capacity: 2)
                if let code { echo.writeInteger(code.rawValue) }
                let channel = context.channel
                context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: echo)))
                    .whenComplete { _ in channel.close(promise: nil) }
            }
        case .pong:
            break
        default:
            fail(context, code: .protocolError, reason: "a frame with a reserved opcode")
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if closeSent || inbound.shouldReadOn() { context.read() }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let request = event as? WebSocketConnection.CloseRequest else {
            return context.fireUserInboundEventTriggered(event)
        }
        guard !closeSent else { return }
        closeSent = true
        if outcome == nil { outcome = .closed(code: request.code, reason: request.reason) }
        var payload = context.channel.allocator.buffer(capacity: 2 + request.reason.utf8.count)
        payload.writeInteger(request.code.rawValue)
        payload.writeString(String(request.reason.utf8.prefix(123)) ?? "")
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: payload)),
                              promise: nil)
        context.read()  // the server's answer
        let channel = context.channel
        channel.eventLoop.scheduleTask(in: .seconds(Self.closeHandshakeSeconds)) { channel.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch error {
        case let decoding as NIOWebSocketError:
            // The frame decoder's: NIOWebSocket has already sent its close frame.
            let code: CloseCode = decoding == .invalidFrameLength ? .messageTooBig : .protocolError
            if outcome == nil { outcome = .closed(code: code, reason: "the server broke RFC 6455: \(error)") }
            context.close(promise: nil)
        case NIOWebSocketFrameAggregator.Error.accumulatedFrameSizeIsTooLarge, NIOWebSocketFrameAggregator.Error.tooManyFragments:
            fail(context, code: .messageTooBig, reason: "the server sent a message over the limit (\(error))")
        default:
            fail(context, code: .protocolError, reason: "the server broke RFC 6455: \(error)")
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        inbound.finish(outcome ?? .closed(code: nil, reason: "the connection dropped without a close frame"))
        context.fireChannelInactive()
    }

    /// Close codes a peer may put in a close frame (RFC 6455 §7.4.1, the IANA registry).
    static func isSendable(_ code: CloseCode) -> Bool {
        switch code.rawValue {
        case 1000...1003, 1007...1011, 3000...4999: true
        default: false
        }
    }

    private func fail(_ context: ChannelHandlerContext, code: CloseCode, reason: String) {
        if outcome == nil { outcome = .closed(code: code, reason: reason) }
        closeSent = true
        var payload = context.channel.allocator.buffer(capacity: 2)
        payload.writeInteger(code.rawValue)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: payload)))
            .whenComplete { _ in channel.close(promise: nil) }
    }
}
