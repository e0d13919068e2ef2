import Foundation
import SasandoPKI
import SasandoSwitch
import Testing

/// The switch's PKI folder as a security review wanted it: the CA key never readable by other
/// local users (written with its final mode, in a folder only its owner can enter), and a key
/// found readable by others refused at start with the command that mends it.
struct PKIFilesTests {
    func mode(_ path: String) throws -> Int {
        try #require(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
    }

    @Test func theCAIsCreatedInAPrivateFolderWithOwnerOnlyKeys() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("sasando-pki-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let pki = (root as NSString).appendingPathComponent("pki")
        let (_, created) = try Provisioning(pkiDirectory: pki).ensureCertificateAuthority()
        #expect(created)
        #expect(try mode(pki) == 0o700)
        #expect(try mode((pki as NSString).appendingPathComponent(Provisioning.caKeyFile)) == 0o600)
        #expect(try mode((pki as NSString).appendingPathComponent(Provisioning.serverKeyFile)) == 0o600)
        #expect(try mode((pki as NSString).appendingPathComponent(Provisioning.caFile)) == 0o644)
        // No temporary files left beside them.
        #expect(try FileManager.default.contentsOfDirectory(atPath: pki).filter { $0.contains(".tmp-") }.isEmpty)
        _ = try SwitchApplication.loadServerTLS(pkiDirectory: pki)

        // A key found readable by others: refused, saying how to mend it.
        let caKey = (pki as NSString).appendingPathComponent(Provisioning.caKeyFile)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: caKey)
        #expect {
            try Provisioning(pkiDirectory: pki).ensureCertificateAuthority()
        } throws: { error in
            "\(error)".contains("chmod 600 \(caKey)")
        }
        let serverKey = (pki as NSString).appendingPathComponent(Provisioning.serverKeyFile)
        try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: serverKey)
        #expect {
            _ = try SwitchApplication.loadServerTLS(pkiDirectory: pki)
        } throws: { error in
            "\(error)".contains("chmod 600 \(serverKey)")
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: serverKey)
        _ = try SwitchApplication.loadServerTLS(pkiDirectory: pki)
    }
}
