import Logging
import PostgresNIO
import SasandoCore

public enum EntityStatus: String, Sendable, Codable {
    case active, blocked
}

public struct TerminalRecord: Sendable, Equatable {
    public var terminalID: String
    public var merchantID: String
    public var terminalStatus: EntityStatus
    public var merchantStatus: EntityStatus
    public var macKey: [UInt8]

    public init(terminalID: String, merchantID: String, terminalStatus: EntityStatus, merchantStatus: EntityStatus, macKey: [UInt8]) {
        self.terminalID = terminalID
        self.merchantID = merchantID
        self.terminalStatus = terminalStatus
        self.merchantStatus = merchantStatus
        self.macKey = macKey
    }

    /// A terminal may transact only when it and its payment point are active (else `05`).
    public var isActive: Bool { terminalStatus == .active && merchantStatus == .active }
}

public struct AuditEvent: Sendable {
    public var actor: String
    public var event: String
    public var detail: String
    public var remoteAddress: String?
    public init(actor: String, event: String, detail: String = "", remoteAddress: String? = nil) {
        self.actor = actor
        self.event = event
        self.detail = detail
        self.remoteAddress = remoteAddress
    }
}

/// Terminals, payment points and the audit trail.
public struct TerminalDirectory: Sendable {
    public let database: SasandoDatabase
    /// Seals the MAC keys it writes and opens sealed ones it reads; without one, keys are written
    /// in clear and a sealed key cannot be read (`MACKeySealer`).
    public let sealer: MACKeySealer?

    public init(database: SasandoDatabase, sealer: MACKeySealer? = nil) {
        self.database = database
        self.sealer = sealer
    }

    /// The same directory, sealing with `sealer`.
    public func sealing(with sealer: MACKeySealer?) -> TerminalDirectory {
        TerminalDirectory(database: database, sealer: sealer)
    }

    /// The MAC key as stored: sealed when this directory has a sealer.
    func stored(_ macKey: [UInt8], terminalID: String) throws -> ByteBuffer {
        ByteBuffer(bytes: try sealer?.seal(macKey, terminalID: terminalID) ?? macKey)
    }

    /// The MAC key of a stored value: clear (32 bytes) as it is, sealed opened with the sealer.
    func revealed(_ stored: ByteBuffer, terminalID: String) throws -> [UInt8] {
        let bytes = Array(stored.readableBytesView)
        if bytes.count == MACKeySealer.macKeyByteCount { return bytes }
        guard let sealer else {
            throw LedgerError("terminal \(terminalID): its MAC key is sealed and this process has no key-encryption key "
                              + "(mac-key-encryption.key in the PKI folder)")
        }
        return try sealer.open(bytes, terminalID: terminalID)
    }

    public func terminal(_ terminalID: String) async throws -> TerminalRecord? {
        let rows = try await database.client.query("""
            SELECT t.terminal_id, t.merchant_id, t.status, p.status, t.mac_key
            FROM terminals t JOIN payment_points p ON p.merchant_id = t.merchant_id
            WHERE t.terminal_id = \(terminalID)
            """)
        for try await (id, merchant, status, merchantStatus, key) in rows.decode((String, String, String, String, ByteBuffer).self) {
            return TerminalRecord(
                terminalID: id, merchantID: merchant,
                terminalStatus: EntityStatus(rawValue: status) ?? .blocked,
                merchantStatus: EntityStatus(rawValue: merchantStatus) ?? .blocked,
                macKey: try revealed(key, terminalID: id))
        }
        return nil
    }

    public func record(_ event: AuditEvent) async throws {
        try await database.client.query("""
            INSERT INTO audit_events (actor, event, detail, remote_address)
            VALUES (\(event.actor), \(event.event), \(event.detail), \(event.remoteAddress))
            """)
    }

    public func upsertPaymentPoint(merchantID: String, name: String) async throws {
        try await database.client.query("""
            INSERT INTO payment_points (merchant_id, name) VALUES (\(merchantID), \(name))
            ON CONFLICT (merchant_id) DO NOTHING
            """)
    }

    /// Registers a terminal, or gives an existing one this key and payment point: for benchmark
    /// and test terminals whose credentials the caller has just made. Provisioning uses
    /// `registerTerminal`, which never changes a live terminal.
    public func insertTerminal(terminalID: String, merchantID: String, macKey: [UInt8]) async throws {
        let key = try stored(macKey, terminalID: terminalID)
        try await database.client.query("""
            INSERT INTO terminals (terminal_id, merchant_id, mac_key) VALUES (\(terminalID), \(merchantID), \(key))
            ON CONFLICT (terminal_id) DO UPDATE SET mac_key = EXCLUDED.mac_key, merchant_id = EXCLUDED.merchant_id
            """)
    }

    /// What `registerTerminal` found.
    public enum Registration: Sendable, Equatable {
        case created
        /// Already known with this very key: nothing changed.
        case alreadyRegistered
        /// Known with another key: nothing changed (its live credentials are elsewhere).
        case registeredWithAnotherKey
    }

    /// Registers a new terminal; never changes an existing one. Provisioning uses it, so running
    /// it against a database that already has these terminals (from another folder, or another
    /// working directory's default `.data`) cannot silently re-key live terminals.
    public func registerTerminal(terminalID: String, merchantID: String, macKey: [UInt8]) async throws -> Registration {
        let key = try stored(macKey, terminalID: terminalID)
        // The existing key, compared here: a sealed one differs from any new sealing of the same key.
        let rows = try await database.client.query("""
            WITH new AS (INSERT INTO terminals (terminal_id, merchant_id, mac_key) VALUES (\(terminalID), \(merchantID), \(key))
                         ON CONFLICT (terminal_id) DO NOTHING RETURNING 1)
            SELECT EXISTS (SELECT 1 FROM new), (SELECT mac_key FROM terminals WHERE terminal_id = \(terminalID))
            """)
        for try await (created, existing) in rows.decode((Bool, ByteBuffer?).self) {
            if created { return .created }
            guard let existing else { break }
            return (try? revealed(existing, terminalID: terminalID)) == macKey ? .alreadyRegistered : .registeredWithAnotherKey
        }
        throw LedgerError("terminal \(terminalID) not registered")
    }
}
