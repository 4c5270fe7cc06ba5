import HybridSyncProtocol
import Testing

@Suite("Close codes")
struct CloseCodeTests {
    @Test("4000-4499 mean reconnect, 4500-4999 mean stop")
    func rangesDecideReconnect() {
        for code in CloseCode.all {
            switch code.rawValue {
            case 4000..<4500: #expect(code.shouldReconnect, "\(code)")
            case 4500..<5000: #expect(!code.shouldReconnect, "\(code)")
            default: #expect(code.shouldReconnect, "\(code): RFC codes are network-level, reconnect")
            }
        }
        #expect(!CloseCode.banned.shouldReconnect)
        #expect(!CloseCode.invalidToken.shouldReconnect)
        #expect(CloseCode.shutdown.shouldReconnect)
        #expect(CloseCode.slowConsumer.shouldReconnect)
    }

    @Test("every code has one distinct value and a name")
    func tableIsConsistent() {
        let values = CloseCode.all.map(\.rawValue)
        #expect(Set(values).count == values.count)
        for code in CloseCode.all { #expect(!code.name.hasPrefix("code "), "\(code.rawValue) has no name") }
    }
}
