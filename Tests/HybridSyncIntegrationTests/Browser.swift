import Foundation
import HybridSyncProtocol

/// Headless Chromium, driven over the DevTools protocol by Tests/Browser/cdp_driver.py.
final class Browser: Sendable {
    /// A tab (a DevTools target).
    struct Tab: Sendable {
        let id: String
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    private let driver: PythonScript
    let version: String

    private init(driver: PythonScript, version: String) {
        self.driver = driver
        self.version = version
    }

    /// Chromium, or nil with the reason printed when it cannot start on this machine (the only
    /// case where the browser tests skip).
    static func start() async throws -> Browser? {
        let driver = try PythonScript("cdp_driver.py", [], in: "Browser")
        guard let line = try await driver.readLine(within: .seconds(60)), let first = try? JSONValue.parse(Array(line.utf8)) else {
            throw Failure(description: "cdp_driver.py did not start")
        }
        if let reason = first["skip"]?.stringValue {
            print("SKIPPED browser test: \(reason)")
            return nil
        }
        return Browser(driver: driver, version: first["browser"]?.stringValue ?? "?")
    }

    /// A new tab at `url`; `initScript` runs before each of its documents' own scripts.
    func open(_ url: String, initScript: String? = nil) async throws -> Tab {
        var command: [String: JSONValue] = ["op": "open", "url": .string(url)]
        if let initScript { command["init"] = .string(initScript) }
        return Tab(id: try await call(.object(command))["target"]?.stringValue ?? "")
    }

    /// The value of a JavaScript expression in `tab` (a promise is awaited); statements run for
    /// their effect are evaluated the same way, their value unused.
    @discardableResult
    func evaluate(_ tab: Tab, _ expression: String) async throws -> JSONValue {
        try await call(["op": "eval", "target": .string(tab.id), "expression": .string(expression)])["value"] ?? .null
    }

    /// Waits (at most `timeout`) until `expression` is truthy in `tab`: checked at once and after
    /// every change of the page's document.
    @discardableResult
    func wait(_ tab: Tab, until expression: String, timeout: Int = 15) async throws -> JSONValue {
        try await call(["op": "wait", "target": .string(tab.id), "expression": .string(expression), "timeout": .int(Int64(timeout))],
                       within: .seconds(timeout + 10))["value"] ?? .null
    }

    /// A PNG of `tab` written to `path`; returns its size.
    func screenshot(_ tab: Tab, to path: String) async throws -> Int {
        Int(try await call(["op": "screenshot", "target": .string(tab.id), "path": .string(path)])["bytes"]?.intValue ?? 0)
    }

    /// Any DevTools call on `tab` (`Page.setWebLifecycleState`, `Network.emulateNetworkConditions`, …).
    @discardableResult
    func devTools(_ tab: Tab, _ method: String, _ params: JSONValue = [:]) async throws -> JSONValue {
        try await call(["op": "cdp", "target": .string(tab.id), "method": .string(method), "params": params])["result"] ?? .null
    }

    func close(_ tab: Tab) async throws {
        _ = try await call(["op": "close", "target": .string(tab.id)])
    }

    private func call(_ command: JSONValue, within timeout: Duration = .seconds(60)) async throws -> JSONValue {
        driver.writeLine(String(decoding: command.jsonBytes, as: UTF8.self))
        guard let line = try await driver.readLine(within: timeout), let answer = try? JSONValue.parse(Array(line.utf8)) else {
            throw Failure(description: "no answer from cdp_driver.py to \(command)")
        }
        guard answer["ok"] == true else {
            throw Failure(description: "\(command["op"]?.stringValue ?? "?"): \(answer["error"]?.stringValue ?? line)")
        }
        return answer
    }
}
