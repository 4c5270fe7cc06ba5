public import HybridSyncClient

/// A test server as a backend service and a client app see it: typed backend API calls
/// (docs/API.md) and client runtimes pointed at it. ``InMemoryServer`` and ``TestDaemon`` both
/// conform, so a test switches between in-memory and a real daemon with one line:
///
/// ```swift
/// let server: any BackendAPI = InMemoryServer()   // or: try await TestDaemon.start()
/// let runtime = server.runtime(user: "7")
/// try await server.ban(user: "42", reason: "spam")
/// ```
public protocol BackendAPI: Sendable {
    /// Sends one API request (`body` as JSON) and returns the JSON answer; a non-2xx answer
    /// throws ``BackendAPIClient/Failure`` with the status and the error code of the body.
    func request(_ method: String, _ path: String, _ body: JSONValue?) async throws -> JSONValue

    /// A client runtime for `user` (a token this server accepts), not started yet.
    func runtime(user: String, configuration: ClientRuntime.Configuration) -> ClientRuntime
}

extension BackendAPI {
    /// A client runtime for `user` with the default configuration, not started yet.
    public func runtime(user: String) -> ClientRuntime { runtime(user: user, configuration: ClientRuntime.Configuration()) }

    /// `POST /api/publish`: returns the publication's offset.
    @discardableResult
    public func publish(channel: String, data: JSONValue) async throws -> UInt64 {
        let result = try await request("POST", "/api/publish", ["channel": .string(channel), "data": data])
        return UInt64(result["offset"]?.intValue ?? 0)
    }

    /// `POST /api/state/set`: sets one retained key; returns its `version` (the publication's offset).
    @discardableResult
    public func setState(channel: String, key: String, value: JSONValue) async throws -> UInt64 {
        let result = try await request("POST", "/api/state/set", ["channel": .string(channel), "key": .string(key), "value": value])
        return UInt64(result["version"]?.intValue ?? 0)
    }

    /// `POST /api/state/remove`: removes one retained key.
    public func removeState(channel: String, key: String) async throws {
        _ = try await request("POST", "/api/state/remove", ["channel": .string(channel), "key": .string(key)])
    }

    /// `POST /api/ban`: bans `user` (until `until`, seconds since 1970, or until lifted).
    public func ban(user: String, reason: String, until: Double? = nil) async throws {
        var body: [String: JSONValue] = ["user": .string(user), "reason": .string(reason)]
        if let until { body["until"] = .double(until) }
        _ = try await request("POST", "/api/ban", .object(body))
    }

    /// `DELETE /api/ban/<user>`: lifts the ban.
    public func unban(user: String) async throws {
        _ = try await request("DELETE", "/api/ban/\(BackendAPIClient.pathSegment(user))", nil)
    }

    /// `POST /api/disconnect`: closes `user`'s connections with `code`, 4504 (do not reconnect) by
    /// default as in docs/API.md; 4000-4499 tell clients to reconnect.
    public func disconnect(user: String, code: UInt16 = 4504) async throws {
        _ = try await request("POST", "/api/disconnect", ["user": .string(user), "code": .int(Int64(code))])
    }

    /// `GET /api/state/<channel>`: the retained state, key → value.
    public func state(of channel: String) async throws -> [String: JSONValue] {
        let path = "/api/state/\(BackendAPIClient.pathSegment(channel))"
        guard case .object(let entries)? = try await request("GET", path, nil)["state"] else { return [:] }
        return entries.compactMapValues { $0["value"] }
    }
}
