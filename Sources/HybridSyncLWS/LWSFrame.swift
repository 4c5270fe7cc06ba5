import CLibWebSockets
import Foundation

/// Bytes laid out with LWS_PRE bytes of headroom, as `lws_write` requires.
///
/// One frame is made per outbound message and shared by every connection it goes to: the server
/// transport writes the WebSocket header into the headroom just before each send (the client
/// transport lets lws do it), on the one service thread.
final class LWSFrame {
    static let headroom = Int(hs_lws_pre())

    let count: Int
    private let storage: UnsafeMutableRawPointer

    init(_ bytes: [UInt8]) {
        count = bytes.count
        storage = Self.allocate(count)
        bytes.withUnsafeBytes { fill(from: $0) }
    }

    init(copying bytes: UnsafeRawBufferPointer) {
        count = bytes.count
        storage = Self.allocate(count)
        fill(from: bytes)
    }

    private static func allocate(_ count: Int) -> UnsafeMutableRawPointer {
        UnsafeMutableRawPointer.allocate(byteCount: headroom + max(count, 1), alignment: 16)
    }

    private func fill(from bytes: UnsafeRawBufferPointer) {
        if let base = bytes.baseAddress { (storage + Self.headroom).copyMemory(from: base, byteCount: count) }
    }

    deinit { storage.deallocate() }

    /// The first payload byte (headroom sits just before it).
    var payload: UnsafeMutablePointer<UInt8> {
        (storage + Self.headroom).assumingMemoryBound(to: UInt8.self)
    }
}
