import Foundation
import Logging
import Synchronization

/// The daemon's log lines on stderr, as text (swift-log's stream format) or as one JSON object
/// per line (`log.format: json`) for log shippers. The format is switched once the configuration
/// is read, for every logger already made.
struct DaemonLogHandler: LogHandler {
    enum Format: String, Sendable {
        case text, json
    }

    /// The format of every handler; `text` until the configuration says otherwise.
    static let format = Mutex(Format.text)
    /// The level of every handler once the configuration set it (a reload changes it for all).
    static let level = Mutex<Logger.Level?>(nil)

    let label: String
    private var text: StreamLogHandler
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    var logLevel: Logger.Level {
        get { Self.level.withLock { $0 } ?? text.logLevel }
        set { text.logLevel = newValue }
    }

    init(label: String) {
        self.label = label
        text = StreamLogHandler.standardError(label: label)
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        guard Self.format.withLock({ $0 }) == .json else {
            var text = text
            text.metadata = metadata
            text.log(event: event)
            return
        }
        var merged = metadata.merging(metadataProvider?.get() ?? [:]) { $1 }
        merged.merge(event.metadata ?? [:]) { $1 }
        FileHandle.standardError.write(Data((Self.json(event: event, label: label, metadata: merged) + "\n").utf8))
    }

    /// One JSON object: `ts`, `level`, `label`, `source`, `message`, and the metadata as strings.
    static func json(event: LogEvent, label: String, metadata: Logger.Metadata) -> String {
        var object: [String: String] = [
            "ts": Date.ISO8601FormatStyle(includingFractionalSeconds: true).format(Date()),
            "level": event.level.rawValue, "label": label, "source": event.source, "message": "\(event.message)",
        ]
        for (key, value) in metadata where object[key] == nil { object[key] = "\(value)" }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}
