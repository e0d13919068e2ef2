import Foundation
import NIOSSL
import SasandoLedger
import Testing

/// `sslmode` read as libpq reads it: a security review found `verify-full` and `verify-ca` (and
/// typos) silently meaning no TLS at all.
struct DatabaseURLTests {
    func setting(_ query: String) throws -> DatabaseTLS {
        try DatabaseTLS(#require(URLComponents(string: "postgres://sasando@db.bank.example:5432/sasando" + query)))
    }

    @Test func eachSSLModeMeansWhatLibpqSays() throws {
        #expect(try setting("").mode == .disable)
        #expect(try setting("?sslmode=disable").mode == .disable)
        #expect(try setting("?sslmode=prefer").tlsConfiguration.certificateVerification == .none)
        #expect(try setting("?sslmode=require").tlsConfiguration.certificateVerification == .none)
        #expect(try setting("?sslmode=verify-ca&sslrootcert=/etc/sasando/db-ca.pem").tlsConfiguration.certificateVerification == .noHostnameVerification)
        let full = try setting("?sslmode=verify-full&sslrootcert=/etc/sasando/db-ca.pem")
        #expect(full.mode == .verifyFull && full.rootCertificatePath == "/etc/sasando/db-ca.pem")
        #expect(full.tlsConfiguration.certificateVerification == .fullVerification)
        #expect(full.tlsConfiguration.minimumTLSVersion == .tlsv12)
        if case .file(let path)? = full.tlsConfiguration.trustRoots { #expect(path == "/etc/sasando/db-ca.pem") } else { Issue.record("trust roots not the file") }
    }

    @Test func anUnknownModeOrAStrayRootCertificateIsRefused() throws {
        // verify-ca without a root file would take any publicly trusted certificate.
        for query in ["?sslmode=verify_full", "?sslmode=bogus", "?sslmode=", "?sslmode=allow", "?sslmode=require&sslrootcert=/x.pem", "?sslmode=verify-ca"] {
            #expect(throws: DatabaseURLError.self, "\(query)") { try setting(query) }
        }
        #expect(throws: DatabaseURLError.self) {
            try DatabaseConfiguration.client(url: "postgres://sasando@db.bank.example/sasando?sslmode=verify_full", connectWaitMilliseconds: 100)
        }
        _ = try DatabaseConfiguration.client(url: "postgres://sasando@db.bank.example/sasando?sslmode=verify-full", connectWaitMilliseconds: 100)
        #expect(throws: DatabaseURLError.self) {
            try DatabaseConfiguration.connection(url: "postgres://sasando@db.bank.example/sasando?sslmode=verify-fulll", connectWaitMilliseconds: 100)
        }
    }
}
