import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import SasandoCore
import SasandoISO8583
import SasandoLedger
import SasandoPKI
import SasandoSwitch
import SasandoTransport
import Synchronization
import Testing

/// Collects whatever bytes a raw (non-TLS) peer receives.
private final class ReceivedBytes: Sendable {
    let bytes = Mutex<[UInt8]>([])
}

private final class CollectingHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let received: ReceivedBytes
    init(received: ReceivedBytes) { self.received = received }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        received.bytes.withLock { $0.append(contentsOf: buffer.readableBytesView) }
    }
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

@Suite("Transport: mutual TLS, framing and session rules against a real switch", .serialized)
struct TransportIntegrationTests {
    // MARK: Helpers

    /// Waits (bounded) until the channel is closed; true when it closed.
    private func waitClosed(_ channel: Channel, seconds: Double = 10) async -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if !channel.isActive { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return !channel.isActive
    }

    private static func key(_ message: ISOMessage) -> String {
        "\(message[41] ?? "")|\(message[11] ?? "")|\(message[7] ?? "")"
    }

    /// Connects with `sslContext` and checks the switch answers nothing and the link ends.
    private func expectRefused(_ harness: SwitchHarness, sslContext: NIOSSLContext, _ comment: Comment) async throws {
        let folder = harness.folders[0]
        let requests = TerminalRequests(terminalID: folder.info.terminalID, merchantID: folder.info.merchantID)
        let client: TerminalClient
        do {
            client = try await TerminalClient.connect(host: "127.0.0.1", port: harness.port, sslContext: sslContext,
                                                      group: MultiThreadedEventLoopGroup.singleton, responseTimeoutSeconds: 5)
        } catch {
            return  // refused while connecting: fine
        }
        do {
            let response = try await client.send(requests.echo())
            Issue.record("\(comment): the switch answered \(response.mti)/\(response[39] ?? "-")")
        } catch {
            // A TLS alert or the close surfaced as an error: refused. If the switch closed the link
            // before the request was registered, TerminalClient only notices at its response
            // timeout (5 s here); the closed channel below is what proves the refusal.
        }
        #expect(await waitClosed(client.channel), "\(comment): connection still open")
        await client.close()
    }

    private func withHarness(terminals: Int = 4, _ body: (SwitchHarness) async throws -> Void) async throws {
        let harness = try await SwitchHarness.start(terminals: terminals)
        do {
            try await body(harness)
        } catch {
            await harness.stop()
            throw error
        }
        await harness.stop()
    }

    private func loadCA(_ harness: SwitchHarness) throws -> CertificateAuthority {
        let cert = try String(contentsOfFile: harness.pkiDirectory + "/ca.pem", encoding: .utf8)
        let key = try String(contentsOfFile: harness.pkiDirectory + "/ca-key.pem", encoding: .utf8)
        return try CertificateAuthority(certificatePEM: cert, privateKeyPEM: key)
    }

    // MARK: TLS refusals

    @Test func handshakeWithoutClientCertificateIsRefused() async throws {
        try await withHarness { harness in
            var config = TLSConfiguration.makeClientConfiguration()
            config.minimumTLSVersion = .tlsv12
            config.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(harness.folders[0].caCertificatePEM.utf8)))
            config.certificateVerification = .noHostnameVerification
            let context = try NIOSSLContext(configuration: config)
            try await expectRefused(harness, sslContext: context, "no client certificate")
            // The switch itself is fine.
            let (client, _, _) = try await harness.signedOn(0)
            await client.close()
        }
    }

    @Test func certificateFromAnotherCAIsRefused() async throws {
        try await withHarness { harness in
            let folder = harness.folders[0]
            let otherCA = try CertificateAuthority.create(commonName: "Other Terminal CA")
            let credential = try otherCA.issueTerminalCertificate(terminalID: folder.info.terminalID, merchantID: folder.info.merchantID)
            let context = try TLSSetup.clientContext(certificatePEM: credential.certificatePEM, privateKeyPEM: credential.privateKeyPEM,
                                                     caPEM: folder.caCertificatePEM)
            try await expectRefused(harness, sslContext: context, "certificate from another CA")
        }
    }

    /// A valid terminal certificate over TLS 1.2 offering only CBC with SHA-1: refused (AEAD only).
    @Test func aTLS12ClientOfferingOnlyCBCSuitesIsRefused() async throws {
        try await withHarness { harness in
            let folder = harness.folders[0]
            var config = TLSConfiguration.makeClientConfiguration()
            config.minimumTLSVersion = .tlsv12
            config.maximumTLSVersion = .tlsv12
            config.cipherSuites = "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA"
            config.certificateChain = try NIOSSLCertificate.fromPEMBytes(Array(folder.certificatePEM.utf8)).map { .certificate($0) }
            config.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(folder.privateKeyPEM.utf8), format: .pem))
            config.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(folder.caCertificatePEM.utf8)))
            config.certificateVerification = .noHostnameVerification
            try await expectRefused(harness, sslContext: try NIOSSLContext(configuration: config), "TLS 1.2 with CBC suites only")
            // Control: the same credentials with TLS 1.2 and an AEAD suite are accepted.
            config.cipherSuites = "ECDHE-ECDSA-AES128-GCM-SHA256"
            let client = try await TerminalClient.connect(host: "127.0.0.1", port: harness.port, sslContext: try NIOSSLContext(configuration: config),
                                                          group: MultiThreadedEventLoopGroup.singleton, responseTimeoutSeconds: 10)
            let requests = TerminalRequests(terminalID: folder.info.terminalID, merchantID: folder.info.merchantID)
            #expect(try await client.send(requests.echo())[39] == "00")
            await client.close()
        }
    }

    @Test func expiredCertificateFromTheRightCAIsRefused() async throws {
        try await withHarness { harness in
            let folder = harness.folders[0]
            let ca = try loadCA(harness)
            let credential = try ca.issueTerminalCertificate(terminalID: folder.info.terminalID, merchantID: folder.info.merchantID,
                                                             notAfter: Date().addingTimeInterval(-86_400))
            let context = try TLSSetup.clientContext(certificatePEM: credential.certificatePEM, privateKeyPEM: credential.privateKeyPEM,
                                                     caPEM: folder.caCertificatePEM)
            try await expectRefused(harness, sslContext: context, "expired certificate")
            // Control: a fresh certificate from the same CA is accepted (so the refusal was the expiry).
            let fresh = try ca.issueTerminalCertificate(terminalID: folder.info.terminalID, merchantID: folder.info.merchantID)
            let freshContext = try TLSSetup.clientContext(certificatePEM: fresh.certificatePEM, privateKeyPEM: fresh.privateKeyPEM,
                                                          caPEM: folder.caCertificatePEM)
            let client = try await TerminalClient.connect(host: "127.0.0.1", port: harness.port, sslContext: freshContext,
                                                          group: MultiThreadedEventLoopGroup.singleton, responseTimeoutSeconds: 10)
            let requests = TerminalRequests(terminalID: folder.info.terminalID, merchantID: folder.info.merchantID)
            #expect(try await client.send(requests.echo())[39] == "00")
            await client.close()
        }
    }

    /// Sockets that never start TLS hold at most the handshake budget (per address here), and a
    /// new connection past it closes the OLDEST still handshaking: idle sockets cannot keep
    /// terminals out, neither those signed on nor those connecting now. A review filled all 20
    /// slots of an instance with plain sockets and a real terminal was refused.
    @Test func socketsThatNeverHandshakeCannotLockTerminalsOut() async throws {
        let harness = try await SwitchHarness.start(terminals: 2, configure: { $0.tlsHandshakesInProgressPerAddressMax = 4 })
        do {
            let (client, requests, _) = try await harness.signedOn(0)
            func plainSocket() async throws -> Channel {
                try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: harness.port).get()
            }
            var idle: [Channel] = []
            // One at a time, each given time to be taken in: the switch numbers connections as its
            // event loops take them in, and two sockets taken in at once by two loops may be
            // numbered either way, which would make "the oldest" another socket than idle[0].
            for _ in 0..<4 {
                idle.append(try await plainSocket())
                try await Task.sleep(for: .milliseconds(50))
            }
            try await Task.sleep(for: .milliseconds(300))
            let allOpen = idle.allSatisfy { $0.isActive }
            #expect(allOpen, "within the budget, a socket waits for its handshake (up to 10 s)")
            let extra = try await plainSocket()
            let oldestClosed = await waitClosed(idle[0], seconds: 2)
            #expect(oldestClosed, "past the budget: the oldest socket still handshaking is closed")
            #expect(extra.isActive && idle[1].isActive, "the newest is let in")
            // A terminal connecting now gets in while idle sockets fill the budget, and the one
            // already signed on goes on.
            let (again, againRequests, _) = try await harness.signedOn(1)
            #expect(try await again.send(againRequests.echo())[39] == "00")
            #expect(try await client.send(requests.echo())[39] == "00")
            for channel in idle + [extra] { try? await channel.close() }
            await again.close()
            await client.close()
        } catch {
            await harness.stop()
            throw error
        }
        await harness.stop()
    }

    @Test func plainTCPClientGetsNoISOResponseAndSwitchStaysUp() async throws {
        try await withHarness { harness in
            let folder = harness.folders[0]
            let requests = TerminalRequests(terminalID: folder.info.terminalID, merchantID: folder.info.merchantID)
            let received = ReceivedBytes()
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(CollectingHandler(received: received))
                    }
                }
                .connect(host: "127.0.0.1", port: harness.port).get()
            let body = try ISO8583Codec.encode(requests.signOn())
            try? await channel.writeAndFlush(ByteBuffer.framed(body)).get()
            #expect(await waitClosed(channel), "plain TCP connection not closed")
            let bytes = received.bytes.withLock { $0 }
            // At most a TLS alert record (content type 21), never an ISO 8583 message.
            let text = String(decoding: bytes, as: UTF8.self)
            #expect(!text.contains("0810"))
            if let first = bytes.first { #expect(first == 0x15, "unexpected non-alert bytes: \(bytes.prefix(16))") }
            try? await channel.close()

            let (client, _, _) = try await harness.signedOn(0)
            await client.close()
        }
    }

    // MARK: Field 41 and session rules

    @Test func field41MismatchGets63AndIsAudited() async throws {
        try await withHarness { harness in
            let (client, _, folder) = try await harness.signedOn(0)
            let other = harness.folders[1].info
            #expect(other.terminalID != folder.info.terminalID)
            let impostor = TerminalRequests(terminalID: other.terminalID, merchantID: other.merchantID)
            let echo = impostor.echo()
            let response = try await client.send(body: try ISO8583Codec.encode(echo), key: Self.key(echo))
            #expect(response.mti == "0810")
            #expect(response[39] == "63")
            let rows = try await harness.database.client.query(
                "SELECT count(*)::int8 FROM audit_events WHERE event = 'terminal_mismatch' AND actor = \(folder.info.terminalID)")
            var count: Int64 = 0
            for try await (n) in rows.decode(Int64.self) { count = n }
            #expect(count >= 1)
            // The connection keeps working for its own terminal.
            let requests = TerminalRequests(terminalID: folder.info.terminalID, merchantID: folder.info.merchantID)
            #expect(try await client.send(requests.echo())[39] == "00")
            await client.close()
        }
    }

    @Test func echoBeforeSignOnIsApproved() async throws {
        try await withHarness { harness in
            let (client, requests, _) = try await harness.connect(0)
            let response = try await client.send(requests.echo())
            #expect(response.mti == "0810")
            #expect(response[39] == "00")
            await client.close()
        }
    }

    @Test func financialRequestBeforeSignOnGets58() async throws {
        try await withHarness { harness in
            let (client, requests, folder) = try await harness.connect(0)
            let response = try await client.send(requests.inquiry(product: "PLNPOST", customerID: "512345678901"), macKey: folder.macKey)
            #expect(response.mti == "0210")
            #expect(response[39] == "58")
            // Spec §7 and §3: MAC'd like every answer to a MAC-carrying request, with field 15.
            #expect(try Self.macIsValid(response, key: folder.macKey))
            #expect(response[15]?.count == 4)
            await client.close()
        }
    }

    /// Whether a response's MAC (64, or 128 with a secondary bitmap) is the one `key` gives.
    static func macIsValid(_ response: ISOMessage, key: [UInt8]) throws -> Bool {
        var bare = response
        bare[64] = nil
        bare[128] = nil
        let expected = try ISO8583Codec.decode(ISO8583Codec.encodeWithMAC(bare, key: key))
        let field = response[128] != nil ? 128 : 64
        return response[field] != nil && response[field] == expected[field]
    }

    /// Spec §7: responses to 0200/0400/0401/0500 carry a MAC, the session's own 30 and 63 answers
    /// included; §1: another terminal's field 41 is 63 on every message; §2: 38 only on approved payments.
    @Test func sessionAnswersCarryTheMACAndField15() async throws {
        try await withHarness { harness in
            let (client, requests, folder) = try await harness.signedOn(0)
            let inquiry = requests.inquiry(product: "PLNPOST", customerID: "512345678901")

            // A format error the decoder finds (field 49 missing): 30, MAC'd, field 15.
            var missing49 = inquiry
            missing49[49] = nil
            let formatError = try await client.send(body: try ISO8583Codec.encodeWithMAC(missing49, key: folder.macKey), key: Self.key(missing49))
            #expect(formatError.mti == "0210")
            #expect(formatError[39] == "30")
            #expect(try Self.macIsValid(formatError, key: folder.macKey))
            #expect(formatError[15]?.count == 4)
            #expect(formatError[48] == missing49[48] && formatError[4] == missing49[4], "every field that decoded is echoed")

            // Another terminal's ID in field 41: 63, MAC'd with this session's key, field 15.
            let other = harness.folders[1].info
            var foreign = TerminalRequests(terminalID: other.terminalID, merchantID: other.merchantID)
                .inquiry(product: "PLNPOST", customerID: "512345678901")
            foreign[11] = "99\(Int.random(in: 1000...9999))"
            let mismatch = try await client.send(body: try ISO8583Codec.encodeWithMAC(foreign, key: folder.macKey), key: Self.key(foreign))
            #expect(mismatch[39] == "63")
            #expect(try Self.macIsValid(mismatch, key: folder.macKey))
            #expect(mismatch[15]?.count == 4)

            // The same for a message type the switch does not handle.
            var unknown = ISOMessage(mti: "0100")
            unknown[7] = inquiry[7]
            unknown[11] = "98\(Int.random(in: 1000...9999))"
            unknown[41] = other.terminalID
            let unknownAnswer = try await client.send(body: try ISO8583Codec.encode(unknown), key: Self.key(unknown))
            #expect(unknownAnswer.mti == "0110")
            #expect(unknownAnswer[39] == "63")

            // §2: field 32 is Bank NTT's (else 12); 7, 12 and 13 real dates and times (else 30, MAC'd).
            var otherBank = requests.inquiry(product: "PLNPOST", customerID: "512345678901")
            otherBank[32] = "999"
            #expect(try await client.send(otherBank, macKey: folder.macKey)[39] == "12")
            for (field, value) in [(7, "1399120000"), (12, "250000"), (13, "0230")] {
                var impossible = requests.inquiry(product: "PLNPOST", customerID: "512345678901")
                impossible[field] = value
                let answer = try await client.send(impossible, macKey: folder.macKey)
                #expect(answer[39] == "30", "field \(field) = \(value)")
                #expect(try Self.macIsValid(answer, key: folder.macKey))
            }

            // Field 38 sent on an inquiry is not echoed: approved payments only.
            var with38 = requests.inquiry(product: "PLNPOST", customerID: "512345678901")
            with38[38] = "ABCDEF"
            let answered = try await client.send(with38, macKey: folder.macKey)
            #expect(answered[39] == "00")
            #expect(answered[38] == nil)
            await client.close()
        }
    }

    /// Spec §1 allows 32 requests in flight: one pipelined right behind its sign-on waits for the
    /// sign-on's check instead of getting 58 for the switch's own timing.
    @Test func aRequestPipelinedBehindItsSignOnIsProcessed() async throws {
        try await withHarness { harness in
            let (client, requests, folder) = try await harness.connect(0)
            let signOn = client.sendFuture(requests.signOn())
            let inquiry = client.sendFuture(requests.inquiry(product: "PLNPOST", customerID: "512345678901"), macKey: folder.macKey)
            #expect(try await signOn.get()[39] == "00")
            #expect(try await inquiry.get()[39] == "00")
            await client.close()
        }
    }

    @Test func blockedTerminalSignOnGets05() async throws {
        try await withHarness { harness in
            let change = try await harness.directory.changeTerminalStatus(harness.folders[2].info.terminalID, to: .blocked,
                                                                          actor: "test", reason: "reported stolen")
            #expect(change.outcome == .changed)
            let (client, requests, _) = try await harness.connect(2)
            let response = try await client.send(requests.signOn())
            #expect(response[39] == "05")
            // Not signed on: a transaction is refused.
            let inquiry = try await client.send(requests.inquiry(product: "PLNPOST", customerID: "512345678901"),
                                                macKey: harness.folders[2].macKey)
            #expect(inquiry[39] == "58")
            await client.close()
        }
    }

    @Test func badMACAfterSignOnGets63() async throws {
        try await withHarness { harness in
            let (client, requests, folder) = try await harness.signedOn(0)
            var wrongKey = folder.macKey
            wrongKey[0] ^= 0xFF
            let inquiry = requests.inquiry(product: "PLNPOST", customerID: "512345678901")
            let body = try ISO8583Codec.encodeWithMAC(inquiry, key: wrongKey)
            let response = try await client.send(body: body, key: Self.key(inquiry))
            #expect(response.mti == "0210")
            #expect(response[39] == "63")
            await client.close()
        }
    }

    // MARK: Bad frames close only their own connection

    @Test(arguments: [5000, 5])
    func badFrameLengthClosesOnlyThatConnection(announced: Int) async throws {
        try await withHarness { harness in
            let (bystander, bystanderRequests, _) = try await harness.signedOn(1)
            let (victim, _, _) = try await harness.signedOn(0)
            var bytes: [UInt8] = [UInt8(announced >> 8), UInt8(announced & 0xFF)]
            bytes += Array(repeating: 0x30, count: min(announced, 64))
            try await victim.writeRaw(bytes)
            #expect(await waitClosed(victim.channel), "connection with a \(announced)-byte frame not closed")
            let response = try await bystander.send(bystanderRequests.echo())
            #expect(response[39] == "00")
            await bystander.close()
            await victim.close()
        }
    }
}
