import Foundation
import SasandoPKI
import Testing

@Suite("Terminal credential folder")
struct TerminalCredentialFolderTests {
    struct Fixture {
        let ca: CertificateAuthority
        let credential: IssuedCredential
        let info: TerminalCredentials
        let macKey: [UInt8]

        init(terminalID: String = "TRM00007") throws {
            ca = try CertificateAuthority.create(commonName: "Sasando Terminal CA")
            credential = try ca.issueTerminalCertificate(terminalID: terminalID, merchantID: "PP0000000000007")
            info = TerminalCredentials(terminalID: terminalID, merchantID: "PP0000000000007", host: "127.0.0.1", port: 8583)
            macKey = MACKey.generate()
        }

        @discardableResult
        func write(to directory: String) throws -> TerminalCredentialFolder {
            try TerminalCredentialFolder.write(
                to: directory, info: info, credential: credential,
                caCertificatePEM: ca.certificatePEM, macKey: macKey)
        }
    }

    @Test("Write then load gives back the same contents; secrets are 0600")
    func roundTrip() throws {
        let temporary = try TemporaryDirectory()
        defer { temporary.remove() }
        let fixture = try Fixture()
        // Intermediate directories are created.
        let directory = temporary.file("terminals/TRM00007")
        let written = try fixture.write(to: directory)
        #expect(written.directory == directory)

        let loaded = try TerminalCredentialFolder.load(from: directory)
        #expect(loaded.info == fixture.info)
        #expect(loaded.certificatePEM == fixture.credential.certificatePEM)
        #expect(loaded.privateKeyPEM == fixture.credential.privateKeyPEM)
        #expect(loaded.caCertificatePEM == fixture.ca.certificatePEM)
        #expect(loaded.macKey == fixture.macKey)
        #expect(loaded.credential.certificatePEM == fixture.credential.certificatePEM)

        let file = { (name: String) in URL(fileURLWithPath: directory).appendingPathComponent(name).path }
        #expect(try posixMode(of: file("key.pem")) == 0o600)
        #expect(try posixMode(of: file("mac.key")) == 0o600)
        #expect(try posixMode(of: file("cert.pem")) == 0o644)
        #expect(try posixMode(of: file("ca.pem")) == 0o644)

        let macText = try String(contentsOfFile: file("mac.key"), encoding: .utf8)
        #expect(macText == MACKey.hex(fixture.macKey) + "\n")

        // terminal.json: snake_case keys, sorted, pretty printed.
        let json = try String(contentsOfFile: file("terminal.json"), encoding: .utf8)
        let keys = ["\"host\"", "\"merchant_id\"", "\"port\"", "\"terminal_id\""]
        let positions = keys.map { json.range(of: $0)?.lowerBound }
        #expect(positions.allSatisfy { $0 != nil })
        #expect(positions.compactMap { $0 } == positions.compactMap { $0 }.sorted())
        #expect(json.contains("\n"))
        #expect(json.contains("\"terminal_id\" : \"TRM00007\""))
        #expect(json.contains("\"port\" : 8583"))

        // No temporary files left behind.
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        #expect(names == ["ca.pem", "cert.pem", "key.pem", "mac.key", "terminal.json"])
    }

    @Test("Rewriting a folder keeps secrets at 0600 even if they had been loosened")
    func rewriteFixesModes() throws {
        let temporary = try TemporaryDirectory()
        defer { temporary.remove() }
        let fixture = try Fixture()
        try fixture.write(to: temporary.path)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: temporary.file("key.pem"))
        try fixture.write(to: temporary.path)
        #expect(try posixMode(of: temporary.file("key.pem")) == 0o600)
    }

    @Test("TerminalCredentials uses snake_case JSON keys")
    func codable() throws {
        let json = #"{"terminal_id":"TRM00001","merchant_id":"PP1","host":"switch.example","port":9000}"#
        let info = try JSONDecoder().decode(TerminalCredentials.self, from: Data(json.utf8))
        #expect(info == TerminalCredentials(terminalID: "TRM00001", merchantID: "PP1", host: "switch.example", port: 9000))
    }

    @Test("A missing file is named in the error", arguments: ["cert.pem", "key.pem", "ca.pem", "mac.key", "terminal.json"])
    func missingFile(name: String) throws {
        let temporary = try TemporaryDirectory()
        defer { temporary.remove() }
        try Fixture().write(to: temporary.path)
        try FileManager.default.removeItem(atPath: temporary.file(name))

        #expect(throws: PKIError.missingFile(path: temporary.file(name))) {
            try TerminalCredentialFolder.load(from: temporary.path)
        }
        do {
            _ = try TerminalCredentialFolder.load(from: temporary.path)
        } catch {
            #expect("\(error)".contains(name))
        }
    }

    @Test("A missing directory is reported")
    func missingDirectory() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("no-such-\(UUID().uuidString)").path
        #expect(throws: PKIError.missingFile(path: path)) {
            try TerminalCredentialFolder.load(from: path)
        }
    }

    @Test("A bad mac.key is named in the error and its content is not echoed",
          arguments: ["", "0123", String(repeating: "g", count: 64), String(repeating: "ab", count: 33)])
    func badMACKey(content: String) throws {
        let temporary = try TemporaryDirectory()
        defer { temporary.remove() }
        try Fixture().write(to: temporary.path)
        try content.write(toFile: temporary.file("mac.key"), atomically: true, encoding: .utf8)

        #expect {
            try TerminalCredentialFolder.load(from: temporary.path)
        } throws: { error in
            guard case PKIError.invalidFile(let path, _) = error else { return false }
            let message = "\(error)"
            return path == temporary.file("mac.key") && message.contains("mac.key")
                && (content.count < 8 || !message.contains(content))
        }
    }

    @Test("A key of another certificate, a CN that differs from terminal_id and bad JSON are caught")
    func inconsistentFolder() throws {
        let temporary = try TemporaryDirectory()
        defer { temporary.remove() }
        let fixture = try Fixture()
        try fixture.write(to: temporary.path)

        let other = try fixture.ca.issueTerminalCertificate(terminalID: "TRM00008", merchantID: nil)
        try other.privateKeyPEM.write(toFile: temporary.file("key.pem"), atomically: true, encoding: .utf8)
        #expect {
            try TerminalCredentialFolder.load(from: temporary.path)
        } throws: { error in
            guard case PKIError.invalidFile(let path, _) = error else { return false }
            return path == temporary.file("key.pem") && !"\(error)".contains("PRIVATE KEY")
        }

        // Writing checks the same: a certificate for another terminal ID is refused.
        #expect {
            try TerminalCredentialFolder.write(
                to: temporary.file("mismatch"), info: fixture.info, credential: other,
                caCertificatePEM: fixture.ca.certificatePEM, macKey: fixture.macKey)
        } throws: { error in
            guard case PKIError.invalidFile(let path, let reason) = error else { return false }
            return path == "cert.pem" && reason.contains("TRM00008")
        }
        #expect(!FileManager.default.fileExists(atPath: temporary.file("mismatch")))

        try fixture.write(to: temporary.path)
        try "{\"terminal_id\": 5}".write(toFile: temporary.file("terminal.json"), atomically: true, encoding: .utf8)
        #expect {
            try TerminalCredentialFolder.load(from: temporary.path)
        } throws: { error in
            guard case PKIError.invalidFile(let path, _) = error else { return false }
            return path == temporary.file("terminal.json")
        }

        try fixture.write(to: temporary.path)
        try "garbage".write(toFile: temporary.file("key.pem"), atomically: true, encoding: .utf8)
        #expect {
            try TerminalCredentialFolder.load(from: temporary.path)
        } throws: { error in
            guard case PKIError.invalidFile(let path, _) = error else { return false }
            return path == temporary.file("key.pem") && !"\(error)".contains("garbage")
        }
    }

    @Test("A MAC key that is not 32 bytes is refused on write")
    func shortMACKeyOnWrite() throws {
        let temporary = try TemporaryDirectory()
        defer { temporary.remove() }
        let fixture = try Fixture()
        #expect(throws: PKIError.self) {
            try TerminalCredentialFolder.write(
                to: temporary.path, info: fixture.info, credential: fixture.credential,
                caCertificatePEM: fixture.ca.certificatePEM, macKey: [1, 2, 3])
        }
    }

    @Test("Printing a folder hides the private key and MAC key")
    func redaction() throws {
        let temporary = try TemporaryDirectory()
        defer { temporary.remove() }
        let folder = try Fixture().write(to: temporary.path)
        var dumped = ""
        dump(folder, to: &dumped)
        let macHex = MACKey.hex(folder.macKey)
        for text in ["\(folder)", String(reflecting: folder), dumped] {
            #expect(!text.contains("PRIVATE KEY"))
            #expect(!text.contains(macHex))
        }
        #expect("\(folder)".contains("TRM00007"))
    }
}
