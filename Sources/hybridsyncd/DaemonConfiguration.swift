import Configuration
import HybridSyncLWS
import HybridSyncServer

/// Everything `hybridsyncd` reads from its configuration, with defaults.
///
/// Sources, highest priority first: command-line flags (`--server-port 9000`), environment
/// variables (`HYBRIDSYNC_SERVER_PORT=9000`), the YAML file (`server: {port: 9000}`), defaults.
///
/// | key | type | default | meaning |
/// |---|---|---|---|
/// | `server.host` | string | `127.0.0.1` | address of the public WebSocket listener |
/// | `server.port` | int | `8080` | its port; 0 picks a free one |
/// | `server.tls.certificate` | string | unset | PEM certificate: serve `wss://` |
/// | `server.tls.privateKey` | string | unset | PEM private key for it |
/// | `api.host` | string | `127.0.0.1` | address of the backend HTTP API |
/// | `api.port` | int | `8081` | its port; 0 picks a free one |
/// | `api.key` | string (secret) | required | backend API key (`Authorization: Bearer`) |
/// | `api.maxBodyBytes` | int | `1048576` | largest API request body (413 above) |
/// | `auth.tokenSecret` | string (secret) | required | HS256 secret client JWTs are signed with |
/// | `auth.leewaySeconds` | double | `0` | clock skew tolerated on `exp` and `nbf` |
/// | `limits.maxMessageBytes` | int | `65536` | largest inbound WebSocket message (close 1009 above) |
/// | `limits.maxQueuedBytes` | int | `1048576` | outbound backlog per connection (close 4001 above) |
/// | `limits.maxChannelsPerConnection` | int | `128` | channels one connection may hold |
/// | `shutdown.graceSeconds` | double | `3` | how long SIGTERM waits for clients to close |
/// | `log.level` | string | `info` | trace, debug, info, notice, warning, error, critical |
struct DaemonConfiguration {
    var transport: LWSServerConfiguration
    var server: ServerConfiguration
    var shutdownGraceSeconds: Double
    var logLevel: String

    /// Whether the secrets are the well-known development values shipped in Config/.
    var usesDevelopmentSecrets: Bool {
        server.apiKey == "dev-api-key" || server.tokenSecret == Array("dev-token-secret-change-me".utf8)
    }

    struct Invalid: Error, CustomStringConvertible {
        let description: String
    }

    init(config: ConfigReader) throws {
        var transport = LWSServerConfiguration()
        transport.publicHost = config.string(forKey: "server.host", default: transport.publicHost)
        transport.publicPort = config.int(forKey: "server.port", default: transport.publicPort)
        transport.apiHost = config.string(forKey: "api.host", default: transport.apiHost)
        transport.apiPort = config.int(forKey: "api.port", default: transport.apiPort)
        transport.maxBodyBytes = config.int(forKey: "api.maxBodyBytes", default: transport.maxBodyBytes)
        transport.maxMessageBytes = config.int(forKey: "limits.maxMessageBytes", default: transport.maxMessageBytes)
        transport.maxQueuedBytes = config.int(forKey: "limits.maxQueuedBytes", default: transport.maxQueuedBytes)
        let certificate = config.string(forKey: "server.tls.certificate")
        let privateKey = config.string(forKey: "server.tls.privateKey")
        switch (certificate, privateKey) {
        case (let certificate?, let privateKey?):
            transport.tls = TLSFiles(certificatePath: certificate, privateKeyPath: privateKey)
        case (nil, nil):
            break
        default:
            throw Invalid(description: "set both server.tls.certificate and server.tls.privateKey, or neither")
        }
        for (key, port) in [("server.port", transport.publicPort), ("api.port", transport.apiPort)] where !(0...65535).contains(port) {
            throw Invalid(description: "\(key) must be 0-65535, got \(port)")
        }
        for (key, value) in [
            ("api.maxBodyBytes", transport.maxBodyBytes), ("limits.maxMessageBytes", transport.maxMessageBytes),
            ("limits.maxQueuedBytes", transport.maxQueuedBytes),
        ] where value < 1024 {
            throw Invalid(description: "\(key) must be at least 1024, got \(value)")
        }

        guard let apiKey = config.string(forKey: "api.key", isSecret: true), !apiKey.isEmpty else {
            throw Invalid(description: "api.key is not set: put it in the config file or HYBRIDSYNC_API_KEY")
        }
        guard let secret = config.string(forKey: "auth.tokenSecret", isSecret: true), !secret.isEmpty else {
            throw Invalid(description: "auth.tokenSecret is not set: put it in the config file or HYBRIDSYNC_AUTH_TOKEN_SECRET")
        }
        let leeway = config.double(forKey: "auth.leewaySeconds", default: 0)
        let maxChannels = config.int(forKey: "limits.maxChannelsPerConnection", default: 128)
        guard leeway >= 0, maxChannels >= 1 else {
            throw Invalid(description: "auth.leewaySeconds must be >= 0 and limits.maxChannelsPerConnection >= 1")
        }
        self.transport = transport
        self.server = ServerConfiguration(
            apiKey: apiKey, tokenSecret: secret, tokenLeewaySeconds: leeway, maxChannelsPerConnection: maxChannels
        )
        self.shutdownGraceSeconds = config.double(forKey: "shutdown.graceSeconds", default: 3)
        self.logLevel = config.string(forKey: "log.level", default: "info")
    }
}
