import Foundation
@_spi(FixedExpiryValidationTime) import X509

/// A fresh temporary directory, removed by `remove()`.
struct TemporaryDirectory {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory
            .appendingPathComponent("sasando-pki-tests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { URL(fileURLWithPath: path).appendingPathComponent(name).path }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// Validates `leafPEM` against the single root `caPEM` with swift-certificates' RFC 5280 verifier.
/// `at` nil means "now" (the verifier's clock); otherwise a fixed validation time.
func verify(leafPEM: String, caPEM: String, at validationTime: Date? = nil) async throws -> CertificateValidationResult {
    let leaf = try Certificate(pemEncoded: leafPEM)
    let root = try Certificate(pemEncoded: caPEM)
    if let validationTime {
        var verifier = Verifier(rootCertificates: CertificateStore([root])) {
            RFC5280Policy(fixedExpiryValidationTime: validationTime)
        }
        return await verifier.validate(leaf: leaf, intermediates: CertificateStore())
    } else {
        var verifier = Verifier(rootCertificates: CertificateStore([root])) {
            RFC5280Policy()
        }
        return await verifier.validate(leaf: leaf, intermediates: CertificateStore())
    }
}

extension CertificateValidationResult {
    var isValid: Bool {
        if case .validCertificate = self { return true }
        return false
    }
}

/// File permission bits (e.g. 0o600).
func posixMode(of path: String) throws -> Int {
    let attributes = try FileManager.default.attributesOfItem(atPath: path)
    return (attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1
}
