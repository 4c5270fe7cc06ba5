import CLibWebSockets
import Glibc
import Logging

/// Builds one worker's lws context and its vhosts (public, API, and the shared listener's) from
/// the configuration, and owns the C memory lws borrows from them (protocol tables, strings)
/// until ``free()``, after the context is destroyed.
struct EdgeContextBuilder {
    /// The one protocol every accepted socket is bound to.
    static let protocolName = "hybridsync-edge"

    let configuration: LWSServerConfiguration
    private var protocols: [UnsafeMutablePointer<lws_protocols>] = []
    private var strings: [CStringBox] = []

    init(configuration: LWSServerConfiguration) { self.configuration = configuration }

    /// A context without listeners of lws's, `user` its user pointer, on libev's epoll loop when
    /// lws's libev plugin is there (on lws's own poll loop otherwise).
    mutating func makeContext(user: UnsafeMutableRawPointer, loop: ServiceLoop, logger: Logger) throws(LWSServerError) -> OpaquePointer {
        var contextInfo = lws_context_creation_info()
        contextInfo.options = hs_lws_server_options(configuration.tls != nil ? 1 : 0)
        contextInfo.port = CONTEXT_PORT_NO_LISTEN
        contextInfo.user = user
        // lws's own timeouts only cover the TLS handshake here; HybridSync times everything else.
        contextInfo.timeout_secs = UInt32(max(1, configuration.httpHeaderTimeoutSeconds.rounded(.up)))
        // fd_limit_per_thread stays unset on purpose: below the open-file limit, lws 4.1 looks every
        // fd up by a linear scan (15k sockets: 3.5 ms per close). The caps in `admit` keep sockets
        // below the limit less the reserve instead, so accept() never meets EMFILE.
        contextInfo.pt_serv_buf_size = 16 * 1024
        // On libev's epoll loop (lws's libev plugin): a turn then costs what is ready instead of a
        // poll of every socket. Where the plugin is missing, lws's own poll loop.
        if let eventLoop = loop.makeEventLoop() {
            var loops: [UnsafeMutableRawPointer?] = [eventLoop]
            let options = contextInfo.options
            contextInfo.options |= UInt64(LWS_SERVER_OPTION_LIBEV)
            let context = loops.withUnsafeMutableBufferPointer { foreign in
                contextInfo.foreign_loops = foreign.baseAddress
                defer { contextInfo.foreign_loops = nil }
                return lws_create_context(&contextInfo)
            }
            if let context { return context }
            loop.destroy(nil)
            contextInfo.options = options
            logger.warning("libwebsockets' libev plugin is not usable (Debian: libwebsockets-evlib-ev); polling every socket on every turn instead")
        }
        guard let context = lws_create_context(&contextInfo) else {
            throw LWSServerError(description: "libwebsockets could not create its context (see the lws error above)")
        }
        return context
    }

    /// The public vhost (TLS when configured), which listens on nothing itself.
    mutating func makePublicVhost(_ context: OpaquePointer) throws(LWSServerError) -> OpaquePointer {
        var publicInfo = vhostInfo(name: "public", host: configuration.publicHost, port: Int(CONTEXT_PORT_NO_LISTEN_SERVER))
        if let files = configuration.tls {
            publicInfo.ssl_cert_filepath = UnsafePointer(cString(files.certificatePath))
            publicInfo.ssl_private_key_filepath = UnsafePointer(cString(files.privateKeyPath))
            publicInfo.ssl_options_set = hs_lws_tls12_min_options()
            publicInfo.alpn = UnsafePointer(cString("http/1.1"))
        }
        guard let publicVhost = lws_create_vhost(context, &publicInfo) else {
            throw LWSServerError(description:
                "cannot listen on \(configuration.publicHost):\(configuration.publicPort) for WebSockets "
                + "(port in use, address not on this host, or unreadable TLS files)")
        }
        return publicVhost
    }

    /// The API vhost, listening on the API address (plain HTTP, never TLS).
    mutating func makeAPIVhost(_ context: OpaquePointer) throws(LWSServerError) -> OpaquePointer {
        var apiInfo = vhostInfo(name: "api", host: configuration.apiHost, port: configuration.apiPort)
        apiInfo.options &= ~UInt64(LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT)
        guard let apiVhost = lws_create_vhost(context, &apiInfo) else {
            throw LWSServerError(description:
                "cannot listen on \(configuration.apiHost):\(configuration.apiPort) for the HTTP API "
                + "(port in use or address not on this host)")
        }
        return apiVhost
    }

    /// Opens a listening socket on the public port with SO_REUSEPORT (`first`: the hub's, so port 0
    /// resolves once) and watches it in a vhost of its own (the public vhost applies its
    /// raw-socket accept role to everything adopted into it, which a file descriptor cannot take).
    /// Returns the socket, the port it is bound to and lws's handle of it (to pause accepting).
    mutating func listenShared(in context: OpaquePointer, port: Int, first: Bool) throws(LWSServerError) -> (socket: Int32, port: Int, wsi: OpaquePointer) {
        var info = vhostInfo(name: "listener", host: configuration.publicHost, port: Int(CONTEXT_PORT_NO_LISTEN_SERVER))
        info.options = hs_lws_server_options(0)
        guard let vhost = lws_create_vhost(context, &info) else {
            throw LWSServerError(description: "libwebsockets could not create the listener's vhost")
        }
        var bound: Int32 = 0
        let fd = hs_listen_shared(configuration.publicHost, Int32(port), first ? 1 : 0, &bound)
        guard fd >= 0 else {
            throw LWSServerError(description: "cannot listen on \(configuration.publicHost):\(port) for WebSockets "
                + "(port in use, or address not on this host): \(String(cString: strerror(errno)))")
        }
        guard let wsi = hs_lws_adopt_listener(vhost, fd, Self.protocolName) else {
            Glibc.close(fd)
            throw LWSServerError(description: "libwebsockets could not watch the listening socket")
        }
        return (fd, Int(bound), wsi)
    }

    /// Frees what lws borrowed; only once its context is destroyed.
    mutating func free() {
        for array in protocols { array.deallocate() }
        protocols = []
        strings = []
    }

    /// A vhost whose accepted sockets are bound to lws's raw role and our one protocol.
    private mutating func vhostInfo(name: String, host: String, port: Int) -> lws_context_creation_info {
        var info = lws_context_creation_info()
        info.vhost_name = UnsafePointer(cString(name))
        info.port = Int32(port)
        info.iface = UnsafePointer(cString(host))
        info.protocols = UnsafePointer(makeProtocols())
        info.options = hs_lws_server_options(configuration.tls != nil ? 1 : 0) | UInt64(LWS_SERVER_OPTION_ADOPT_APPLY_LISTEN_ACCEPT_CONFIG)
        info.listen_accept_role = UnsafePointer(cString("raw-skt"))
        info.listen_accept_protocol = UnsafePointer(cString(Self.protocolName))
        return info
    }

    private mutating func cString(_ string: String) -> UnsafeMutablePointer<CChar> {
        let box = CStringBox(string)
        strings.append(box)
        return box.pointer
    }

    private mutating func makeProtocols() -> UnsafeMutablePointer<lws_protocols> {
        let array = UnsafeMutablePointer<lws_protocols>.allocate(capacity: 2)
        var proto = hs_lws_protocol_terminator()
        proto.name = UnsafePointer(cString(Self.protocolName))
        proto.callback = lwsServerCallback
        proto.per_session_data_size = MemoryLayout<UInt64>.size
        proto.rx_buffer_size = 16 * 1024
        proto.tx_packet_size = 64 * 1024
        array[0] = proto
        array[1] = hs_lws_protocol_terminator()
        protocols.append(array)
        return array
    }
}
