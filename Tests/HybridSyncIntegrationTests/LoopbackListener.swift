import Glibc

/// A listening TCP socket on `address` (a loopback address) with an ephemeral port, for tests that
/// play a server by hand; nil when it cannot listen. `acceptTimeoutSeconds` bounds each blocking
/// `accept` (SO_RCVTIMEO); 0 makes the socket non-blocking instead.
func loopbackListener(on address: String, acceptTimeoutSeconds: Int = 0) -> (fd: Int32, port: Int)? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    if acceptTimeoutSeconds > 0 {
        var wait = timeval(tv_sec: acceptTimeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
    } else {
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    }
    var socketAddress = sockaddr_in()
    socketAddress.sin_family = sa_family_t(AF_INET)
    socketAddress.sin_addr.s_addr = inet_addr(address)
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let listening = withUnsafeMutablePointer(to: &socketAddress) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, length) == 0 && listen(fd, 8) == 0 && getsockname(fd, $0, &length) == 0
        }
    }
    guard listening else {
        close(fd)
        return nil
    }
    return (fd, Int(UInt16(bigEndian: socketAddress.sin_port)))
}
