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
    public init(database: SasandoDatabase) { self.database = database }

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
                macKey: Array(key.readableBytesView))
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
        try await database.client.query("""
            INSERT INTO terminals (terminal_id, merchant_id, mac_key) VALUES (\(terminalID), \(merchantID), \(ByteBuffer(bytes: macKey)))
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
        let key = ByteBuffer(bytes: macKey)
        let rows = try await database.client.query("""
            WITH new AS (INSERT INTO terminals (terminal_id, merchant_id, mac_key) VALUES (\(terminalID), \(merchantID), \(key))
                         ON CONFLICT (terminal_id) DO NOTHING RETURNING 1)
            SELECT EXISTS (SELECT 1 FROM new), coalesce((SELECT mac_key = \(key) FROM terminals WHERE terminal_id = \(terminalID)), false)
            """)
        for try await (created, sameKey) in rows.decode((Bool, Bool).self) {
            return created ? .created : (sameKey ? .alreadyRegistered : .registeredWithAnotherKey)
        }
        throw LedgerError("terminal \(terminalID) not registered")
    }

    public func setTerminalStatus(_ terminalID: String, _ status: EntityStatus) async throws {
        try await database.client.query("UPDATE terminals SET status = \(status.rawValue) WHERE terminal_id = \(terminalID)")
    }

    public func setPaymentPointStatus(_ merchantID: String, _ status: EntityStatus) async throws {
        try await database.client.query("UPDATE payment_points SET status = \(status.rawValue) WHERE merchant_id = \(merchantID)")
    }
}
