import HybridSyncProtocol

/// A change as one observer receives it.
enum StateUpdate {
    /// The binding's whole JSON (nil: absent; for a channel map, every entry).
    case whole(JSONValue?)
    /// Entries of a channel map that changed (nil: removed).
    case entries([(key: String, json: JSONValue?)])
}

/// The last JSON an observer emitted, so an equal value (after a snapshot) is not emitted twice.
final class EmissionMemory {
    private var last: JSONValue??

    func changed(to json: JSONValue?) -> Bool {
        if let last, last == json { return false }
        last = .some(json)
        return true
    }
}

/// Turns a state observer's updates into typed values.
enum StateEmitter {
    /// Decodes an observer's updates into values for `yield`: the first value always, later ones
    /// only when they differ. A channel map keeps its decoded entries and decodes only the
    /// entries that changed; entries (or a key) that do not decode are reported to `sink`.
    static func make<Value>(
        for key: StateKey<Value>, app: String, sink: @escaping @Sendable (RuntimeErrorReport) -> Void,
        yield: @escaping (Value) -> Void
    ) -> (StateUpdate) -> Void {
        let report: (String, any Error) -> Void = { what, error in
            sink(RuntimeErrorReport(app: app, context: "decoding \(what)", error: error))
        }
        if let map = key.makeMapDecoder?() {
            var first = true
            return { update in
                let result = switch update {
                case .whole(let json):
                    if case .object(let members)? = json { map.apply(members.map { ($0.key, $0.value) }, true) } else { map.apply([], true) }
                case .entries(let entries):
                    map.apply(entries, false)
                }
                for failure in result.failures { report("\(key.binding) entry '\(failure.key)'", failure.error) }
                guard result.changed || first else { return }
                first = false
                yield(result.value)
            }
        }
        let memory = EmissionMemory()
        return { update in
            guard case .whole(let json) = update, memory.changed(to: json) else { return }
            do {
                yield(try key.decode(json))
            } catch {
                report("\(key.binding)", error)
            }
        }
    }
}
