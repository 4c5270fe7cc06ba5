package import HybridSyncBroker
package import HybridSyncProtocol
import Logging

/// What makes several nodes one: following streams, delivering each publication once and in
/// order, node commands through the control stream, and noticing a stream that was lost.
extension RedisBroker {
    /// See ``Broker/follow(_:after:)``: the tail reads the channel's stream from after `position`.
    package func follow(_ channel: ChannelName, after position: StreamPosition) {
        let generation = nextGeneration
        nextGeneration += 1
        follows[channel] = Follow(epoch: position.epoch, delivered: position.offset, generation: generation)
        if let blocked = tail.follow(channel.rawValue, after: position.offset, generation: generation) {
            // The tail's blocking read does not include the channel yet: end it now.
            submit(["CLIENT", "UNBLOCK", "\(blocked)"].map { Array($0.utf8) }) { _ in }
        }
    }

    /// See ``Broker/unfollow(_:)``.
    package func unfollow(_ channel: ChannelName) {
        follows[channel] = nil
        tail.unfollow(channel.rawValue)
        // This node's lease ends now, so the stream can be forgotten as soon as it holds nothing.
        submit(["HDEL", "\(configuration.prefix):u:\(channel.rawValue)", nodeID].map { Array($0.utf8) }) { _ in }
    }

    /// See ``Broker/announce(_:)``: one entry on the control stream, which every node tails.
    package func announce(_ command: NodeCommand) {
        let json: JSONValue = switch command {
        case .ban(let user, let ban):
            ["type": "ban", "user": .string(user), "reason": .string(ban.reason), "until": ban.until.map { .double($0) } ?? .null]
        case .disconnect(let user, let code, let reason):
            ["type": "disconnect", "user": .string(user), "code": .int(Int64(code.rawValue)), "reason": .string(reason)]
        }
        let arguments = ["XADD", "\(configuration.prefix):control", "MAXLEN", "~", "10000", "*", "n", nodeID, "c", json.jsonString]
        submit(arguments.map { Array($0.utf8) }) { [logger] result in
            if case .failure(let error) = result {
                logger.info("could not tell the other nodes", metadata: ["command": "\(json)", "error": "\(error.message)"])
            }
        }
    }

    /// Hands `publications` of `channel` to the hub: for a followed channel only the ones after
    /// what was delivered, in order. Where they do not follow on (another node's publications in
    /// between that this write did not return), the rest is left to the tail, which reads every
    /// entry after what was delivered; a gap *in the tail's* entries (Redis trimmed them) or
    /// another epoch loses the stream.
    func deliver(_ publications: [SequencedPublication], on channel: ChannelName, fromTail: Bool = false) {
        guard var follow = follows[channel] else {
            listener?.broker(delivered: publications)
            return
        }
        var fresh: [SequencedPublication] = []
        var lost: String?
        for publication in publications where publication.publication.offset > follow.delivered {
            guard publication.epoch == follow.epoch else {
                lost = "its epoch changed"
                break
            }
            guard publication.publication.offset == follow.delivered + 1 else {
                if fromTail { lost = "offsets \(follow.delivered + 1)…\(publication.publication.offset - 1) are no longer in Redis" }
                break
            }
            follow.delivered += 1
            fresh.append(publication)
        }
        follows[channel] = follow
        if !fresh.isEmpty { listener?.broker(delivered: fresh) }
        if let lost { lose(channel, because: lost) }
    }

    /// Entries the tail read.
    func tailed(_ name: String, generation: UInt64, _ entries: [RedisValue]) {
        guard let channel = try? ChannelName(name), let follow = follows[channel], follow.generation == generation else { return }
        var publications: [SequencedPublication] = []
        for entry in entries {
            do {
                publications.append(try RedisEntry.publication(entry, channel: channel, epoch: follow.epoch))
            } catch {
                logger.info("skipping a stream entry that is not ours", metadata: ["channel": "\(channel)", "error": "\(error.message)"])
                return lose(channel, because: error.message)
            }
        }
        deliver(publications, on: channel, fromTail: true)
    }

    /// A control-stream entry: a command from another node, or presence changes from any node.
    func received(_ entry: RedisValue) {
        guard let fields = entry.elements?.last?.elements, fields.count >= 4, fields[1].text != nodeID,
              case .string(let raw) = fields[3], case .object(let object)? = try? JSONValue.parse(raw),
              case .string(let type)? = object["type"] else { return }
        if type == "presence" { return presence.received(object) }
        guard case .string(let user)? = object["user"] else { return }
        switch type {
        case "ban":
            guard case .string(let reason)? = object["reason"] else { return }
            let until: Double? = switch object["until"] {
            case .double(let value)?: value
            case .int(let value)?: Double(value)
            default: nil
            }
            listener?.broker(received: .ban(user: user, Ban(reason: reason, until: until)))
        case "disconnect":
            guard case .int(let code)? = object["code"], let raw = UInt16(exactly: code), case .string(let reason)? = object["reason"] else { return }
            listener?.broker(received: .disconnect(user: user, code: CloseCode(rawValue: raw), reason: reason))
        default:
            return
        }
    }

    /// Every 10 s, and after the tail reconnected: are the followed streams still the ones this
    /// node follows (same epoch)? Keeps them from expiring, too.
    func verifyFollowsIfDue(now: Double) {
        guard now >= nextVerify else { return }
        nextVerify = now + 10
        guard !follows.isEmpty else { return }
        let asked = follows.mapValues(\.generation)
        var arguments = [configuration.prefix, "\(now)", nodeID]
        for (channel, follow) in follows { arguments += [channel.rawValue, follow.epoch] }
        submit(script: "verify", arguments.map { Array($0.utf8) }) { [self] result in
            let value: RedisValue
            switch result {
            case .success(let answer): value = answer
            case .failure(let error):
                return logger.info("could not check the followed streams; trying again in 10 s", metadata: ["error": "\(error.message)"])
            }
            for name in value.elements?.compactMap(\.text) ?? [] {
                guard let channel = try? ChannelName(name), let follow = follows[channel], follow.generation == asked[channel] else { continue }
                lose(channel, because: "its stream is gone from Redis or has another epoch (Redis restarted empty?)")
            }
        }
    }

    private func lose(_ channel: ChannelName, because why: String) {
        logger.info("redis stream lost; its subscribers here re-sync", metadata: ["channel": "\(channel)", "why": "\(why)"])
        unfollow(channel)
        listener?.broker(lost: channel)
    }
}
