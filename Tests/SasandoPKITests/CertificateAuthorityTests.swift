import Crypto
import Foundation
import SasandoPKI
import Testing
import X509

@Suite("Certificate authority")
struct CertificateAuthorityTests {
    @Test("A new CA is a self-signed P-256 CA with keyCertSign and cRLSign")
    func createCA() throws {
        let ca = try CertificateAuthority.create(commonName: "Sasando Terminal CA", validDays: 30)
        let certificate = try Certificate(pemEncoded: ca.certificatePEM)

        #expect(certificate.subject == certificate.issuer)
        #expect(try CertificateInspection.commonName(ofPEM: ca.certificatePEM) == "Sasando Terminal CA")
        #expect(certificate.subject.description.contains("O=Bank NTT"))
        #expect(P256.Signing.PublicKey(certificate.publicKey) != nil)
        #expect(certificate.publicKey.isValidSignature(certificate.signature, for: certificate))

        let basicConstraints = try #require(try certificate.extensions.basicConstraints)
        #expect(basicConstraints == .isCertificateAuthority(maxPathLength: 0))
        let keyUsage = try #require(try certificate.extensions.keyUsage)
        #expect(keyUsage.keyCertSign && keyUsage.cRLSign)
        #expect(!keyUsage.digitalSignature)

        // Valid from an hour ago (clock skew) for the requested number of days.
        let now = Date()
        #expect(certificate.notValidBefore <= now.addingTimeInterval(-3500))
        #expect(certificate.notValidBefore >= now.addingTimeInterval(-3700))
        #expect(abs(certificate.notValidAfter.timeIntervalSince(certificate.notValidBefore) - 30 * 86_400) < 2)
    }

    @Test("A CA loaded back from its PEMs issues certificates that chain to the original")
    func pemRoundTrip() async throws {
        let original = try CertificateAuthority.create(commonName: "Round Trip CA")
        let loaded = try CertificateAuthority(
            certificatePEM: original.certificatePEM, privateKeyPEM: original.privateKeyPEM)

        #expect(loaded.certificatePEM == original.certificatePEM)
        #expect(loaded.privateKeyPEM == original.privateKeyPEM)
        #expect(loaded.credential.certificatePEM == original.certificatePEM)
        #expect(original.privateKeyPEM.hasPrefix("-----BEGIN PRIVATE KEY-----"))

        let terminal = try loaded.issueTerminalCertificate(terminalID: "TRM00001", merchantID: "PP0000000000001")
        #expect(try await verify(leafPEM: terminal.certificatePEM, caPEM: original.certificatePEM).isValid)

        // Authority key identifier of the leaf points at the CA's subject key identifier.
        let caCertificate = try Certificate(pemEncoded: original.certificatePEM)
        let leaf = try Certificate(pemEncoded: terminal.certificatePEM)
        let skid = try #require(try caCertificate.extensions.subjectKeyIdentifier)
        let akid = try #require(try leaf.extensions.authorityKeyIdentifier)
        #expect(akid.keyIdentifier == skid.keyIdentifier)
    }

    @Test("Loading rejects a key of another certificate, a non-CA certificate and garbage")
    func loadRejectsMismatches() throws {
        let first = try CertificateAuthority.create(commonName: "First CA")
        let second = try CertificateAuthority.create(commonName: "Second CA")
        #expect(throws: PKIError.privateKeyDoesNotMatchCertificate) {
            try CertificateAuthority(certificatePEM: first.certificatePEM, privateKeyPEM: second.privateKeyPEM)
        }

        let leaf = try first.issueTerminalCertificate(terminalID: "TRM00001", merchantID: nil)
        #expect {
            try CertificateAuthority(certificatePEM: leaf.certificatePEM, privateKeyPEM: leaf.privateKeyPEM)
        } throws: { error in
            guard case PKIError.notACertificateAuthority = error else { return false }
            return true
        }

        #expect {
            try CertificateAuthority(certificatePEM: first.certificatePEM, privateKeyPEM: "not a key")
        } throws: { error in
            guard case PKIError.invalidPrivateKey = error else { return false }
            return true
        }
        #expect {
            try CertificateAuthority(certificatePEM: "nope", privateKeyPEM: first.privateKeyPEM)
        } throws: { error in
            guard case PKIError.invalidCertificate = error else { return false }
            return true
        }
    }

    @Test("Printing a CA or credential never shows the private key")
    func redaction() throws {
        let ca = try CertificateAuthority.create(commonName: "Redaction CA")
        let credential = try ca.issueTerminalCertificate(terminalID: "TRM00001", merchantID: nil)
        let keyBody = credential.privateKeyPEM.split(separator: "\n")[1]
        let caKeyBody = ca.privateKeyPEM.split(separator: "\n")[1]

        var dumped = ""
        dump(credential, to: &dumped)
        dump(ca, to: &dumped)
        let texts = ["\(credential)", String(reflecting: credential), "\(ca)", String(reflecting: ca), dumped]
        for text in texts {
            #expect(!text.contains(keyBody))
            #expect(!text.contains(caKeyBody))
            #expect(!text.contains("PRIVATE KEY"))
        }
        #expect("\(credential)".contains("TRM00001"))
    }
}

@Suite("Terminal certificates")
struct TerminalCertificateTests {
    @Test("A terminal certificate verifies against its CA and carries CN = terminal ID and clientAuth")
    func terminalCertificate() async throws {
        let ca = try CertificateAuthority.create(commonName: "Sasando Terminal CA")
        let credential = try ca.issueTerminalCertificate(terminalID: "TRM00042", merchantID: "PP0000000000042")

        #expect(try await verify(leafPEM: credential.certificatePEM, caPEM: ca.certificatePEM, at: Date()).isValid)
        #expect(try await verify(leafPEM: credential.certificatePEM, caPEM: ca.certificatePEM).isValid)

        #expect(try CertificateInspection.commonName(ofPEM: credential.certificatePEM) == "TRM00042")
        let certificate = try Certificate(pemEncoded: credential.certificatePEM)
        #expect(certificate.subject.description.contains("O=PP0000000000042"))
        let usages = try #require(try certificate.extensions.extendedKeyUsage)
        #expect(usages.contains(.clientAuth))
        #expect(!usages.contains(.serverAuth))
        #expect(try certificate.extensions.basicConstraints == .notCertificateAuthority)
        #expect(try certificate.extensions.keyUsage?.digitalSignature == true)

        // The private key is P-256 and belongs to the certificate.
        let key = try Certificate.PrivateKey(pemEncoded: credential.privateKeyPEM)
        #expect(key.publicKey == certificate.publicKey)
        #expect(P256.Signing.PublicKey(certificate.publicKey) != nil)
    }

    @Test("Without a merchant ID the subject is just the CN")
    func noMerchant() throws {
        let ca = try CertificateAuthority.create(commonName: "CA")
        let credential = try ca.issueTerminalCertificate(terminalID: "TRM00001", merchantID: nil)
        let certificate = try Certificate(pemEncoded: credential.certificatePEM)
        #expect(certificate.subject.description == "CN=TRM00001")
    }

    @Test("A certificate from another CA does not verify")
    func otherCAFails() async throws {
        let ours = try CertificateAuthority.create(commonName: "Sasando Terminal CA")
        // Same name on purpose: only the signature tells them apart.
        let theirs = try CertificateAuthority.create(commonName: "Sasando Terminal CA")
        let foreign = try theirs.issueTerminalCertificate(terminalID: "TRM00001", merchantID: nil)

        #expect(!(try await verify(leafPEM: foreign.certificatePEM, caPEM: ours.certificatePEM, at: Date()).isValid))
        #expect(try await verify(leafPEM: foreign.certificatePEM, caPEM: theirs.certificatePEM, at: Date()).isValid)
    }

    @Test("An expired certificate fails verification now but was valid during its lifetime")
    func expiredFails() async throws {
        let ca = try CertificateAuthority.create(commonName: "Sasando Terminal CA")
        let now = Date()
        // Lifetime inside the CA's (which starts an hour ago), ended a minute ago.
        let expired = try ca.issueTerminalCertificate(
            terminalID: "TRM00001", merchantID: nil,
            notBefore: now.addingTimeInterval(-30 * 60), notAfter: now.addingTimeInterval(-60))

        #expect(try CertificateInspection.notAfter(ofPEM: expired.certificatePEM) < now)
        #expect(!(try await verify(leafPEM: expired.certificatePEM, caPEM: ca.certificatePEM).isValid))
        #expect(!(try await verify(leafPEM: expired.certificatePEM, caPEM: ca.certificatePEM, at: now).isValid))
        // The same certificate checked at a time inside its lifetime passes, so the failure above is the expiry.
        let duringLifetime = now.addingTimeInterval(-10 * 60)
        #expect(try await verify(leafPEM: expired.certificatePEM, caPEM: ca.certificatePEM, at: duringLifetime).isValid)
    }

    @Test("Only notAfter in the past is enough to make an expired certificate")
    func expiredWithOnlyNotAfter() throws {
        let ca = try CertificateAuthority.create(commonName: "CA")
        let notAfter = Date().addingTimeInterval(-3600)
        let expired = try ca.issueTerminalCertificate(terminalID: "TRM00001", merchantID: nil, notAfter: notAfter)
        #expect(abs(try CertificateInspection.notAfter(ofPEM: expired.certificatePEM).timeIntervalSince(notAfter)) < 1)
    }

    @Test("Default validity: from an hour ago, 825 days")
    func defaultValidity() throws {
        let ca = try CertificateAuthority.create(commonName: "CA")
        let credential = try ca.issueTerminalCertificate(terminalID: "TRM00001", merchantID: nil)
        let certificate = try Certificate(pemEncoded: credential.certificatePEM)
        #expect(certificate.notValidBefore < Date())
        #expect(abs(certificate.notValidAfter.timeIntervalSince(certificate.notValidBefore) - 825 * 86_400) < 2)
    }

    @Test("Terminal IDs must be exactly 8 printable ASCII characters", arguments: ["", "TRM0001", "TRM000001", "TRM 0001\u{7}", " TRM0001", "TRM0001 ", "TRMÄ0001"])
    func badTerminalIDs(terminalID: String) throws {
        let ca = try CertificateAuthority.create(commonName: "CA")
        #expect(throws: PKIError.invalidTerminalID(terminalID)) {
            try ca.issueTerminalCertificate(terminalID: terminalID, merchantID: nil)
        }
    }

    @Test("notAfter must be after notBefore")
    func invertedValidity() throws {
        let ca = try CertificateAuthority.create(commonName: "CA")
        let now = Date()
        #expect {
            try ca.issueTerminalCertificate(terminalID: "TRM00001", merchantID: nil, notBefore: now, notAfter: now)
        } throws: { error in
            guard case PKIError.invalidValidity = error else { return false }
            return true
        }
    }
}

@Suite("Server certificates")
struct ServerCertificateTests {
    @Test("The server certificate has DNS and IP SANs and serverAuth, and verifies")
    func serverCertificate() async throws {
        let ca = try CertificateAuthority.create(commonName: "Sasando Terminal CA")
        let server = try ca.issueServerCertificate(
            commonName: "sasando.local", dnsNames: ["localhost", "sasando.local"], ipAddresses: ["127.0.0.1", "::1"])
        let certificate = try Certificate(pemEncoded: server.certificatePEM)

        let names = try #require(try certificate.extensions.subjectAlternativeNames)
        #expect(names.contains(.dnsName("localhost")))
        #expect(names.contains(.dnsName("sasando.local")))
        let ipAddresses = names.compactMap { name -> [UInt8]? in
            guard case .ipAddress(let octets) = name else { return nil }
            return Array(octets.bytes)
        }
        #expect(ipAddresses == [[127, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]])
        #expect(names.count == 4)

        let usages = try #require(try certificate.extensions.extendedKeyUsage)
        #expect(usages.contains(.serverAuth))
        #expect(!usages.contains(.clientAuth))
        #expect(try CertificateInspection.commonName(ofPEM: server.certificatePEM) == "sasando.local")
        #expect(try certificate.extensions.basicConstraints == .notCertificateAuthority)
        #expect(try await verify(leafPEM: server.certificatePEM, caPEM: ca.certificatePEM).isValid)
        let lifetime = certificate.notValidAfter.timeIntervalSince(certificate.notValidBefore)
        #expect(abs(lifetime - 825 * 86_400) < 2)
    }

    @Test("Bad IP addresses and DNS names are rejected; at least one SAN is required")
    func badNames() throws {
        let ca = try CertificateAuthority.create(commonName: "CA")
        #expect(throws: PKIError.invalidIPAddress("localhost")) {
            try ca.issueServerCertificate(commonName: "s", dnsNames: [], ipAddresses: ["localhost"])
        }
        #expect(throws: PKIError.invalidIPAddress("256.0.0.1")) {
            try ca.issueServerCertificate(commonName: "s", dnsNames: [], ipAddresses: ["256.0.0.1"])
        }
        #expect {
            try ca.issueServerCertificate(commonName: "s", dnsNames: ["bad name"], ipAddresses: [])
        } throws: { error in
            guard case PKIError.invalidName = error else { return false }
            return true
        }
        #expect {
            try ca.issueServerCertificate(commonName: "s", dnsNames: [], ipAddresses: [])
        } throws: { error in
            guard case PKIError.invalidName = error else { return false }
            return true
        }
    }
}
