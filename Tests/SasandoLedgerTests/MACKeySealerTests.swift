import SasandoLedger
import Testing

/// The sealed form of a terminal's MAC key, as a value: it opens to the key for its own terminal
/// under its own key-encryption key, and for nothing else.
struct MACKeySealerTests {
    let macKey = (0..<32).map { UInt8($0 * 7 % 256) }
    let sealer = MACKeySealer(keyBytes: [UInt8](repeating: 0x5A, count: 32))

    @Test func aSealedKeyOpensForItsTerminalOnly() throws {
        let sealed = try sealer.seal(macKey, terminalID: "KPG00001")
        #expect(sealed.count == MACKeySealer.sealedByteCount)
        #expect(!sealed.contains(subsequence: macKey), "the key appears in its sealed form")
        #expect(try sealer.open(sealed, terminalID: "KPG00001") == macKey)
        #expect(try sealer.seal(macKey, terminalID: "KPG00001") != sealed, "a fresh nonce every time")
        // Copied into another terminal's row: refused.
        #expect(throws: LedgerError.self) { try sealer.open(sealed, terminalID: "KPG00002") }
    }

    @Test func anotherKeyOrAnAlteredByteIsRefused() throws {
        let sealed = try sealer.seal(macKey, terminalID: "KPG00001")
        let other = MACKeySealer(keyBytes: [UInt8](repeating: 0xA5, count: 32))
        #expect(throws: LedgerError.self) { try other.open(sealed, terminalID: "KPG00001") }
        for index in [0, 1, 20, sealed.count - 1] {
            var altered = sealed
            altered[index] ^= 0x01
            #expect(throws: LedgerError.self, "byte \(index) altered") { try sealer.open(altered, terminalID: "KPG00001") }
        }
        #expect(throws: LedgerError.self) { try sealer.open(Array(sealed.dropLast()), terminalID: "KPG00001") }
    }
}

private extension Array where Element == UInt8 {
    func contains(subsequence: [UInt8]) -> Bool {
        guard subsequence.count <= count else { return false }
        return (0...(count - subsequence.count)).contains { Array(self[$0..<($0 + subsequence.count)]) == subsequence }
    }
}
