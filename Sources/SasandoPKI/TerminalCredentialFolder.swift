import Foundation
import X509

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Connection settings of one terminal, stored as `terminal.json`.
public struct TerminalCredentials: Sendable, Codable, Equatable {
    /// Field 41 and the certificate CN (8 characters).
    public var terminalID: String
    /// Field 42, the payment point (merchant) ID.
    public var merchantID: String
    /// Switch host name or address the terminal connects to.
    public var host: String
    /// Switch port (spec default 8583).
    public var port: Int

    public init(terminalID: String, merchantID: String, host: String, port: Int = 8583) {
        self.terminalID = terminalID
        self.merchantID = merchantID
        self.host = host
        self.port = port
    }

    enum CodingKeys: String, CodingKey {
        case terminalID = "terminal_id"
        case merchantID = "merchant_id"
        case host
        case port
    }
}

/// Everything a terminal needs to talk to the switch, in one folder:
///
/// | file | content | mode |
/// |---|---|---|
/// | `cert.pem` | terminal client certificate | 0644 |
/// | `key.pem` | its P-256 private key | 0600 |
/// | `ca.pem` | CA certificate used to verify the switch | 0644 |
/// | `mac.key` | 32-byte MAC key as 64 hex characters + newline (spec §7) | 0600 |
/// | `terminal.json` | `{"host", "merchant_id", "port", "terminal_id"}` | 0644 |
public struct TerminalCredentialFolder: Sendable {
    public static let certificateFileName = "cert.pem"
    public static let privateKeyFileName = "key.pem"
    public static let caCertificateFileName = "ca.pem"
    public static let macKeyFileName = "mac.key"
    public static let infoFileName = "terminal.json"

    /// Path of the folder.
    public let directory: String
    public let info: TerminalCredentials
    public let certificatePEM: String
    public let privateKeyPEM: String
    public let caCertificatePEM: String
    public let macKey: [UInt8]

    /// The terminal's certificate and key.
    public var credential: IssuedCredential {
        IssuedCredential(certificatePEM: certificatePEM, privateKeyPEM: privateKeyPEM)
    }

    /// Writes a credential folder, creating `directory` (and intermediate directories) if needed.
    ///
    /// The contents are checked first (same checks as `load`), so a folder that was written can be loaded.
    /// Each file is written to a temporary file created with its final mode and renamed into place, so
    /// secrets are never readable by others, not even briefly.
    @discardableResult
    public static func write(
        to directory: String,
        info: TerminalCredentials,
        credential: IssuedCredential,
        caCertificatePEM: String,
        macKey: [UInt8]
    ) throws -> TerminalCredentialFolder {
        let folder = TerminalCredentialFolder(
            directory: directory, info: info,
            certificatePEM: credential.certificatePEM, privateKeyPEM: credential.privateKeyPEM,
            caCertificatePEM: caCertificatePEM, macKey: macKey)
        try folder.validate(describingFile: { $0 })

        do {
            // 0700: the folder holds secrets; only applied to directories created here.
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700])
        } catch {
            throw PKIError.writeFailed(path: directory, reason: "cannot create directory (\(error.localizedDescription))")
        }

        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        let json: Data
        do {
            json = try encoder.encode(info)
        } catch {
            throw PKIError.writeFailed(path: folder.path(infoFileName), reason: "cannot encode JSON (\(error))")
        }

        try SecureFile.write(Array(credential.certificatePEM.utf8), to: folder.path(certificateFileName), mode: 0o644)
        try SecureFile.write(Array(credential.privateKeyPEM.utf8), to: folder.path(privateKeyFileName), mode: 0o600)
        try SecureFile.write(Array(caCertificatePEM.utf8), to: folder.path(caCertificateFileName), mode: 0o644)
        try SecureFile.write(Array((MACKey.hex(macKey) + "\n").utf8), to: folder.path(macKeyFileName), mode: 0o600)
        try SecureFile.write(Array(json) + [UInt8(ascii: "\n")], to: folder.path(infoFileName), mode: 0o644)
        return folder
    }

    /// Loads and checks a credential folder. Errors name the missing or bad file.
    public static func load(from directory: String) throws -> TerminalCredentialFolder {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) else {
            throw PKIError.missingFile(path: directory)
        }
        guard isDirectory.boolValue else {
            throw PKIError.invalidFile(path: directory, reason: "not a directory")
        }
        let base = URL(fileURLWithPath: directory)
        func path(_ name: String) -> String { base.appendingPathComponent(name).path }

        let infoPath = path(infoFileName)
        let info: TerminalCredentials
        do {
            info = try JSONDecoder().decode(TerminalCredentials.self, from: Data(try readFile(infoPath).utf8))
        } catch let error as PKIError {
            throw error
        } catch {
            throw PKIError.invalidFile(
                path: infoPath,
                reason: "expected JSON {\"terminal_id\", \"merchant_id\", \"host\", \"port\"} (\(error))")
        }

        let macPath = path(macKeyFileName)
        let macKey: [UInt8]
        do {
            macKey = try MACKey.parse(hex: try readFile(macPath))
        } catch PKIError.invalidMACKey(let reason) {
            throw PKIError.invalidFile(path: macPath, reason: reason)
        }

        let folder = TerminalCredentialFolder(
            directory: directory, info: info,
            certificatePEM: try readFile(path(certificateFileName)),
            privateKeyPEM: try readFile(path(privateKeyFileName)),
            caCertificatePEM: try readFile(path(caCertificateFileName)),
            macKey: macKey)
        try folder.validate(describingFile: { path($0) })
        return folder
    }

    // MARK: - Internals

    private func path(_ name: String) -> String {
        URL(fileURLWithPath: directory).appendingPathComponent(name).path
    }

    /// Checks the pieces fit together. `describingFile` turns a file name into what errors should show.
    private func validate(describingFile: (String) -> String) throws {
        let infoFile = describingFile(Self.infoFileName)
        do {
            try CertificateAuthority.checkTerminalID(info.terminalID)
        } catch {
            throw PKIError.invalidFile(path: infoFile, reason: "terminal_id: \(error)")
        }
        guard !info.merchantID.isEmpty, CertificateAuthority.isPrintableASCII(info.merchantID) else {
            throw PKIError.invalidFile(path: infoFile, reason: "merchant_id must be non-empty printable ASCII")
        }
        guard !info.host.isEmpty else {
            throw PKIError.invalidFile(path: infoFile, reason: "host must not be empty")
        }
        guard (1...65_535).contains(info.port) else {
            throw PKIError.invalidFile(path: infoFile, reason: "port \(info.port) is outside 1...65535")
        }

        let certificate: Certificate
        do {
            certificate = try CertificateInspection.parseCertificate(pem: certificatePEM)
        } catch {
            throw PKIError.invalidFile(path: describingFile(Self.certificateFileName), reason: "\(error)")
        }
        let key: Certificate.PrivateKey
        do {
            key = try CertificateAuthority.parsePrivateKey(pem: privateKeyPEM)
        } catch {
            throw PKIError.invalidFile(path: describingFile(Self.privateKeyFileName), reason: "\(error)")
        }
        guard key.publicKey == certificate.publicKey else {
            throw PKIError.invalidFile(
                path: describingFile(Self.privateKeyFileName),
                reason: "does not match the public key of \(Self.certificateFileName)")
        }
        // The switch checks field 41 against the certificate CN (spec §1): a mismatch here could never work.
        let commonName = CertificateInspection.commonName(of: certificate.subject)
        guard commonName == info.terminalID else {
            throw PKIError.invalidFile(
                path: describingFile(Self.certificateFileName),
                reason: "certificate CN '\(commonName ?? "")' differs from terminal_id '\(info.terminalID)' in \(Self.infoFileName)")
        }
        do {
            _ = try CertificateInspection.parseCertificate(pem: caCertificatePEM)
        } catch {
            throw PKIError.invalidFile(path: describingFile(Self.caCertificateFileName), reason: "\(error)")
        }
        guard macKey.count == MACKey.byteCount else {
            throw PKIError.invalidFile(
                path: describingFile(Self.macKeyFileName),
                reason: "MAC key must be \(MACKey.byteCount) bytes, got \(macKey.count)")
        }
    }

    private static func readFile(_ path: String) throws -> String {
        guard FileManager.default.fileExists(atPath: path) else {
            throw PKIError.missingFile(path: path)
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PKIError.invalidFile(path: path, reason: "cannot be read (permissions?)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw PKIError.invalidFile(path: path, reason: "not UTF-8 text")
        }
        return text
    }
}

// Private key and MAC key must not leak through `print`, string interpolation or `dump`.
extension TerminalCredentialFolder: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String {
        "TerminalCredentialFolder(\(directory), terminal_id: \(info.terminalID), merchant_id: \(info.merchantID), "
            + "host: \(info.host), port: \(info.port), privateKey: <redacted>, macKey: <redacted>)"
    }
    public var debugDescription: String { description }
    public var customMirror: Mirror {
        Mirror(self, children: [
            "directory": directory, "info": info, "certificatePEM": certificatePEM,
            "privateKeyPEM": "<redacted>", "caCertificatePEM": caCertificatePEM, "macKey": "<redacted>",
        ])
    }
}
