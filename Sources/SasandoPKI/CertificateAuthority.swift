import Crypto
import Foundation
import SwiftASN1
import X509

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A certificate and its P-256 private key, both as PEM text.
public struct IssuedCredential: Sendable {
    public let certificatePEM: String
    public let privateKeyPEM: String

    public init(certificatePEM: String, privateKeyPEM: String) {
        self.certificatePEM = certificatePEM
        self.privateKeyPEM = privateKeyPEM
    }
}

// Printing, logging or dumping a credential must never reveal the private key.
extension IssuedCredential: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String {
        let subject = (try? CertificateInspection.commonName(ofPEM: certificatePEM)).flatMap { $0 } ?? "?"
        return "IssuedCredential(CN=\(subject), privateKey: <redacted>)"
    }
    public var debugDescription: String { description }
    public var customMirror: Mirror {
        Mirror(self, children: ["certificatePEM": certificatePEM, "privateKeyPEM": "<redacted>"])
    }
}

/// The switch's terminal CA (spec §1: every terminal presents a client certificate issued by it).
///
/// ECDSA P-256 throughout. The CA signs server certificates for the switch and client certificates
/// for terminals whose subject CN is the terminal ID (field 41).
public struct CertificateAuthority: Sendable {
    /// Default lifetime of a server certificate (825 days: the longest TLS clients commonly accept).
    public static let defaultServerValidDays = 825
    /// Default lifetime of a terminal certificate.
    public static let defaultTerminalValidDays = 825
    /// Certificates start one hour in the past so small clock differences don't reject a fresh one.
    static let backdating: TimeInterval = 3600

    public let certificatePEM: String
    private let certificate: Certificate
    private let signingKey: Certificate.PrivateKey
    private let signingKeyPEM: String
    /// Subject key identifier of the CA; copied into issued certificates as authority key identifier.
    private let keyIdentifier: [UInt8]

    private init(certificate: Certificate, signingKey: Certificate.PrivateKey) throws {
        self.certificate = certificate
        self.signingKey = signingKey
        self.certificatePEM = try certificate.serializeAsPEM().pemString
        self.signingKeyPEM = try signingKey.serializeAsPEM().pemString
        self.keyIdentifier =
            (try? certificate.extensions.subjectKeyIdentifier).flatMap { $0.map { Array($0.keyIdentifier) } }
            ?? Self.keyIdentifier(of: certificate.publicKey)
    }

    /// Creates a new self-signed ECDSA P-256 CA (BasicConstraints cA, keyCertSign + cRLSign),
    /// valid from one hour ago for `validDays` days.
    public static func create(
        commonName: String,
        organization: String = "Bank NTT",
        validDays: Int = 3650
    ) throws -> CertificateAuthority {
        try checkName(commonName, what: "CA common name")
        try checkName(organization, what: "CA organization")
        guard validDays > 0 else {
            throw PKIError.invalidValidity(reason: "validDays must be positive, got \(validDays)")
        }
        let key = P256.Signing.PrivateKey()
        let privateKey = Certificate.PrivateKey(key)
        let publicKey = Certificate.PublicKey(key.publicKey)
        let name = try DistinguishedName {
            OrganizationName(organization)
            CommonName(commonName)
        }
        let notBefore = Date().addingTimeInterval(-backdating)
        let notAfter = notBefore.addingTimeInterval(TimeInterval(validDays) * 86_400)
        let skid = keyIdentifier(of: publicKey)
        let extensions = try Certificate.Extensions {
            // pathLen 0: this CA signs end-entity certificates only, never intermediates.
            Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
            Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            SubjectKeyIdentifier(keyIdentifier: skid[...])
        }
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: publicKey,
            notValidBefore: notBefore,
            notValidAfter: notAfter,
            issuer: name,
            subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: extensions,
            issuerPrivateKey: privateKey
        )
        return try CertificateAuthority(certificate: certificate, signingKey: privateKey)
    }

    /// Loads a CA from its certificate and private key PEM (PKCS#8 "PRIVATE KEY" or SEC1 "EC PRIVATE KEY").
    /// Checks that the key belongs to the certificate and that the certificate is a CA.
    public init(certificatePEM: String, privateKeyPEM: String) throws {
        let certificate = try CertificateInspection.parseCertificate(pem: certificatePEM)
        let key = try Self.parsePrivateKey(pem: privateKeyPEM)
        guard key.publicKey == certificate.publicKey else {
            throw PKIError.privateKeyDoesNotMatchCertificate
        }
        guard case .isCertificateAuthority = try? certificate.extensions.basicConstraints else {
            throw PKIError.notACertificateAuthority(subject: String(describing: certificate.subject))
        }
        try self.init(certificate: certificate, signingKey: key)
    }

    /// The CA private key as PEM (PKCS#8). Keep it offline; only the provisioning tool needs it.
    public var privateKeyPEM: String { signingKeyPEM }

    /// The CA certificate and key together.
    public var credential: IssuedCredential {
        IssuedCredential(certificatePEM: certificatePEM, privateKeyPEM: signingKeyPEM)
    }

    /// Issues the switch's TLS server certificate: CN = `commonName`, SAN DNS names and IP addresses
    /// (e.g. `["localhost"]`, `["127.0.0.1", "::1"]`), EKU serverAuth, new P-256 key.
    public func issueServerCertificate(
        commonName: String,
        dnsNames: [String],
        ipAddresses: [String],
        validDays: Int = CertificateAuthority.defaultServerValidDays
    ) throws -> IssuedCredential {
        try Self.checkName(commonName, what: "server common name")
        guard validDays > 0 else {
            throw PKIError.invalidValidity(reason: "validDays must be positive, got \(validDays)")
        }
        // TLS clients match the host against SANs only, so a server certificate without any is useless.
        guard !dnsNames.isEmpty || !ipAddresses.isEmpty else {
            throw PKIError.invalidName("a server certificate needs at least one DNS name or IP address")
        }
        var names: [GeneralName] = []
        for dnsName in dnsNames {
            try Self.checkDNSName(dnsName)
            names.append(.dnsName(dnsName))
        }
        for address in ipAddresses {
            guard let bytes = Self.ipAddressBytes(address) else { throw PKIError.invalidIPAddress(address) }
            names.append(.ipAddress(ASN1OctetString(contentBytes: bytes[...])))
        }
        let subject = try DistinguishedName {
            OrganizationName(organizationOfCA ?? "Bank NTT")
            CommonName(commonName)
        }
        let notBefore = Date().addingTimeInterval(-Self.backdating)
        let notAfter = notBefore.addingTimeInterval(TimeInterval(validDays) * 86_400)
        let usage = try ExtendedKeyUsage([.serverAuth])
        let sans = SubjectAlternativeNames(names)
        return try issueLeaf(subject: subject, notBefore: notBefore, notAfter: notAfter) { publicKey in
            try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                usage
                sans
                SubjectKeyIdentifier(keyIdentifier: Self.keyIdentifier(of: publicKey)[...])
                AuthorityKeyIdentifier(keyIdentifier: keyIdentifier[...])
            }
        }
    }

    /// Issues a terminal (TLS client) certificate: subject CN = `terminalID` (8 characters, field 41),
    /// O = `merchantID` when given, EKU clientAuth, new P-256 key.
    ///
    /// `notBefore` defaults to one hour ago and `notAfter` to `notBefore` + 825 days. Both can be set,
    /// e.g. to make an already expired certificate for tests: when only a past `notAfter` is given,
    /// `notBefore` defaults to 30 days before it.
    public func issueTerminalCertificate(
        terminalID: String,
        merchantID: String?,
        notBefore: Date? = nil,
        notAfter: Date? = nil
    ) throws -> IssuedCredential {
        try Self.checkTerminalID(terminalID)
        if let merchantID { try Self.checkMerchantID(merchantID) }

        let defaultStart = Date().addingTimeInterval(-Self.backdating)
        let lifetime = TimeInterval(Self.defaultTerminalValidDays) * 86_400
        let start: Date
        let end: Date
        switch (notBefore, notAfter) {
        case let (before?, after?):
            (start, end) = (before, after)
        case let (before?, nil):
            (start, end) = (before, before.addingTimeInterval(lifetime))
        case let (nil, after?):
            (start, end) = (min(defaultStart, after.addingTimeInterval(-30 * 86_400)), after)
        case (nil, nil):
            (start, end) = (defaultStart, defaultStart.addingTimeInterval(lifetime))
        }
        guard end > start else {
            throw PKIError.invalidValidity(reason: "notAfter (\(end)) must be later than notBefore (\(start))")
        }

        let subject = try DistinguishedName {
            if let merchantID { OrganizationName(merchantID) }
            CommonName(terminalID)
        }
        let usage = try ExtendedKeyUsage([.clientAuth])
        return try issueLeaf(subject: subject, notBefore: start, notAfter: end) { publicKey in
            try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                usage
                SubjectKeyIdentifier(keyIdentifier: Self.keyIdentifier(of: publicKey)[...])
                AuthorityKeyIdentifier(keyIdentifier: keyIdentifier[...])
            }
        }
    }

    // MARK: - Internals

    /// Generates a fresh P-256 key pair and signs an end-entity certificate for it with the CA key.
    private func issueLeaf(
        subject: DistinguishedName,
        notBefore: Date,
        notAfter: Date,
        extensions makeExtensions: (Certificate.PublicKey) throws -> Certificate.Extensions
    ) throws -> IssuedCredential {
        let key = P256.Signing.PrivateKey()
        let publicKey = Certificate.PublicKey(key.publicKey)
        let leaf = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: publicKey,
            notValidBefore: notBefore,
            notValidAfter: notAfter,
            issuer: certificate.subject,
            subject: subject,
            extensions: try makeExtensions(publicKey),
            issuerPrivateKey: signingKey
        )
        return IssuedCredential(
            certificatePEM: try leaf.serializeAsPEM().pemString,
            privateKeyPEM: key.pemRepresentation
        )
    }

    /// The CA's own O attribute, reused for the server certificate subject.
    private var organizationOfCA: String? {
        for rdn in certificate.subject {
            for attribute in rdn where attribute.type == .RDNAttributeType.organizationName {
                return String(attribute.value)
            }
        }
        return nil
    }

    /// RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bit string.
    static func keyIdentifier(of publicKey: Certificate.PublicKey) -> [UInt8] {
        Array(Insecure.SHA1.hash(data: Array(publicKey.subjectPublicKeyInfoBytes)))
    }

    /// Parses a private key PEM. The error deliberately says nothing about the content.
    static func parsePrivateKey(pem: String) throws -> Certificate.PrivateKey {
        do {
            return try Certificate.PrivateKey(pemEncoded: pem)
        } catch {
            throw PKIError.invalidPrivateKey(
                reason: "not a PEM private key (expected PKCS#8 \"PRIVATE KEY\" or SEC1 \"EC PRIVATE KEY\")")
        }
    }

    static func isPrintableASCII(_ text: String) -> Bool {
        text.utf8.allSatisfy { (0x20...0x7E).contains($0) }
    }

    /// Field 41 is `ans 8`; the CN must equal it exactly, so no padding spaces at either end.
    static func checkTerminalID(_ terminalID: String) throws {
        guard terminalID.utf8.count == 8, isPrintableASCII(terminalID),
            terminalID.first != " ", terminalID.last != " "
        else { throw PKIError.invalidTerminalID(terminalID) }
    }

    /// Used as the O attribute (X.520 upper bound 64).
    static func checkMerchantID(_ merchantID: String) throws {
        guard (1...64).contains(merchantID.utf8.count), isPrintableASCII(merchantID),
            !merchantID.allSatisfy({ $0 == " " })
        else { throw PKIError.invalidMerchantID(merchantID) }
    }

    static func checkName(_ name: String, what: String) throws {
        guard !name.trimmingCharacters(in: .whitespaces).isEmpty, name.count <= 64,
            !name.unicodeScalars.contains(where: { CharacterSet.controlCharacters.contains($0) })
        else { throw PKIError.invalidName("\(what) must be 1 to 64 characters without control characters") }
    }

    static func checkDNSName(_ name: String) throws {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-*_".utf8)
        guard !name.isEmpty, name.utf8.count <= 253, name.utf8.allSatisfy({ allowed.contains($0) }) else {
            throw PKIError.invalidName("'\(name)' is not a valid DNS name")
        }
    }

    /// Network-order bytes of an IPv4 (4 bytes) or IPv6 (16 bytes) literal, as SAN iPAddress wants.
    static func ipAddressBytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }
}

// The CA key must never show up in logs, `print`, or `dump`.
extension CertificateAuthority: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String {
        "CertificateAuthority(\(certificate.subject), notAfter: \(certificate.notValidAfter), privateKey: <redacted>)"
    }
    public var debugDescription: String { description }
    public var customMirror: Mirror {
        Mirror(self, children: ["certificatePEM": certificatePEM, "privateKeyPEM": "<redacted>"])
    }
}
