import HybridSyncProtocol
import HybridSyncDaemonTesting
import Testing

/// Fan-outs to a couple of hundred sockets, on one service thread and on two, racing each other
/// and followed by a ban: what each socket gets must stay in the order the server sent it.
@Suite("Fan-out to many connections (real daemon)")
struct FanOutTests {
    @Test(
        "10 concurrent publications to 200 sockets, then a ban: each socket gets every one once, in order, and the banned one its push and 4501 after them",
        arguments: [1, 2]  // service threads: with two, each gets about 100 of the sockets
    )
    func manySubscribers(threads: Int) async throws {
        // The sockets answer no ping while the 200 connect (which can take longer than 25 s + 10 s
        // on a loaded machine, or under a sanitizer): the keep-alive is tested elsewhere.
        let daemon = try await TestDaemon.start(arguments: ["--server-threads", "\(threads)", "--ping-interval-seconds", "600"])
        let channel = "app:fanout"
        let count = 200
        let banned = 7
        var clients: [RawClient] = []
        for index in 0..<count {
            let client = try await RawClient.open(daemon.webSocketURL)
            #expect(try await client.connect(token: daemon.tokens.token(user: "u\(index)")).isSuccess)
            client.send(#"{"id":2,"op":"subscribe","channel":"\#(channel)"}"#)
            #expect(try await client.next().isSuccess)
            client.send(#"{"id":3,"op":"subscribe","channel":"moderation:users"}"#)
            #expect(try await client.next().isSuccess)
            clients.append(client)
        }

        let publications = 10
        try await withThrowingTaskGroup(of: Void.self) { group in
            for n in 1...publications {
                group.addTask { _ = try await daemon.api.publish(channel: channel, data: ["n": .int(Int64(n))]) }
            }
            try await group.waitForAll()
        }
        _ = try await daemon.api.ban(user: "u\(banned)", reason: "test")

        for (index, client) in clients.enumerated() {
            var offsets: [UInt64] = []
            var banKey: String?
            while offsets.count < publications || banKey == nil {
                let event = try await client.next()
                guard case .message(.push(.publication(let publication))) = event else {
                    Issue.record("socket \(index): \(event) after \(offsets.count) publications (.closed(nil): none within 10 s)")
                    break
                }
                if publication.channel.description == channel {
                    #expect(banKey == nil, "socket \(index): a publication after the ban's")
                    offsets.append(publication.offset)
                } else {
                    banKey = publication.key
                }
            }
            #expect(offsets == Array(1...UInt64(publications)), "socket \(index)")
            #expect(banKey == "u\(banned)", "socket \(index)")
            if index == banned {
                guard case .message(.push(.banned)) = try await client.next() else {
                    Issue.record("the banned socket did not get its banned push next")
                    continue
                }
                #expect(try await client.closeCode() == .banned)
            }
        }
        try await daemon.stop()
    }
}
