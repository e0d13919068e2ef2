import Foundation
import SasandoPKI
import Testing

/// Checks that what we issue is accepted by another X.509 implementation (OpenSSL), not only by
/// swift-certificates, which produced it.
@Suite("OpenSSL interoperability")
struct OpenSSLInteropTests {
    static let openSSLPath = "/usr/bin/openssl"

    struct Output {
        let status: Int32
        let text: String
    }

    func openssl(_ arguments: [String]) throws -> Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.openSSLPath)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Output(status: process.terminationStatus, text: String(decoding: data, as: UTF8.self))
    }

    /// Returns false (and records a warning, not a failure) when OpenSSL is not installed.
    func openSSLAvailable() -> Bool {
        guard FileManager.default.isExecutableFile(atPath: Self.openSSLPath) else {
            Issue.record("\(Self.openSSLPath) not found; OpenSSL interoperability not checked", severity: .warning)
            return false
        }
        return true
    }

    @Test("openssl verify accepts terminal and server certificates and shows the terminal CN")
    func verifyWithOpenSSL() throws {
        guard openSSLAvailable() else { return }
        let temporary = try TemporaryDirectory()
        defer { temporary.remove() }

        let ca = try CertificateAuthority.create(commonName: "Sasando Terminal CA")
        let terminal = try ca.issueTerminalCertificate(terminalID: "TRM00099", merchantID: "PP0000000000099")
        let server = try ca.issueServerCertificate(
            commonName: "localhost", dnsNames: ["localhost"], ipAddresses: ["127.0.0.1", "::1"])
        try ca.certificatePEM.write(toFile: temporary.file("ca.pem"), atomically: true, encoding: .utf8)
        try terminal.certificatePEM.write(toFile: temporary.file("cert.pem"), atomically: true, encoding: .utf8)
        try terminal.privateKeyPEM.write(toFile: temporary.file("key.pem"), atomically: true, encoding: .utf8)
        try server.certificatePEM.write(toFile: temporary.file("server.pem"), atomically: true, encoding: .utf8)

        let verified = try openssl(["verify", "-CAfile", temporary.file("ca.pem"), temporary.file("cert.pem")])
        #expect(verified.status == 0, "\(verified.text)")
        #expect(verified.text.contains("OK"))

        // OpenSSL's purpose checks look at EKU/KeyUsage the way TLS stacks do.
        let asClient = try openssl([
            "verify", "-purpose", "sslclient", "-CAfile", temporary.file("ca.pem"), temporary.file("cert.pem"),
        ])
        #expect(asClient.status == 0, "\(asClient.text)")
        let asServer = try openssl([
            "verify", "-purpose", "sslserver", "-verify_hostname", "localhost", "-verify_ip", "127.0.0.1",
            "-CAfile", temporary.file("ca.pem"), temporary.file("server.pem"),
        ])
        #expect(asServer.status == 0, "\(asServer.text)")
        // A terminal certificate must not pass as a server certificate.
        let terminalAsServer = try openssl([
            "verify", "-purpose", "sslserver", "-CAfile", temporary.file("ca.pem"), temporary.file("cert.pem"),
        ])
        #expect(terminalAsServer.status != 0)

        let subject = try openssl(["x509", "-noout", "-subject", "-in", temporary.file("cert.pem")])
        #expect(subject.status == 0, "\(subject.text)")
        #expect(subject.text.contains("CN = TRM00099") || subject.text.contains("CN=TRM00099"), "\(subject.text)")

        // OpenSSL reads our PKCS#8 key and it matches the certificate.
        let keyPublic = try openssl(["pkey", "-in", temporary.file("key.pem"), "-pubout"])
        let certPublic = try openssl(["x509", "-noout", "-pubkey", "-in", temporary.file("cert.pem")])
        #expect(keyPublic.status == 0 && certPublic.status == 0)
        #expect(keyPublic.text == certPublic.text)
    }

    @Test("openssl verify rejects an expired certificate and one from another CA")
    func rejectWithOpenSSL() throws {
        guard openSSLAvailable() else { return }
        let temporary = try TemporaryDirectory()
        defer { temporary.remove() }

        let ca = try CertificateAuthority.create(commonName: "Sasando Terminal CA")
        let other = try CertificateAuthority.create(commonName: "Sasando Terminal CA")
        let expired = try ca.issueTerminalCertificate(
            terminalID: "TRM00001", merchantID: nil, notAfter: Date().addingTimeInterval(-86_400))
        let foreign = try other.issueTerminalCertificate(terminalID: "TRM00002", merchantID: nil)
        try ca.certificatePEM.write(toFile: temporary.file("ca.pem"), atomically: true, encoding: .utf8)
        try expired.certificatePEM.write(toFile: temporary.file("expired.pem"), atomically: true, encoding: .utf8)
        try foreign.certificatePEM.write(toFile: temporary.file("foreign.pem"), atomically: true, encoding: .utf8)

        let expiredResult = try openssl(["verify", "-CAfile", temporary.file("ca.pem"), temporary.file("expired.pem")])
        #expect(expiredResult.status != 0)
        #expect(expiredResult.text.contains("expired"), "\(expiredResult.text)")
        let foreignResult = try openssl(["verify", "-CAfile", temporary.file("ca.pem"), temporary.file("foreign.pem")])
        #expect(foreignResult.status != 0, "\(foreignResult.text)")
    }

    @Test("A credential folder written by us is usable by OpenSSL")
    func folderWithOpenSSL() throws {
        guard openSSLAvailable() else { return }
        let temporary = try TemporaryDirectory()
        defer { temporary.remove() }
        let ca = try CertificateAuthority.create(commonName: "Sasando Terminal CA")
        let credential = try ca.issueTerminalCertificate(terminalID: "TRM00003", merchantID: "PP3")
        try TerminalCredentialFolder.write(
            to: temporary.path,
            info: TerminalCredentials(terminalID: "TRM00003", merchantID: "PP3", host: "localhost", port: 8583),
            credential: credential, caCertificatePEM: ca.certificatePEM, macKey: MACKey.generate())
        let verified = try openssl(["verify", "-CAfile", temporary.file("ca.pem"), temporary.file("cert.pem")])
        #expect(verified.status == 0, "\(verified.text)")
        let key = try openssl(["pkey", "-noout", "-in", temporary.file("key.pem")])
        #expect(key.status == 0, "\(key.text)")
    }
}
