#if canImport(FoundationNetworking)
import Foundation
public import FoundationNetworking  // URLSession, in the public initialiser, lives here on Linux
#else
public import Foundation
#endif

/// How a ``BackendAPIClient``'s requests reach the API: every typed call of the client is written
/// once, over this seam. ``HTTPBackendTransport`` sends them to a daemon; the testing library's
/// in-memory server answers them through the same router the daemon runs.
public protocol BackendAPITransport: Sendable {
    /// Sends one request (`authorization` is the whole header value, nil for none) and returns the
    /// answer, whatever its status; throws ``BackendAPIClient/Unreachable`` when no answer came.
    func send(method: String, path: String, body: [UInt8]?, authorization: String?) async throws -> BackendAPIClient.Response
}

/// The API over HTTP with URLSession.
public struct HTTPBackendTransport: BackendAPITransport {
    /// For example `http://127.0.0.1:8081`.
    public let baseURL: String
    private let session: URLSession

    /// Requests to `baseURL` (a trailing `/` is dropped) through `session`.
    public init(baseURL: String, session: URLSession = .shared) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.session = session
    }

    /// Sends the request; a cancelled caller gets `CancellationError` at once.
    public func send(method: String, path: String, body: [UInt8]?, authorization: String?) async throws -> BackendAPIClient.Response {
        guard let url = URL(string: baseURL + path) else { throw BackendAPIClient.Unreachable(url: baseURL + path, reason: "not a URL") }
        var request = URLRequest(url: url)
        request.httpMethod = method
        if let authorization { request.setValue(authorization, forHTTPHeaderField: "Authorization") }
        if let body {
            request.httpBody = Data(body)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let data: Data
        let response: URLResponse
        do {
            (data, response) = try await session.cancellableData(for: request)
        } catch let cancelled as CancellationError {
            throw cancelled  // the caller's task was cancelled: at once, its request is dropped
        } catch {
            throw BackendAPIClient.Unreachable(url: baseURL + path, reason: "\(error.localizedDescription)")
        }
        return BackendAPIClient.Response(status: (response as? HTTPURLResponse)?.statusCode ?? 0, body: Array(data))
    }
}
