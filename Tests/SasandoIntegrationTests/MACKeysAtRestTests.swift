import Foundation
import NIOCore
import PostgresNIO
import SasandoLedger
import SasandoSwitch
import Testing

/// Terminals' MAC keys are stored sealed (`MACKeySealer`, the PKI folder's key-encryption key):
/// the database holds no key that could forge a terminal's MAC, and the switch that has the key
/// signs terminals on and checks their MACs as before.
struct MACKeysAtRestTests {
    @Test func provisionedKeysAreSealedAndTheSwitchStillChecksMACs() async throws {
        let h = try await SwitchHarness.start(terminals: 2)
        do {
            let sealer = try #require(try Provisioning.keyEncryptionKey(pkiDirectory: h.pkiDirectory), "provisioning made no key-encryption key")
            for folder in h.folders {
                let id = folder.info.terminalID
                let rows = try await h.database.client.query("SELECT mac_key FROM terminals WHERE terminal_id = \(id)")
                for try await stored in rows.decode(ByteBuffer.self) {
                    let bytes = Array(stored.readableBytesView)
                    #expect(bytes.count == MACKeySealer.sealedByteCount, "\(id): \(bytes.count) bytes stored")
                    #expect(bytes.count != folder.macKey.count && !Data(bytes).contains(Data(folder.macKey)), "\(id): the key in clear")
                    #expect(try sealer.open(bytes, terminalID: id) == folder.macKey)
                }
                // Provisioning the same folder again finds the same key; another key is another terminal's.
                let sealing = h.directory.sealing(with: sealer)
                #expect(try await sealing.registerTerminal(terminalID: id, merchantID: folder.info.merchantID, macKey: folder.macKey) == .alreadyRegistered)
                #expect(try await sealing.registerTerminal(terminalID: id, merchantID: folder.info.merchantID,
                                                           macKey: [UInt8](repeating: 9, count: 32)) == .registeredWithAnotherKey)
            }

            // The switch opens the sealed key: sign-on, a MAC-checked inquiry and payment, all 00.
            let (client, requests, folder) = try await h.signedOn(0)
            let inquiry = try await client.send(requests.inquiry(product: "PDAMKPG", customerID: PaymentFlowTests.customer(8)), macKey: folder.macKey)
            #expect(inquiry[39] == "00")
            #expect(try await client.send(requests.payment(from: inquiry), macKey: folder.macKey)[39] == "00")
            // A wrong MAC is still refused (63): the key opened is the terminal's, not any key.
            #expect(try await client.send(requests.inquiry(product: "PDAMKPG", customerID: PaymentFlowTests.customer(8)),
                                          macKey: [UInt8](repeating: 1, count: 32))[39] == "63")

            // A process without the key-encryption key cannot read a sealed key, and says why.
            await #expect(throws: LedgerError.self) { try await TerminalDirectory(database: h.database).terminal(folder.info.terminalID) }
            // A key stored in clear before sealing (32 bytes) is still read as it is.
            let clear = try await IntegrationEnvironment.ownPaymentPoint(h.database, merchantPrefix: "MCLEARKEY", terminalPrefix: "CL",
                                                                         name: "Clear key", deposit: .rupiah(1_000), macKeyByte: 0x42)
            #expect(try await h.app.directory.terminal(clear.terminalID)?.macKey == clear.macKey)
        } catch {
            await h.stop()
            throw error
        }
        await h.stop()
    }
}
