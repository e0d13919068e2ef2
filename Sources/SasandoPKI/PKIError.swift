import Foundation

/// Errors thrown by SasandoPKI.
///
/// Messages name files, paths and public identifiers only; they never contain private key or MAC key
/// material (not even fragments of a malformed key), so they are safe to log.
public enum PKIError: Error, Sendable, Equatable, CustomStringConvertible, LocalizedError {
    /// A certificate PEM could not be parsed.
    case invalidCertificate(reason: String)
    /// A private key PEM could not be parsed (the reason is generic on purpose).
    case invalidPrivateKey(reason: String)
    /// The private key does not belong to the certificate it was loaded with.
    case privateKeyDoesNotMatchCertificate
    /// The loaded certificate is not a CA certificate (BasicConstraints cA=TRUE).
    case notACertificateAuthority(subject: String)
    /// The terminal ID is not 8 printable ASCII characters (spec field 41, ans 8).
    case invalidTerminalID(String)
    /// The merchant / payment-point ID cannot be used as an organization name.
    case invalidMerchantID(String)
    /// A common name or DNS name that cannot be put into a certificate.
    case invalidName(String)
    /// An IP address string that is neither IPv4 nor IPv6.
    case invalidIPAddress(String)
    /// Bad validity period (e.g. notAfter not after notBefore, non-positive day count).
    case invalidValidity(reason: String)
    /// A MAC key that is not exactly 64 hexadecimal characters / 32 bytes.
    case invalidMACKey(reason: String)
    /// A required file of a credential folder does not exist.
    case missingFile(path: String)
    /// A file exists but could not be read or parsed.
    case invalidFile(path: String, reason: String)
    /// Writing a file or creating a directory failed.
    case writeFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case .invalidCertificate(let reason):
            return "invalid certificate: \(reason)"
        case .invalidPrivateKey(let reason):
            return "invalid private key: \(reason)"
        case .privateKeyDoesNotMatchCertificate:
            return "the private key does not match the certificate's public key"
        case .notACertificateAuthority(let subject):
            return "certificate '\(subject)' is not a CA certificate (BasicConstraints cA is not set)"
        case .invalidTerminalID(let id):
            return "invalid terminal ID '\(id)': expected exactly 8 printable ASCII characters without leading/trailing spaces (field 41)"
        case .invalidMerchantID(let id):
            return "invalid merchant ID '\(id)': expected 1 to 64 printable ASCII characters"
        case .invalidName(let reason):
            return "invalid name: \(reason)"
        case .invalidIPAddress(let address):
            return "invalid IP address '\(address)': expected an IPv4 or IPv6 literal"
        case .invalidValidity(let reason):
            return "invalid validity period: \(reason)"
        case .invalidMACKey(let reason):
            return "invalid MAC key: \(reason)"
        case .missingFile(let path):
            return "missing file: \(path)"
        case .invalidFile(let path, let reason):
            return "invalid file \(path): \(reason)"
        case .writeFailed(let path, let reason):
            return "could not write \(path): \(reason)"
        }
    }

    public var errorDescription: String? { description }
}
