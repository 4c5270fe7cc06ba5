import CLibWebSockets
import Glibc

/// TLS session-ticket keys shared by every service thread's TLS context (each thread has its own
/// lws context, so its own `SSL_CTX`; without one key set a ticket resumed only on the thread that
/// issued it). Keys come from files (`server.tls.ticketKeyFiles`: they survive restarts and are
/// shared by nodes) or, without files, one random key made at start (every thread, this run only).
package struct TLSTicketKeys: Sendable, Equatable {
    /// 80 bytes per key, the first encrypts new tickets, every one decrypts.
    let bytes: [UInt8]

    /// Why a key file was refused.
    package struct Invalid: Error, Sendable, CustomStringConvertible {
        /// Which file, and what is wrong with it.
        package let description: String
    }

    /// One random key, for this process only.
    package static func random() -> TLSTicketKeys {
        var bytes = [UInt8](repeating: 0, count: Int(HS_TICKET_KEY_BYTES))
        var generator = SystemRandomNumberGenerator()
        for index in bytes.indices { bytes[index] = UInt8.random(in: .min ... .max, using: &generator) }
        return TLSTicketKeys(bytes: bytes)
    }

    /// Keys from files of exactly 80 bytes each (`openssl rand 80 > ticket.key`, the format of
    /// nginx's `ssl_session_ticket_key`); the first file's key encrypts new tickets.
    package static func load(files: [String]) throws(Invalid) -> TLSTicketKeys {
        guard !files.isEmpty, files.count <= 16 else { throw Invalid(description: "give 1 to 16 ticket key files") }
        var bytes: [UInt8] = []
        for path in files {
            guard let file = fopen(path, "rb") else {
                throw Invalid(description: "cannot read the ticket key file \(path): \(String(cString: strerror(errno)))")
            }
            defer { fclose(file) }
            var key = [UInt8](repeating: 0, count: Int(HS_TICKET_KEY_BYTES) + 1)
            let read = fread(&key, 1, key.count, file)
            guard read == Int(HS_TICKET_KEY_BYTES) else {
                throw Invalid(description: "the ticket key file \(path) must hold exactly 80 bytes (openssl rand 80 > \(path)), not \(read)\(read > 80 ? " or more" : "")")
            }
            bytes += key.prefix(Int(HS_TICKET_KEY_BYTES))
        }
        return TLSTicketKeys(bytes: bytes)
    }

    /// How many keys.
    package var count: Int { bytes.count / Int(HS_TICKET_KEY_BYTES) }
}

/// The process's ticket keys as the OpenSSL callback reads them: set before the first TLS context
/// is created and never changed while one exists (one set per process, as the contexts share it).
enum TLSSessionTickets {
    private nonisolated(unsafe) static var keys: UnsafeMutableBufferPointer<UInt8>?

    /// Installs `ticketKeys` for every TLS context made from now on (the old set is kept: a context
    /// of an earlier transport in this process may still read it).
    static func install(_ ticketKeys: TLSTicketKeys) {
        let buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: ticketKeys.bytes.count)
        _ = buffer.initialize(from: ticketKeys.bytes)
        keys = buffer
    }

    /// Makes `sslContext` (an `SSL_CTX *` lws gives while it sets a vhost up) use the shared keys.
    static func adopt(_ sslContext: UnsafeMutableRawPointer) {
        _ = hs_tls_set_ticket_callback(sslContext, callback)
    }

    private static let callback: hs_ticket_callback = { _, name, iv, cipher, mac, encrypt in
        guard let keys = TLSSessionTickets.keys, let base = keys.baseAddress else { return 0 }
        return hs_tls_ticket_crypt(base, Int32(keys.count / Int(HS_TICKET_KEY_BYTES)), name, iv, cipher, mac, encrypt)
    }
}
