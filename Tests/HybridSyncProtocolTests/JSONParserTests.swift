import HybridSyncProtocol
import Testing

@Suite("JSON reader")
struct JSONParserTests {
    @Test("values as RFC 8259 writes them", arguments: [
        ("null", JSONValue.null), ("true", .bool(true)), (" false ", .bool(false)),
        ("0", .int(0)), ("-0", .int(0)), ("-12", .int(-12)), ("9223372036854775807", .int(.max)),
        ("9223372036854775808", .double(9223372036854775808)), ("1.5", .double(1.5)), ("1e3", .double(1000)),
        ("-2.5E-1", .double(-0.25)), (#""""#, .string("")), (#""a\"b\\c\/d""#, .string("a\"b\\c/d")),
        (#""\b\f\n\r\t""#, .string("\u{08}\u{0C}\n\r\t")), (#""\u00e9\u20AC""#, .string("é€")),
        (#""\ud83d\ude00""#, .string("😀")), ("\"h\u{e9}llo\"", .string("héllo")),
        ("[]", .array([])), ("{}", .object([:])), (" [1, [2, {}], \"x\"] ", .array([1, [2, .object([:])], "x"])),
        (#"{"a":1,"b":{"c":[true,null]},"a":2}"#, .object(["a": 2, "b": ["c": [true, .null]]])),
    ] as [(String, JSONValue)])
    func valid(_ text: String, _ expected: JSONValue) throws {
        #expect(try JSONValue.parse(text) == expected)
    }

    @Test("anything else is refused, saying where", arguments: [
        "", " ", "01", "+1", ".5", "1.", "1e", "1e+", "-", "--1", "0x1", "1 2", "[1,]", "[1 2]", "{\"a\":1,}", "{a:1}",
        "{\"a\" 1}", "{\"a\":}", "[", "{", "\"abc", #""\x""#, #""\u12""#, #""\u12G4""#, "\"a\u{01}b\"", #""\ud800""#,
        #""\udc00""#, #""\ud800\u0041""#, "tru", "nul", "True", "NaN", "Infinity", "1e400", "[1]]",
    ])
    func invalid(_ text: String) {
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse(text) }
    }

    @Test("bytes that are not UTF-8 are refused inside strings; nesting is bounded")
    func bytesAndDepth() throws {
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse([0x22, 0xFF, 0x22]) }
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse([0x22, 0xC3, 0x22]) }
        let deep = String(repeating: "[", count: 513) + String(repeating: "]", count: 513)
        let error = #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse(deep) }
        #expect(error?.description.contains("nested deeper than 512") == true)
        let fine = String(repeating: "[", count: 512) + String(repeating: "]", count: 512)
        #expect(throws: Never.self) { try JSONValue.parse(fine) }
        let message = #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse("{\"id\":1,}") }
        #expect(message?.description == "malformed JSON: expected a member name at byte 8")
    }

    @Test("strings without escapes: ASCII as is, anything else only as valid UTF-8")
    func unescapedStrings() throws {
        #expect(try JSONValue.parse([0x22, 0x61, 0x7F, 0x7A, 0x22]) == .string("a\u{7F}z"))
        #expect(try JSONValue.parse([0x22, 0x61, 0xC3, 0xA9, 0x22]) == .string("aé"))
        #expect(try JSONValue.parse(Array("{\"op\":\"é😀\",\"k\":\"v\"}".utf8)) == .object(["op": "é😀", "k": "v"]))
        // An encoded surrogate, an overlong '/', and a truncated sequence after ASCII.
        for bytes: [UInt8] in [[0x22, 0x61, 0xED, 0xA0, 0x80, 0x22], [0x22, 0xC0, 0xAF, 0x22], [0x22, 0x61, 0x62, 0xE2, 0x82, 0x22]] {
            #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse(bytes) }
        }
    }

    @Test("what the encoder writes reads back equal (seeded random values)")
    func roundTrip() throws {
        var generator = SplitMix(seed: 42)
        for _ in 0..<2000 {
            let value = randomValue(depth: 0, &generator)
            #expect(try JSONValue.parse(value.jsonBytes) == value, "\(value)")
        }
    }

    private struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        init(seed: UInt64) { state = seed }
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    private func randomValue(depth: Int, _ generator: inout SplitMix) -> JSONValue {
        switch Int.random(in: 0..<(depth > 3 ? 6 : 8), using: &generator) {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &generator))
        case 2: return .int(Int64.random(in: .min ... .max, using: &generator))
        case 3: return .double(Double.random(in: -1e12...1e12, using: &generator))
        case 4, 5:
            let pool: [Character] = ["a", "\"", "\\", "\n", "\u{01}", "é", "😀", "/", " ", "\u{7F}"]
            return .string(String((0..<Int.random(in: 0..<8, using: &generator)).map { _ in pool.randomElement(using: &generator)! }))
        case 6: return .array((0..<Int.random(in: 0..<4, using: &generator)).map { _ in randomValue(depth: depth + 1, &generator) })
        default:
            var members: [String: JSONValue] = [:]
            for index in 0..<Int.random(in: 0..<4, using: &generator) { members["k\(index)"] = randomValue(depth: depth + 1, &generator) }
            return .object(members)
        }
    }
}
