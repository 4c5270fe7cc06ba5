import CLibWebSockets
import Glibc
import HybridSyncProtocol
import HybridSyncServerTransport
import HybridSyncWebSocket
import Logging
import Synchronization

/// Several service threads (`LWSServerConfiguration.threads`), decided once:
///
/// - Thread 0, the **hub thread**, runs the delegate (the server: sessions, hub, broker results),
///   the API listener and its share of the public connections. Every ``ServerTransport`` call
///   and every delegate call happens on it.
/// - Threads 1…N-1 each own an lws context with their own SO_REUSEPORT listener on the public port;
///   their connections are theirs alone (accept, HTTP, frames, writes, deadlines).
/// - A ``ConnectionID`` names its thread: `rawValue % threads`.
/// - What a connection on thread k receives (opened, a message, closed, overflowed) is queued to
///   the hub thread in arrival order. What the hub sends or closes for thread k is appended to
///   k's outbox on the hub thread, without a lock, and handed over in one batch at the end of the
///   hub's turn (one lock and one wake-up per thread per turn, not per delivery); thread k makes
///   its own frame of each message once.
/// Debug builds assert this confinement.
enum EdgeOperation: Sendable {
    case send(OutboundMessage, [UInt64])
    case close(UInt64, CloseCode, String)
    /// Graceful stop: refuse upgrades, close every WebSocket.
    case shutdown(CloseCode, String)
}

/// Sockets open on the public listener over all threads (the connection cap is for the process).
final class SharedCounter: Sendable {
    let value = Atomic<Int>(0)
}

extension EdgeWorker {
    /// Runs `call` with the delegate on the hub thread: now when this is the hub, else queued to it.
    func toHub(_ call: @escaping @Sendable (any ServerTransportDelegate) -> Void) {
        guard !isHub else {
            if let delegate = transport.delegate { call(delegate) }
            return
        }
        transport.hub.loop.execute { [transport] in
            if let delegate = transport.delegate { call(delegate) }
        }
    }

    /// Thread k: carries out the hub's batch, in order.
    func apply(_ operations: [EdgeOperation]) {
        assertOnServiceThread()
        for operation in operations {
            switch operation {
            case .send(let message, let connections):
                deliver(message, to: connections)
            case .close(let connection, let code, let reason):
                closeHere(connection, code: code, reason: reason)
            case .shutdown(let code, let reason):
                draining = true
                for (id, connection) in connections where connection.isWebSocket {
                    closeHere(id, code: code, reason: reason)
                }
            }
        }
    }

    /// Debug builds: the caller is on this transport's service thread.
    func assertOnServiceThread(_ function: StaticString = #function) {
        assert(loop.isCurrentThread, "EdgeWorker.\(function) called off its service thread")
    }

    // MARK: Listening with SO_REUSEPORT

    /// Opens this thread's listening socket on the public port (the hub's first, so port 0 resolves
    /// once); before the service thread starts. Returns the port bound.
    func listenShared(in context: OpaquePointer, port: Int) throws(LWSServerError) -> Int {
        let listening = try contextBuilder.listenShared(in: context, port: port, first: isHub)
        publicListener.socket = listening.socket
        publicListener.wsi = listening.wsi
        return listening.port
    }

    /// The listening socket is readable: accept what is pending (a bounded batch per turn, while
    /// the connect gate is open), refuse over the cap, adopt the rest as raw sockets of our protocol.
    func acceptPending() {
        var address = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        for _ in 0..<Self.acceptsPerRound {
            guard publicListener.mayAccept(now: Self.monotonicSeconds(), logger: logger) else { return }
            let fd = hs_accept(publicListener.socket, &address, Int32(address.count))
            guard fd >= 0 else { return }
            if admit(listener: .public) != 0 {
                Glibc.close(fd)
                continue
            }
            // Read by the adoption callback, which lws calls inside the adoption.
            publicListener.acceptedPeerAddress = address[0] == 0 ? nil
                : String(decoding: address.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            // On failure lws has closed the socket already.
            _ = hs_lws_adopt_accepted(publicListener.vhost, fd, EdgeContextBuilder.protocolName, configuration.tls != nil ? 1 : 0)
            publicListener.acceptedPeerAddress = nil
        }
        // More may be pending: the socket stays readable and the next turn takes the next batch.
    }

    /// Connections accepted per readable event at most, so a connect storm cannot starve the rest.
    static let acceptsPerRound = 64
}
