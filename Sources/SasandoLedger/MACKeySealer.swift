import Crypto

/// Seals terminals' MAC keys for the database: AES-256-GCM under a key-encryption key that lives
/// beside the switch's private key (`mac-key-encryption.key` in the PKI folder), never in the
/// database. A dump, a backup, a replica or a statement injected into the switch's role then
/// yields no key that could forge a terminal's MAC. The terminal ID is the associated data, so a
/// sealed key copied into another terminal's row does not open.
///
/// Stored form: version byte 1, the 12-byte nonce, the 32-byte ciphertext, the 16-byte tag
/// (61 bytes). A 32-byte value is a key stored in clear (terminals provisioned before sealing, or
/// without a key-encryption key) and is read as it is.
public struct MACKeySealer: Sendable {
    public static let keyByteCount = 32
    public static let macKeyByteCount = 32
    static let version: UInt8 = 1
    static let nonceByteCount = 12
    static let tagByteCount = 16
    public static let sealedByteCount = 1 + nonceByteCount + macKeyByteCount + tagByteCount

    private let key: SymmetricKey

    /// - Parameter keyBytes: the key-encryption key, `keyByteCount` bytes (checked by the caller
    ///   that read it: a wrong length here is a programming error).
    public init(keyBytes: [UInt8]) {
        precondition(keyBytes.count == Self.keyByteCount, "a key-encryption key is 32 bytes")
        key = SymmetricKey(data: keyBytes)
    }

    public func seal(_ macKey: [UInt8], terminalID: String) throws -> [UInt8] {
        precondition(macKey.count == Self.macKeyByteCount, "a MAC key is 32 bytes")
        let box = try AES.GCM.seal(macKey, using: key, authenticating: Array(terminalID.utf8))
        return [Self.version] + Array(box.nonce) + Array(box.ciphertext) + Array(box.tag)
    }

    /// The MAC key; throws when the value was not sealed with this key for this terminal.
    public func open(_ stored: [UInt8], terminalID: String) throws -> [UInt8] {
        guard stored.count == Self.sealedByteCount, stored[0] == Self.version else {
            throw LedgerError("terminal \(terminalID): the stored MAC key is not in a sealed form this release reads")
        }
        let ciphertextStart = 1 + Self.nonceByteCount, tagStart = ciphertextStart + Self.macKeyByteCount
        let box = try AES.GCM.SealedBox(nonce: AES.GCM.Nonce(data: stored[1..<ciphertextStart]),
                                        ciphertext: stored[ciphertextStart..<tagStart], tag: stored[tagStart...])
        do {
            return Array(try AES.GCM.open(box, using: key, authenticating: Array(terminalID.utf8)))
        } catch {
            throw LedgerError("terminal \(terminalID): its MAC key does not open with this key-encryption key (another instance's key, or the row was altered)")
        }
    }
}
