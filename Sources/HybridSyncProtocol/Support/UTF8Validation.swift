/// Whether `bytes` are well-formed UTF-8 (no overlong forms, surrogates or truncated sequences),
/// by the standard library's decoder. Why not `String(validating:as:)`: it needs macOS 15 and
/// iOS 18, and the SDK supports iOS 17 and macOS 14.
package func isValidUTF8(_ bytes: ArraySlice<UInt8>) -> Bool {
    var iterator = bytes.makeIterator()
    var decoder = Unicode.UTF8()
    while true {
        switch decoder.decode(&iterator) {
        case .scalarValue: continue
        case .emptyInput: return true
        case .error: return false
        }
    }
}
