import Foundation
import SasandoCore
import SasandoLedger
import SasandoPKI

extension ConfigurationError {
    /// `SecureFile.requireOwnerOnly`, refused as a configuration error (what `serve` reports at
    /// start), its message after `context`.
    public static func requireOwnerOnly(_ path: String, context: String = "") throws {
        do {
            try SecureFile.requireOwnerOnly(path)
        } catch let refused as PKIError {
            throw ConfigurationError(description: context + refused.description)
        }
    }
}

/// Creates the PKI and the terminals (files under a folder, rows in PostgreSQL). Idempotent: what
/// exists is reused, never overwritten.
public struct Provisioning: Sendable {
    public static let caFile = "ca.pem"
    public static let caKeyFile = "ca-key.pem"
    public static let serverCertificateFile = "server.pem"
    public static let serverKeyFile = "server-key.pem"
    /// The key that seals terminals' MAC keys in the database (`MACKeySealer`): 64 hex characters,
    /// readable by its owner only. Every switch instance on one database needs the same file, as
    /// it needs the same server key; without it, sealed keys cannot be read and sign-ons fail.
    public static let keyEncryptionKeyFile = "mac-key-encryption.key"

    public let pkiDirectory: String

    public init(pkiDirectory: String) {
        self.pkiDirectory = pkiDirectory
    }

    private func path(_ name: String) -> String { (pkiDirectory as NSString).appendingPathComponent(name) }

    /// Loads the terminal CA, creating it and the switch's server certificate on first use.
    @discardableResult
    public func ensureCertificateAuthority() throws -> (ca: CertificateAuthority, created: Bool) {
        let fm = FileManager.default
        if fm.fileExists(atPath: path(Self.caFile)), fm.fileExists(atPath: path(Self.caKeyFile)) {
            try SecureFile.requireOwnerOnly(path(Self.caKeyFile))
            let ca = try CertificateAuthority(
                certificatePEM: try String(contentsOfFile: path(Self.caFile), encoding: .utf8),
                privateKeyPEM: try String(contentsOfFile: path(Self.caKeyFile), encoding: .utf8))
            if !fm.fileExists(atPath: path(Self.serverCertificateFile)) { try writeServerCertificate(ca) }
            return (ca, false)
        }
        // Only its owner may enter the folder that holds the CA key.
        try SecureFile.createPrivateDirectory(pkiDirectory)
        let ca = try CertificateAuthority.create(commonName: "Sasando Terminal CA")
        try write(ca.certificatePEM, to: Self.caFile, mode: 0o644)
        try write(ca.privateKeyPEM, to: Self.caKeyFile, mode: 0o600)
        try writeServerCertificate(ca)
        return (ca, true)
    }

    private func writeServerCertificate(_ ca: CertificateAuthority) throws {
        let server = try ca.issueServerCertificate(commonName: "sasando-switch", dnsNames: ["localhost"], ipAddresses: ["127.0.0.1", "::1"])
        try write(server.certificatePEM, to: Self.serverCertificateFile, mode: 0o644)
        try write(server.privateKeyPEM, to: Self.serverKeyFile, mode: 0o600)
    }

    /// The MAC-key sealer of this PKI folder, creating its key on first use (in the folder only its
    /// owner may enter, like the CA key).
    public func ensureKeyEncryptionKey() throws -> MACKeySealer {
        if let existing = try Self.keyEncryptionKey(pkiDirectory: pkiDirectory) { return existing }
        try SecureFile.createPrivateDirectory(pkiDirectory)
        let key = MACKey.generate()   // 32 random bytes, the same generator
        try write(MACKey.hex(key) + "\n", to: Self.keyEncryptionKeyFile, mode: 0o600)
        return MACKeySealer(keyBytes: key)
    }

    /// The MAC-key sealer of the PKI folder, or nil when it has no key-encryption key (a folder
    /// provisioned before sealing: its terminals' keys are stored in clear). A key file others can
    /// read, or one that is not 64 hex characters, is refused.
    public static func keyEncryptionKey(pkiDirectory: String) throws -> MACKeySealer? {
        let path = (pkiDirectory as NSString).appendingPathComponent(keyEncryptionKeyFile)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        try ConfigurationError.requireOwnerOnly(path)
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigurationError(description: "cannot read \(path)")
        }
        do {
            return MACKeySealer(keyBytes: try MACKey.parse(hex: text))
        } catch {
            throw ConfigurationError(description: "\(path) is not a key-encryption key (64 hex characters)")
        }
    }

    private func write(_ text: String, to name: String, mode: mode_t) throws {
        try SecureFile.write(Array(text.utf8), to: path(name), mode: mode)
    }

    public struct TerminalPlan: Sendable {
        public var count: Int
        public var paymentPoints: Int
        public var outputDirectory: String
        public var host: String = "127.0.0.1"
        public var port: Int = 8583
        /// Terminal IDs are `prefix` + a zero-filled number, 8 characters in all.
        public var terminalPrefix: String = "KPG"
        /// Merchant IDs are `merchantPrefix` + a zero-filled number, 15 characters in all.
        public var merchantPrefix: String = "NTTPP"
        public var openingDeposit: Sen = .rupiah(50_000_000)
        public init(count: Int, paymentPoints: Int, outputDirectory: String) {
            self.count = count
            self.paymentPoints = paymentPoints
            self.outputDirectory = outputDirectory
        }
    }

    public static let estateNames = ["Perumahan Oesapa Indah", "Griya Liliba", "Kolhua Permai", "Bumi Naimata", "Taman Sikumana"]

    /// What provisioning did: the credential folders it wrote, and the payment points that existed
    /// already (they got the new terminals but no opening deposit).
    public struct Outcome: Sendable {
        public var written: [String] = []
        public var existingPaymentPoints: [String] = []
    }

    /// Payment point `i` (1-based) gets terminals round-robin; each new payment point gets its
    /// accounts and an opening deposit journal. Recorded in the audit log.
    public func provisionTerminals(_ plan: TerminalPlan, directory: TerminalDirectory, ledger: LedgerAccounts,
                                   actor: String = "cli") async throws -> Outcome {
        guard plan.count > 0, plan.paymentPoints > 0, plan.paymentPoints <= plan.count else {
            throw ConfigurationError(description: "need 1 <= payment points <= terminals (got \(plan.paymentPoints) and \(plan.count))")
        }
        // IDs go into fields 41 and 42, logs, file names and URLs: upper-case letters and digits only.
        for (name, prefix) in [("terminal", plan.terminalPrefix), ("payment point", plan.merchantPrefix)] {
            guard !prefix.isEmpty, prefix.allSatisfy({ ("A"..."Z").contains($0) || ("0"..."9").contains($0) }) else {
                throw ConfigurationError(description: "the \(name) prefix must be upper-case letters and digits (got \"\(prefix)\")")
            }
        }
        let terminalDigits = 8 - plan.terminalPrefix.count
        let merchantDigits = 15 - plan.merchantPrefix.count
        guard terminalDigits >= String(plan.count).count, merchantDigits >= String(plan.paymentPoints).count else {
            throw ConfigurationError(description: "prefixes too long for \(plan.count) terminals / \(plan.paymentPoints) payment points")
        }
        let (ca, _) = try ensureCertificateAuthority()
        // New terminals' MAC keys go into the database sealed.
        let directory = directory.sealing(with: try ensureKeyEncryptionKey())
        func id(_ prefix: String, _ n: Int, width: Int) -> String {
            let digits = String(n)
            return prefix + String(repeating: "0", count: width - digits.count) + digits
        }
        var merchants: [String] = []
        var outcome = Outcome()
        for p in 1...plan.paymentPoints {
            let merchantID = id(plan.merchantPrefix, p, width: merchantDigits)
            let name = "Loket \(Self.estateNames[(p - 1) % Self.estateNames.count]) \(p)"
            try await directory.upsertPaymentPoint(merchantID: merchantID, name: name)
            if try await !ledger.openPaymentPoint(merchantID: merchantID, openingDeposit: plan.openingDeposit) {
                outcome.existingPaymentPoints.append(merchantID)
            }
            merchants.append(merchantID)
        }
        for t in 1...plan.count {
            let terminalID = id(plan.terminalPrefix, t, width: terminalDigits)
            let merchantID = merchants[(t - 1) % merchants.count]
            let folder = (plan.outputDirectory as NSString).appendingPathComponent(terminalID)
            let liveElsewhere = ConfigurationError(description: """
                terminal \(terminalID) is already registered in the database with another MAC key: its live credentials \
                are not in \(plan.outputDirectory). Nothing was changed for it; use the folder it was provisioned into, or \
                another --terminal-prefix
                """)
            if let existing = try? TerminalCredentialFolder.load(from: folder) {
                // Keep the files; make sure the database knows this terminal, with the same key.
                let registration = try await directory.registerTerminal(terminalID: terminalID, merchantID: existing.info.merchantID,
                                                                        macKey: existing.macKey)
                if registration == .registeredWithAnotherKey { throw liveElsewhere }
                continue
            }
            let macKey = MACKey.generate()
            // Registered before its folder is written: a terminal the database already has is refused
            // here, without leaving credentials on disk that the switch would reject.
            guard try await directory.registerTerminal(terminalID: terminalID, merchantID: merchantID, macKey: macKey) == .created else {
                throw liveElsewhere
            }
            let credential = try ca.issueTerminalCertificate(terminalID: terminalID, merchantID: merchantID)
            _ = try TerminalCredentialFolder.write(
                to: folder,
                info: TerminalCredentials(terminalID: terminalID, merchantID: merchantID, host: plan.host, port: plan.port),
                credential: credential, caCertificatePEM: ca.certificatePEM, macKey: macKey)
            outcome.written.append(folder)
        }
        try await directory.record(AuditEvent(
            actor: actor, event: "terminals_provisioned",
            detail: "\(outcome.written.count) new terminals (\(plan.terminalPrefix)...) in \(plan.paymentPoints) payment points, "
                + "\(plan.paymentPoints - outcome.existingPaymentPoints.count) new with \(plan.openingDeposit) each", remoteAddress: nil))
        return outcome
    }
}
