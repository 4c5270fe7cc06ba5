/// Validates UTF-8 incrementally, byte by byte, so a WebSocket text message split over frames can be
/// refused at the first bad byte (RFC 6455 §8.1: fail fast with 1007) and accepted only if it ends
/// on a character boundary.
///
/// Rejects overlong forms, surrogates (U+D800–DFFF) and code points above U+10FFFF (RFC 3629).
package struct UTF8Validator: Sendable {
    /// Continuation bytes still expected for the current character.
    private var remaining = 0
    /// Allowed range for the next continuation byte (narrower right after some lead bytes).
    private var lower: UInt8 = 0x80
    private var upper: UInt8 = 0xBF

    /// A validator at a character boundary.
    package init() {}

    /// True when everything fed so far ends on a character boundary.
    package var isComplete: Bool { remaining == 0 }

    /// Feeds bytes; false as soon as they cannot be part of valid UTF-8.
    package mutating func feed(_ bytes: some Sequence<UInt8>) -> Bool {
        for byte in bytes where !feed(byte) { return false }
        return true
    }

    /// Feeds one byte; false when it cannot be part of valid UTF-8.
    @inline(__always)
    package mutating func feed(_ byte: UInt8) -> Bool {
        if remaining == 0 {
            switch byte {
            case 0x00...0x7F: return true
            case 0xC2...0xDF: remaining = 1; lower = 0x80; upper = 0xBF
            case 0xE0: remaining = 2; lower = 0xA0; upper = 0xBF
            case 0xE1...0xEC, 0xEE...0xEF: remaining = 2; lower = 0x80; upper = 0xBF
            case 0xED: remaining = 2; lower = 0x80; upper = 0x9F
            case 0xF0: remaining = 3; lower = 0x90; upper = 0xBF
            case 0xF1...0xF3: remaining = 3; lower = 0x80; upper = 0xBF
            case 0xF4: remaining = 3; lower = 0x80; upper = 0x8F
            default: return false
            }
            return true
        }
        guard byte >= lower, byte <= upper else { return false }
        remaining -= 1
        lower = 0x80
        upper = 0xBF
        return true
    }

    /// Whether `bytes` is complete, valid UTF-8.
    package static func isValid(_ bytes: some Sequence<UInt8>) -> Bool {
        var validator = UTF8Validator()
        return validator.feed(bytes) && validator.isComplete
    }
}
