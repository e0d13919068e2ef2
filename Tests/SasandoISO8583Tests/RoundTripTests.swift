import SasandoISO8583
import Testing

@Suite struct RoundTripTests {
    @Test func randomMessagesSurviveEncodeDecode() throws {
        var generator = MessageGenerator(rng: SeededGenerator(seed: 8583))
        for _ in 0..<3000 {
            let message = generator.message()
            let bytes = try ISO8583Codec.encode(message)
            let decoded = try ISO8583Codec.decode(bytes, checkingMandatoryFields: false)
            #expect(decoded == message)
            // Canonical input: decoding then encoding gives back the same bytes.
            #expect(try ISO8583Codec.encode(decoded) == bytes)
        }
    }

    @Test func secondaryBitmapPresentExactlyWhenAFieldAbove64Is() throws {
        var generator = MessageGenerator(rng: SeededGenerator(seed: 42))
        for _ in 0..<1000 {
            let message = generator.message()
            let bytes = try ISO8583Codec.encode(message)
            let bit1 = bytes.count > 4 && ["8", "9", "A", "B", "C", "D", "E", "F"].contains(String(UnicodeScalar(bytes[4])))
            #expect(bit1 == message.fields.keys.contains { $0 > 64 })
        }
    }

    @Test func randomMessagesWithMACVerify() throws {
        var generator = MessageGenerator(rng: SeededGenerator(seed: 7))
        for _ in 0..<500 {
            let message = generator.message()
            let bytes = try ISO8583Codec.encodeWithMAC(message, key: Fixtures.key)
            let decoded = try ISO8583Codec.decode(bytes, checkingMandatoryFields: false)
            #expect(ISOMAC.verify(body: bytes, message: decoded, key: Fixtures.key) == .valid)
            let hasSecondary = decoded.fields.keys.contains { $0 > 64 }
            #expect(decoded[hasSecondary ? 128 : 64] != nil)
            #expect(decoded[hasSecondary ? 64 : 128] == nil)
        }
    }

    @Test func fixturesAreCanonical() throws {
        for bytes in [Fixtures.payment, Fixtures.reconciliation, Fixtures.echo] {
            let message = try ISO8583Codec.decode(bytes)
            #expect(try ISO8583Codec.encode(message) == bytes)
        }
    }
}
