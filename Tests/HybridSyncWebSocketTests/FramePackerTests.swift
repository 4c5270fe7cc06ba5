import HybridSyncWebSocket
import Testing

@Suite("Frame packer: several messages in one text frame")
struct FramePackerTests {
    private func append(_ packer: FramePacker, _ text: String) -> Bool {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBufferPointer { packer.append($0.baseAddress!, count: $0.count) }
    }

    @Test("messages are newline-separated behind the headroom; the header is written just before them")
    func packs() {
        let packer = FramePacker(capacity: 64, headroom: 16)
        #expect(append(packer, #"{"a":1}"#))
        #expect(append(packer, #"{"b":2}"#))
        #expect(Array(UnsafeBufferPointer(start: packer.payload, count: packer.count)) == Array("{\"a\":1}\n{\"b\":2}".utf8))
        let header = packer.writeHeader()
        #expect(header == 2)
        #expect(Array(UnsafeBufferPointer(start: packer.payload - header, count: header)) == [0x81, UInt8(packer.count)])
        packer.reset()
        #expect(packer.count == 0)
    }

    @Test("a message that does not fit is refused and leaves what is packed unchanged; lengths over 125 get the long header")
    func capacity() {
        let packer = FramePacker(capacity: 200, headroom: 16)
        #expect(append(packer, String(repeating: "x", count: 150)))
        #expect(!append(packer, String(repeating: "y", count: 50)), "150 + newline + 50 > 200")
        #expect(packer.count == 150)
        #expect(append(packer, String(repeating: "z", count: 49)))
        #expect(packer.count == 200)
        let header = packer.writeHeader()
        #expect(header == 4)
        #expect(Array(UnsafeBufferPointer(start: packer.payload - header, count: header)) == [0x81, 126, 0, 200])
    }
}
