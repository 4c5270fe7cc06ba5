// What the documentation's snippets assume exists in an app: a backend that hands out tokens,
// views to update, a catalog API. Only here so the snippets compile exactly as written.
import HybridSyncClient
import Logging

struct Backend: Sendable {
    func freshToken() async throws -> String { "token" }
    func token() async throws -> String { "token" }
}

let backend = Backend()

struct BillingBackend: Sendable {
    func subscriptionToken(for channel: String) async throws -> String? { "token for \(channel)" }
}

let billingBackend = BillingBackend()
let myBackend = Backend()
let url = "ws://127.0.0.1:1/"
let logger = Logger(label: "snippets")

struct Item: Codable, Sendable {}

struct CatalogAPI: Sendable { func fetchCatalog() async throws -> [Item] { [] } }
let api = CatalogAPI()

func hide(_ users: some Collection<String>) {}
func hideMessages(from users: some Collection<String>) {}
func show(_ value: some Sendable) {}
func showNotice(_ text: String) {}
func render(_ value: some Sendable) {}
func showBanScreen(reason: String?) {}
func signOut() {}
func showOfflineBanner() {}

/// A stand-in for an app's own WebSocket stack.
enum AppWebSocket {
    static func open(_ url: String, subprotocol: String) async throws -> any ClientConnection {
        throw ClientTransportError("no network in snippets", isPermanent: true)
    }
}
