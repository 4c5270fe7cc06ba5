import HybridSyncClient

// What an app links when it uses only the SDK: `make test` checks with ldd that this program links
// no libwebsockets, libev, libssl or libcrypto (scripts/check_sdk_dependencies.py).
//
//     hybridsync-client-example WS_URL TOKEN CHANNEL
// connects, observes CHANNEL and prints its first publication.
let arguments = CommandLine.arguments
if arguments.count == 4 {
    try await follow(url: arguments[1], token: arguments[2], channel: arguments[3])
} else {
    print("usage: hybridsync-client-example WS_URL TOKEN CHANNEL")
}

func follow(url: String, token: String, channel: String) async throws {
    try await withClientRuntime(ClientRuntime(url: url) { token }) { runtime in
        let app = await runtime.mount("example")
        for try await event in try await app.observe(channel) {
            if case .publication(let publication) = event {
                print(String(decoding: publication.data.jsonBytes, as: UTF8.self))
                return
            }
        }
    }
}
