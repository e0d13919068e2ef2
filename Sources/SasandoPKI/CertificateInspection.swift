import Foundation
import X509

/// Read-only helpers over PEM certificates, for tests and command-line tools.
public enum CertificateInspection {
    /// The value of the first common name (CN) attribute of the subject, or nil if there is none.
    /// For terminal certificates this is the terminal ID (field 41).
    public static func commonName(ofPEM pem: String) throws -> String? {
        commonName(of: try parseCertificate(pem: pem).subject)
    }

    /// The end of the certificate's validity period.
    public static func notAfter(ofPEM pem: String) throws -> Date {
        try parseCertificate(pem: pem).notValidAfter
    }

    static func commonName(of name: DistinguishedName) -> String? {
        for rdn in name {
            for attribute in rdn where attribute.type == .RDNAttributeType.commonName {
                return String(attribute.value) ?? String(describing: attribute.value)
            }
        }
        return nil
    }

    /// Parses the first certificate of a PEM text, wrapping the library error in a PKIError.
    static func parseCertificate(pem: String) throws -> Certificate {
        do {
            return try Certificate(pemEncoded: pem)
        } catch {
            throw PKIError.invalidCertificate(reason: "not a PEM X.509 certificate (\(error))")
        }
    }
}
