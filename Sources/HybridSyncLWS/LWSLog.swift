import CLibWebSockets
package import Logging

/// Routes libwebsockets' own log lines into swift-log.
package enum LWSLog {
    /// The logger lws lines go to. Set once at start-up, before any transport is created.
    nonisolated(unsafe) static var logger = Logger(label: "hybridsync.lws")

    nonisolated(unsafe) private static var installed = false

    /// Sends lws errors and warnings (and notices when `verbose`) to `logger`.
    package static func install(logger: Logger, verbose: Bool = false) {
        Self.logger = logger
        installed = true
        var levels = Int32(LLL_ERR | LLL_WARN)
        if verbose { levels |= Int32(LLL_NOTICE) }
        hs_lws_set_log(levels, lwsLogSink)
    }

    /// Routes lws logging to swift-log unless the application already chose a logger (called
    /// before the first lws context of the process is created, which is single-threaded).
    static func installDefaultIfNeeded() {
        if !installed { install(logger: logger) }
    }
}

private func lwsLogSink(_ level: Int32, _ line: UnsafePointer<CChar>?) {
    guard let line else { return }
    var text = String(cString: line)
    while text.last == "\n" { text.removeLast() }
    if level & Int32(LLL_ERR) != 0 {
        LWSLog.logger.error("lws: \(text)")
    } else if level & Int32(LLL_WARN) != 0 {
        LWSLog.logger.warning("lws: \(text)")
    } else {
        LWSLog.logger.debug("lws: \(text)")
    }
}
