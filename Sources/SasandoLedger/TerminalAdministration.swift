import PostgresNIO
import SasandoCore

/// Bank staff's controls over who may transact: block a terminal (lost or stolen, a suspected
/// fraud) or a whole payment point, unblock it, and set a payment point's daily limit (field 61).
///
/// Each change locks its row, then changes it and writes its audit event in one statement of the
/// same transaction, so an audited change always happened and a change is never unaudited. Nothing is cached: a session's
/// sign-on reads the terminal, and every posting batch reads terminal and payment point status and
/// the limit inside its own transaction, so a change holds for the next request at every instance
/// at once (a blocked terminal's payments and inquiries get `05`, its sign-on `05`; past the limit
/// `61`).
public struct StatusChange: Sendable, Equatable {
    public enum Outcome: Sendable, Equatable {
        /// Changed, and audited.
        case changed
        /// Already so: nothing written, nothing audited.
        case unchanged
        case notFound
    }
    public var outcome: Outcome
    /// The payment point a terminal belongs to (terminals only; nil when not found).
    public var merchantID: String?
    public init(outcome: Outcome, merchantID: String?) { self.outcome = outcome; self.merchantID = merchantID }
}

/// A payment point's daily limit change (sen). `previous` is nil when there is no such payment point.
public struct DailyLimitChange: Sendable, Equatable {
    public var previous: Int64?
    public var changed: Bool
    public init(previous: Int64?, changed: Bool) { self.previous = previous; self.changed = changed }
}

public struct TerminalListing: Sendable, Equatable {
    public var terminalID: String
    public var merchantID: String
    public var status: EntityStatus
    public var paymentPointStatus: EntityStatus
}

public struct PaymentPointListing: Sendable, Equatable {
    public var merchantID: String
    public var name: String
    public var status: EntityStatus
    public var dailyLimit: Sen
    /// Collected (bills + fees, less reversals) on the current business date: what the limit is held against.
    public var collectedToday: Sen
    public var deposit: Sen
    /// The balance of the payment point's commission account (its share of fees).
    public var commission: Sen
    public var terminals: Int
    public var blockedTerminals: Int
}

extension TerminalDirectory {
    /// Field 41 and field 42 lengths, as the schema's CHECKs have them.
    public static let terminalIDLength = 8
    public static let merchantIDLength = 15

    /// A terminal or merchant ID as the database keeps them: exactly `length` printable ASCII
    /// characters, no spaces (staff typing one get "malformed" at once rather than "not found").
    public static func isIdentifier(_ value: String, length: Int) -> Bool {
        value.utf8.count == length && value.utf8.allSatisfy { (0x21...0x7E).contains($0) }
    }

    /// Longest reason kept in the audit log for a block or unblock.
    public static let statusReasonCharactersMax = 200
    /// Highest daily limit staff may set (Rp 10.000.000.000): a payment point in a housing complex
    /// collects a small part of that; a typo of a few zeros more is refused, not applied.
    public static let dailyLimitSenMax: Int64 = 10_000_000_000 * 100

    /// Longest reason in bytes (UTF-8): a character count alone lets one letter carry thousands of
    /// combining marks.
    public static let statusReasonBytesMax = 800

    /// Why a block or unblock reason is refused (nil: fine): it goes into the audit log as typed,
    /// so one line of 1...`statusReasonCharactersMax` characters (at most `statusReasonBytesMax`
    /// bytes) with something in it, and nothing that breaks or reorders a line when shown
    /// (control and format characters, Unicode line and paragraph separators).
    public static func reasonProblem(_ reason: String) -> String? {
        let blank = reason.unicodeScalars.allSatisfy { $0 == " " || $0 == "\t" }
        let unsafe = reason.unicodeScalars.contains { scalar in
            [.control, .format, .lineSeparator, .paragraphSeparator].contains(scalar.properties.generalCategory)
        }
        guard !blank, !unsafe, reason.count <= statusReasonCharactersMax, reason.utf8.count <= statusReasonBytesMax else {
            return "a reason is 1-\(statusReasonCharactersMax) characters on one line, for the audit log"
        }
        return nil
    }

    // Each change reads its row FOR UPDATE (waiting for a concurrent change, and then reading the
    // row as that change left it), decides, and writes the row and its audit event in one more
    // statement of the same transaction. One statement alone would decide against its snapshot
    // from before the wait: of a block and an unblock at once, the second could say "already
    // active" while the terminal ended blocked, and a limit's audit could name the wrong old value.

    /// Blocks or unblocks a terminal, audited in the transaction that changes it.
    public func changeTerminalStatus(_ terminalID: String, to status: EntityStatus, actor: String, reason: String) async throws -> StatusChange {
        let event = status == .blocked ? "terminal_blocked" : "terminal_unblocked"
        let logger = database.logger
        return try await database.client.withTransaction(logger: logger) { connection in
            let rows = try await connection.query("SELECT merchant_id, status FROM terminals WHERE terminal_id = \(terminalID) FOR UPDATE", logger: logger)
            var found: (merchant: String, status: String)?
            for try await row in rows.decode((String, String).self) { found = row }
            guard let found else { return StatusChange(outcome: .notFound, merchantID: nil) }
            guard found.status != status.rawValue else { return StatusChange(outcome: .unchanged, merchantID: found.merchant) }
            try await connection.query("""
                WITH changed AS (UPDATE terminals SET status = \(status.rawValue) WHERE terminal_id = \(terminalID) RETURNING 1)
                INSERT INTO audit_events (actor, event, detail) SELECT \(actor), \(event), \(terminalID + " (" + found.merchant + "): " + reason) FROM changed
                """, logger: logger)
            return StatusChange(outcome: .changed, merchantID: found.merchant)
        }
    }

    /// Blocks or unblocks a payment point (every terminal of it), audited in the transaction that changes it.
    public func changePaymentPointStatus(_ merchantID: String, to status: EntityStatus, actor: String, reason: String) async throws -> StatusChange {
        let event = status == .blocked ? "payment_point_blocked" : "payment_point_unblocked"
        let logger = database.logger
        return try await database.client.withTransaction(logger: logger) { connection in
            let rows = try await connection.query("SELECT status FROM payment_points WHERE merchant_id = \(merchantID) FOR UPDATE", logger: logger)
            var current: String?
            for try await value in rows.decode(String.self) { current = value }
            guard let current else { return StatusChange(outcome: .notFound, merchantID: nil) }
            guard current != status.rawValue else { return StatusChange(outcome: .unchanged, merchantID: merchantID) }
            try await connection.query("""
                WITH changed AS (UPDATE payment_points SET status = \(status.rawValue) WHERE merchant_id = \(merchantID) RETURNING 1)
                INSERT INTO audit_events (actor, event, detail) SELECT \(actor), \(event), \(merchantID + ": " + reason) FROM changed
                """, logger: logger)
            return StatusChange(outcome: .changed, merchantID: merchantID)
        }
    }

    /// Sets a payment point's daily limit in sen (0...`dailyLimitSenMax`), audited with the old and
    /// new values in the transaction that changes it. A limit below what was already collected
    /// today stops further payments today (`61`); it never undoes one.
    public func setDailyLimit(_ merchantID: String, sen: Int64, actor: String) async throws -> DailyLimitChange {
        precondition((0...Self.dailyLimitSenMax).contains(sen), "callers check the range")
        let logger = database.logger
        return try await database.client.withTransaction(logger: logger) { connection in
            let rows = try await connection.query("SELECT daily_limit_sen FROM payment_points WHERE merchant_id = \(merchantID) FOR UPDATE", logger: logger)
            var previous: Int64?
            for try await value in rows.decode(Int64.self) { previous = value }
            guard let previous else { return DailyLimitChange(previous: nil, changed: false) }
            guard previous != sen else { return DailyLimitChange(previous: previous, changed: false) }
            try await connection.query("""
                WITH changed AS (UPDATE payment_points SET daily_limit_sen = \(sen) WHERE merchant_id = \(merchantID) RETURNING 1)
                INSERT INTO audit_events (actor, event, detail)
                SELECT \(actor), 'payment_point_daily_limit_set', \("\(merchantID): \(previous) -> \(sen) sen") FROM changed
                """, logger: logger)
            return DailyLimitChange(previous: previous, changed: true)
        }
    }

    /// Terminals, by ID, at most `limit`; optionally one payment point's, or only the blocked ones
    /// (the terminal or its payment point). With `boundMilliseconds` the query answers within it or
    /// fails with `DatabaseUnavailable` (the console's pages must answer, see `BoundedQueries`).
    public func terminals(merchantID: String? = nil, blockedOnly: Bool = false, limit: Int = Int(Int32.max),
                          boundMilliseconds: Int? = nil) async throws -> [TerminalListing] {
        let rows = try await listingQuery("""
            SELECT t.terminal_id, t.merchant_id, t.status, p.status
              FROM terminals t JOIN payment_points p ON p.merchant_id = t.merchant_id
             WHERE (\(merchantID)::text IS NULL OR t.merchant_id = \(merchantID))
               AND (NOT \(blockedOnly) OR t.status = 'blocked' OR p.status = 'blocked')
             ORDER BY t.terminal_id LIMIT \(limit)
            """, boundMilliseconds: boundMilliseconds)
        var listing: [TerminalListing] = []
        for try await (id, merchant, status, pointStatus) in rows.decode((String, String, String, String).self) {
            listing.append(TerminalListing(terminalID: id, merchantID: merchant, status: EntityStatus(rawValue: status) ?? .blocked,
                                           paymentPointStatus: EntityStatus(rawValue: pointStatus) ?? .blocked))
        }
        return listing
    }

    /// Payment points, by ID, at most `limit`, with their limit, what they collected on the current
    /// business date, deposit, commission balance and terminals (`boundMilliseconds` as for `terminals`).
    public func paymentPoints(limit: Int = Int(Int32.max), boundMilliseconds: Int? = nil) async throws -> [PaymentPointListing] {
        let rows = try await listingQuery("""
            SELECT p.merchant_id, p.name, p.status, p.daily_limit_sen,
                   coalesce((SELECT m.collected_sen FROM merchant_daily_totals m
                              WHERE m.merchant_id = p.merchant_id AND m.business_date = (SELECT b.business_date FROM business_day b WHERE b.id = 1)), 0)::int8,
                   coalesce((SELECT a.balance FROM accounts a WHERE a.code = \(AccountCode.deposit(""))::text || p.merchant_id), 0)::int8,
                   coalesce((SELECT a.balance FROM accounts a WHERE a.code = \(AccountCode.commission(""))::text || p.merchant_id), 0)::int8,
                   (SELECT count(*) FROM terminals t WHERE t.merchant_id = p.merchant_id),
                   (SELECT count(*) FROM terminals t WHERE t.merchant_id = p.merchant_id AND t.status = 'blocked')
              FROM payment_points p ORDER BY p.merchant_id LIMIT \(limit)
            """, boundMilliseconds: boundMilliseconds)
        var listing: [PaymentPointListing] = []
        for try await (id, name, status, limit, collected, deposit, commission, terminals, blocked)
            in rows.decode((String, String, String, Int64, Int64, Int64, Int64, Int64, Int64).self) {
            listing.append(PaymentPointListing(merchantID: id, name: name, status: EntityStatus(rawValue: status) ?? .blocked,
                                               dailyLimit: Sen(limit), collectedToday: Sen(collected), deposit: Sen(deposit),
                                               commission: Sen(commission), terminals: Int(terminals), blockedTerminals: Int(blocked)))
        }
        return listing
    }

    private func listingQuery(_ query: PostgresQuery, boundMilliseconds: Int?) async throws -> PostgresRowSequence {
        guard let boundMilliseconds else { return try await database.client.query(query) }
        return try await BoundedQueries(database: database, milliseconds: boundMilliseconds).query(query)
    }
}
