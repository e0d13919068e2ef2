import NIOSSL
import X509

/// TLS for the terminal port (spec §1): TLS 1.2 minimum, mutual TLS against the terminal CA only.
public enum TLSSetup {
    /// TLS 1.2 cipher suites offered and accepted: forward-secret AEAD only (ECDHE with AES-GCM or
    /// ChaCha20-Poly1305). The spec forbids only NULL and export suites; the bank's baseline also
    /// excludes CBC with SHA-1, which BoringSSL's default list still holds. TLS 1.3's suites are
    /// all AEAD and not configurable.
    public static let tls12CipherSuites = [
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-CHACHA20-POLY1305",
    ].joined(separator: ":")

    /// Server side: our certificate, and client certificates required and verified against `terminalCAPEM`.
    /// OpenSSL refuses at handshake a missing certificate, another CA's, and an expired one.
    public static func serverContext(certificatePEM: String, privateKeyPEM: String, terminalCAPEM: String) throws -> NIOSSLContext {
        let chain = try NIOSSLCertificate.fromPEMBytes(Array(certificatePEM.utf8)).map { NIOSSLCertificateSource.certificate($0) }
        let key = try NIOSSLPrivateKey(bytes: Array(privateKeyPEM.utf8), format: .pem)
        let ca = try NIOSSLCertificate.fromPEMBytes(Array(terminalCAPEM.utf8))
        var config = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
        config.minimumTLSVersion = .tlsv12
        config.cipherSuites = tls12CipherSuites
        // Terminals have no host names; the chain and validity are what we check. CN -> field 41 is
        // checked per message by the switch.
        config.certificateVerification = .noHostnameVerification
        config.trustRoots = .certificates(ca)
        config.sendCANameList = true
        return try NIOSSLContext(configuration: config)
    }

    /// Terminal side: present the terminal certificate, trust only the switch's CA.
    public static func clientContext(certificatePEM: String, privateKeyPEM: String, caPEM: String) throws -> NIOSSLContext {
        let chain = try NIOSSLCertificate.fromPEMBytes(Array(certificatePEM.utf8)).map { NIOSSLCertificateSource.certificate($0) }
        let key = try NIOSSLPrivateKey(bytes: Array(privateKeyPEM.utf8), format: .pem)
        let ca = try NIOSSLCertificate.fromPEMBytes(Array(caPEM.utf8))
        var config = TLSConfiguration.makeClientConfiguration()
        config.minimumTLSVersion = .tlsv12
        config.cipherSuites = tls12CipherSuites
        config.certificateChain = chain
        config.privateKey = .privateKey(key)
        config.trustRoots = .certificates(ca)
        config.certificateVerification = .fullVerification
        return try NIOSSLContext(configuration: config)
    }

    /// Subject common name of a DER certificate, or nil when it has none.
    public static func commonName(derBytes: [UInt8]) throws -> String? {
        let certificate = try Certificate(derEncoded: derBytes)
        for rdn in certificate.subject {
            for attribute in rdn where attribute.type == .RDNAttributeType.commonName {
                return String(attribute.value)
            }
        }
        return nil
    }
}
