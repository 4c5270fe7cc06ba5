import Configuration
import Foundation
import Synchronization
import Yams

/// Collects every key the daemon reads, so what a source sets and nobody reads is found.
final class KeyCollector: AccessReporter {
    private let seen = Mutex<Set<String>>([])

    func report(_ event: AccessEvent) {
        let key = event.metadata.key.components.joined(separator: ".")
        seen.withLock { _ = $0.insert(key) }
    }

    var keys: Set<String> { seen.withLock { $0 } }
}

/// Finds settings that no key of docs/CONFIGURATION.md reads (a typo would otherwise be ignored).
enum UnknownKeys {
    /// `HYBRIDSYNC_*` variables that belong to the tools around the daemon, not to it.
    static let toolVariables: Set<String> = ["HYBRIDSYNC_CONFIG", "HYBRIDSYNC_API_URL", "HYBRIDSYNC_URL", "HYBRIDSYNC_SANITIZER"]

    /// Every setting of `flags`, `environment` and the YAML `file` that is not in `known`, with
    /// where it was set; empty when everything is known.
    static func find(known: Set<String>, flags: [String], environment: [String: String], file: (path: String, text: String)?) -> [String] {
        var unknown: [String] = []
        let flagNames = Dictionary(known.map { (flagName($0), $0) }, uniquingKeysWith: { first, _ in first })
        for argument in flags where argument.hasPrefix("--") {
            let name = String(argument.dropFirst(2).prefix { $0 != "=" })
            guard name != "config", flagNames[name] == nil else { continue }
            unknown.append("flag --\(name)")
        }
        let variableNames = Set(known.map(variableName))
        for name in environment.keys.sorted() where name.hasPrefix("HYBRIDSYNC_") {
            guard !toolVariables.contains(name), !variableNames.contains(name) else { continue }
            unknown.append("environment variable \(name)")
        }
        if let file {
            for (key, line) in yamlKeys(file.text) where !known.contains(key) {
                unknown.append("\(file.path):\(line): \(key)")
            }
        }
        return unknown
    }

    /// `limits.maxMessageBytes` → `limits-max-message-bytes`; an acronym stays one word
    /// (`historyTTLSeconds` → `history-ttl-seconds`).
    static func flagName(_ key: String) -> String {
        key.split(separator: ".").map { component in
            let characters = Array(component)
            var name = ""
            for (index, character) in characters.enumerated() {
                if character.isUppercase, index > 0 {
                    let previous = characters[index - 1]
                    let nextIsLower = index + 1 < characters.count && characters[index + 1].isLowercase
                    if previous.isLowercase || previous.isNumber || (previous.isUppercase && nextIsLower) { name += "-" }
                }
                name += character.lowercased()
            }
            return name
        }.joined(separator: "-")
    }

    /// `limits.maxMessageBytes` → `HYBRIDSYNC_LIMITS_MAX_MESSAGE_BYTES`.
    static func variableName(_ key: String) -> String {
        "HYBRIDSYNC_" + flagName(key).replacingOccurrences(of: "-", with: "_").uppercased()
    }

    /// The leaf keys of a YAML document (dotted) with their line numbers; a list is one leaf.
    static func yamlKeys(_ text: String) -> [(key: String, line: Int)] {
        guard let root = try? Yams.compose(yaml: text) else { return [] }
        var keys: [(String, Int)] = []
        func walk(_ node: Node, _ prefix: String) {
            guard case .mapping(let mapping) = node else { return }
            for (keyNode, value) in mapping {
                guard let name = keyNode.string else { continue }
                let key = prefix.isEmpty ? name : "\(prefix).\(name)"
                if case .mapping = value {
                    walk(value, key)
                } else {
                    keys.append((key, (keyNode.mark?.line ?? 0)))
                }
            }
        }
        walk(root, "")
        return keys
    }
}
