import SasandoPKI
import Testing

@Suite("MAC key")
struct MACKeyTests {
    @Test("Generated keys are 32 random bytes and hex round-trips")
    func generateAndRoundTrip() throws {
        let key = MACKey.generate()
        #expect(key.count == 32)
        #expect(MACKey.generate() != key)
        let hex = MACKey.hex(key)
        #expect(hex.count == 64)
        #expect(hex == hex.lowercased())
        #expect(try MACKey.parse(hex: hex) == key)
        #expect(try MACKey.parse(hex: hex.uppercased()) == key)
        #expect(try MACKey.parse(hex: hex + "\n") == key)
        #expect(try MACKey.parse(hex: hex + "\r\n") == key)
    }

    @Test("Known vector")
    func knownVector() throws {
        let key = (0..<32).map { UInt8($0 * 8) }
        #expect(MACKey.hex(key) == "0008101820283038404850586068707880889098a0a8b0b8c0c8d0d8e0e8f0f8")
    }

    @Test("Wrong length or non-hex input fails with a message that does not echo the input",
          arguments: [
            "",
            String(repeating: "a", count: 63),
            String(repeating: "a", count: 65),
            String(repeating: "a", count: 62) + "zz",
            " " + String(repeating: "a", count: 64),
            String(repeating: "a", count: 64) + " ",
          ])
    func invalid(text: String) throws {
        #expect {
            try MACKey.parse(hex: text)
        } throws: { error in
            guard case PKIError.invalidMACKey = error else { return false }
            let message = "\(error)"
            return !message.contains("aaaaaaaa") && message.contains("MAC key")
        }
    }
}
