import Configuration
import Foundation
import Synchronization
import Yams

/// Collects every key the daemon reads, so what a source sets and nobody reads is found, and
/// every value that did not convert to its key's type (which would otherwise fall back to the
/// default without a word).
final class KeyCollector: AccessReporter {
    private let state = Mutex<(keys: Set<String>, wrongTypes: [String: WrongType])>(([], [:]))

    /// What was wrong with a value, and whether the file set it.
    struct WrongType {
        let problem: String
        let fromFile: Bool
    }

    func report(_ event: AccessEvent) {
        let key = event.metadata.key.components.joined(separator: ".")
        var problem: String?
        var fromFile = false
        if let conversion = event.conversionError {
            problem = "\(conversion)"
        } else if case .failure(let error) = event.result {
            problem = "\(error)"
        }
        for provider in event.providerResults {
            guard case .failure(let error) = provider.result else { continue }
            problem = problem ?? "\(error)"
            fromFile = provider.providerName.hasPrefix("FileProvider")
        }
        let expected = "\(event.metadata.valueType)"
        state.withLock { state in
            state.keys.insert(key)
            if let problem { state.wrongTypes[key] = WrongType(problem: "expected \(expected): \(problem)", fromFile: fromFile) }
        }
    }

    var keys: Set<String> { state.withLock { $0.keys } }
    /// Key → what was wrong with its value.
    var wrongTypes: [String: WrongType] { state.withLock { $0.wrongTypes } }
}

/// Finds settings that no key of docs/CONFIGURATION.md reads (a typo would otherwise be ignored).
enum UnknownKeys {
    /// `HYBRIDSYNC_*` variables that belong to the tools around the daemon, not to it.
    static let toolVariables: Set<String> = ["HYBRIDSYNC_CONFIG", "HYBRIDSYNC_API_URL", "HYBRIDSYNC_URL", "HYBRIDSYNC_SANITIZER"]

    /// The values that did not convert, with where they were set when the file set them.
    static func describe(wrongTypes: [String: KeyCollector.WrongType], file: (path: String, text: String)?) -> [String] {
        let lines = Dictionary(file.map { yamlKeys($0.text) }?.map { ($0.key, $0.line) } ?? [], uniquingKeysWith: { first, _ in first })
        return wrongTypes.sorted { $0.key < $1.key }.map { key, wrong in
            let place = wrong.fromFile ? lines[key].map { "\(file?.path ?? "the file"):\($0): " } ?? "" : ""
            return "\(place)\(key): \(wrong.problem)"
        }
    }

    /// Every setting of `flags`, `environment` and the YAML `file` that is not in `known`, with
    /// where it was set; empty when everything is known.
    static func find(known: Set<String>, flags: [String], environment: [String: String], file: (path: String, text: String)?) -> [String] {
        var unknown: [String] = []
        let flagNames = Dictionary(known.map { (flagName($0), $0) }, uniquingKeysWith: { first, _ in first })
        for argument in flags where argument.hasPrefix("--") {
            let name = String(argument.dropFirst(2).prefix { $0 != "=" })
            guard !["config", "check-config", "print-config"].contains(name), flagNames[name] == nil else { continue }
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
