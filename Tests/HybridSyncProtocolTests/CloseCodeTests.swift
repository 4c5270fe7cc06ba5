import Foundation
import HybridSyncProtocol
import Testing

@Suite("Close codes")
struct CloseCodeTests {
    @Test("4000-4499 mean reconnect, 4500-4999 mean stop")
    func rangesDecideReconnect() {
        for code in CloseCode.all {
            switch code.rawValue {
            case 4000..<4500: #expect(code.shouldReconnect, "\(code)")
            case 4500..<5000: #expect(!code.shouldReconnect, "\(code)")
            default: #expect(code.shouldReconnect, "\(code): RFC codes are network-level, reconnect")
            }
        }
        #expect(!CloseCode.banned.shouldReconnect)
        #expect(!CloseCode.invalidToken.shouldReconnect)
        #expect(CloseCode.shutdown.shouldReconnect)
        #expect(CloseCode.slowConsumer.shouldReconnect)
    }

    @Test("every code has one distinct value and a name")
    func tableIsConsistent() {
        let values = CloseCode.all.map(\.rawValue)
        #expect(Set(values).count == values.count)
        for code in CloseCode.all { #expect(!code.name.hasPrefix("code "), "\(code.rawValue) has no name") }
    }
}

/// docs/PROTOCOL.md is what independent clients are written from: its close-code and error-code
/// tables must say what `CloseCode` and `ErrorCode` do, row by row, both ways.
@Suite("PROTOCOL.md tables against the code")
struct ProtocolTableTests {
    /// The rows of the markdown table under `heading`: its cells, the header and rule rows left out.
    static func rows(under heading: String) throws -> [[String]] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("docs/PROTOCOL.md"), encoding: .utf8)
        let section = try #require(text.components(separatedBy: "\n## ").first { $0.hasPrefix(heading) })
        return section.split(separator: "\n").filter { $0.hasPrefix("| ") && !$0.hasPrefix("| code") }.map {
            $0.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
        }
    }

    @Test("every close code of the table is a CloseCode and the other way round; 'stop' rows are exactly those that must not reconnect")
    func closeCodes() throws {
        let rows = try Self.rows(under: "Close codes")
        let documented = Set(rows.compactMap { UInt16($0[0]) })
        #expect(documented.count == rows.count, "every row starts with a code")
        #expect(documented == Set(CloseCode.all.map(\.rawValue)))
        for row in rows {
            let code = CloseCode(rawValue: UInt16(row[0])!)
            #expect(row[1] == code.name, "\(row[0])")
            #expect(row[4].hasPrefix("stop") == !code.shouldReconnect, "\(row[0]): '\(row[4])'")
            #expect(["yes", "no"].contains(row[2]), "\(row[0]): the push column")
        }
    }

    @Test("every error code of the table exists, and its temporary column is ErrorCode.isTemporary")
    func errorCodes() throws {
        let rows = try Self.rows(under: "Error codes")
        #expect(rows.map { Int($0[0]) } == Array(100...119))
        for row in rows {
            let code = ErrorCode(rawValue: Int(row[0])!)
            #expect((row[2] == "yes") == code.isTemporary, "\(row[0]): '\(row[2])'")
            #expect(ReplyError(code, "").temporary == code.isTemporary)
        }
    }
}
