import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// One JSON POST to a backend over HTTP/1.1 (`http://`, or `https://` with the system's trust
/// store), on SwiftNIO's event loops: the caller's thread never waits. Every call is bounded by
/// `timeout`, connect included; the connection closes after the answer.
final class HookHTTPClient: Sendable {
    /// Where the backend is.
    struct Endpoint: Sendable, Equatable {
        let host: String
        let port: Int
        let path: String
        let secure: Bool

        /// Parses `http(s)://host[:port]/path`; nil for anything else.
        init?(_ url: String) {
            guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
                  scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty else { return nil }
            secure = scheme == "https"
            self.host = host
            port = components.port ?? (secure ? 443 : 80)
            path = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
                + (components.percentEncodedQuery.map { "?\($0)" } ?? "")
        }
    }

    /// What came back, or why nothing usable did.
    enum Outcome: Sendable, Equatable {
        case answered(status: Int, body: [UInt8])
        case failed(String)
    }

    private let tls: NIOSSLContext?

    init() {
        tls = try? NIOSSLContext(configuration: .makeClientConfiguration())
    }

    /// POSTs `body` (JSON) with `headers` to `endpoint`; `completion` runs once, on a NIO thread.
    func post(
        _ endpoint: Endpoint, body: [UInt8], headers: [(String, String)], timeout: TimeAmount,
        completion: @escaping @Sendable (Outcome) -> Void
    ) {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let answer = Answer(loop.makePromise(of: Outcome.self))
        answer.futureResult.whenSuccess(completion)
        let deadline = loop.scheduleTask(in: timeout) { answer.succeed(.failed("no answer within \(timeout.nanoseconds / 1_000_000) ms")) }
        answer.futureResult.whenComplete { _ in deadline.cancel() }
        let tls = endpoint.secure ? tls : nil
        if endpoint.secure, tls == nil { return answer.succeed(.failed("TLS is not available")) }
        ClientBootstrap(group: loop)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: endpoint.host))
                    }
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(ResponseCollector(answer: answer))
                }
            }
            .connect(host: endpoint.host, port: endpoint.port)
            .whenComplete { result in
                switch result {
                case .failure(let error):
                    answer.succeed(.failed("cannot connect to \(endpoint.host):\(endpoint.port): \(error)"))
                case .success(let channel):
                    answer.futureResult.whenComplete { _ in channel.close(promise: nil) }
                    var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: endpoint.path)
                    head.headers.add(name: "Host", value: endpoint.host)
                    head.headers.add(name: "Content-Type", value: "application/json")
                    head.headers.add(name: "Content-Length", value: "\(body.count)")
                    head.headers.add(name: "Connection", value: "close")
                    for (name, value) in headers { head.headers.add(name: name, value: value) }
                    channel.write(HTTPClientRequestPart.head(head), promise: nil)
                    channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: body))), promise: nil)
                    channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
                }
            }
    }
}

/// A call's one outcome: the first of the answer, an error, a close and the timeout wins (all on
/// the call's event loop, so the flag needs no lock).
private final class Answer: @unchecked Sendable {
    private let promise: EventLoopPromise<HookHTTPClient.Outcome>
    private var done = false

    init(_ promise: EventLoopPromise<HookHTTPClient.Outcome>) { self.promise = promise }

    var futureResult: EventLoopFuture<HookHTTPClient.Outcome> { promise.futureResult }

    func succeed(_ outcome: HookHTTPClient.Outcome) {
        guard !done else { return }
        done = true
        promise.succeed(outcome)
    }
}

/// Collects one response (at most 1 MiB of body) into the call's answer.
private final class ResponseCollector: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart

    private let answer: Answer
    private var status = 0
    private var body: [UInt8] = []

    init(answer: Answer) {
        self.answer = answer
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = Int(head.status.code)
        case .body(var buffer):
            guard body.count + buffer.readableBytes <= 1 << 20 else {
                answer.succeed(.failed("the answer is larger than 1 MiB"))
                return context.close(promise: nil)
            }
            body += buffer.readBytes(length: buffer.readableBytes) ?? []
        case .end:
            answer.succeed(.answered(status: status, body: body))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        answer.succeed(.failed("\(error)"))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        answer.succeed(.failed("the backend closed the connection before answering"))
    }
}
