import Foundation
import Logging
import PostgresNIO
import SasandoCore

/// Chart of accounts (README "Chart of accounts"):
/// - `DEP:<merchant>` payment point's prefunded deposit (credit-normal, never negative)
/// - `COM:<merchant>` payment point's earned commission
/// - `PAY:<biller>` what the bank owes a biller; `PAY:IPL:<estate>` each housing estate's own payable
/// - `BANK:FEE` the bank's fee income; `BANK:CLEARING` the bank's cash/clearing side
public enum AccountCode {
    public static let feeIncome = "BANK:FEE"
    public static let clearing = "BANK:CLEARING"
    public static func deposit(_ merchantID: String) -> String { "DEP:\(merchantID)" }
    public static func commission(_ merchantID: String) -> String { "COM:\(merchantID)" }
    public static func payable(_ billerKey: String) -> String { "PAY:\(billerKey)" }
}

public struct LedgerError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// What a top-up did: the deposit balance after it, and whether this was a repeat of a top-up
/// already done (same request key), which changed nothing.
public struct TopUpResult: Sendable, Equatable {
    public let balance: Sen
    public let repeated: Bool
}

/// Account administration outside the terminal flows: opening accounts, staff top-ups.
public struct LedgerAccounts: Sendable {
    let database: SasandoDatabase
    public let cutoverHourWITA: Int
    public init(database: SasandoDatabase, cutoverHourWITA: Int = 23) {
        self.database = database
        self.cutoverHourWITA = cutoverHourWITA
    }

    /// Creates the payment point's deposit and commission accounts; a newly created deposit gets
    /// `openingDeposit` from clearing. Running it again changes nothing. Returns whether it was new.
    @discardableResult
    public func openPaymentPoint(merchantID: String, openingDeposit: Sen) async throws -> Bool {
        let logger = database.logger
        return try await database.client.withTransaction(logger: logger) { connection in
            try await connection.query("""
                INSERT INTO accounts (code, kind, merchant_id) VALUES (\(AccountCode.commission(merchantID)), 'commission', \(merchantID))
                ON CONFLICT (code) DO NOTHING
                """, logger: logger)
            let created = try await connection.query("""
                INSERT INTO accounts (code, kind, merchant_id) VALUES (\(AccountCode.deposit(merchantID)), 'deposit', \(merchantID))
                ON CONFLICT (code) DO NOTHING RETURNING id
                """, logger: logger)
            let isNew = try await created.returnedAnyRow()
            if isNew && openingDeposit.value > 0 {
                try await Self.transfer(connection: connection, kind: "opening_deposit", debit: AccountCode.clearing,
                                        credit: AccountCode.deposit(merchantID), amount: openingDeposit,
                                        businessDate: try await businessDateNow(connection, logger: logger), description: "opening deposit", logger: logger)
            }
            return isNew
        }
    }

    /// Staff top-up: clearing -> deposit, with its audit event, in one transaction.
    ///
    /// - Parameter requestKey: the console form's one-time key. It is recorded in the same
    ///   transaction (`staff_request_keys`), so the same form sent twice (a double click, a browser
    ///   retry, two instances behind a load balancer) tops up once; the repeat gets `repeated`.
    /// - Throws: `LedgerError` for an amount that is not positive or a payment point that does
    ///   not exist (checked before the transaction: accounts are never deleted).
    @discardableResult
    public func topUp(merchantID: String, amount: Sen, actor: String, address: String? = nil,
                      requestKey: String? = nil) async throws -> TopUpResult {
        guard amount.value > 0 else { throw LedgerError("a top-up must be positive") }
        guard try await balance(code: AccountCode.deposit(merchantID)) != nil else {
            throw LedgerError("no payment point \(merchantID) (IDs are 15 characters, e.g. NTTPP0000000001)")
        }
        let logger = database.logger
        return try await database.client.withTransaction(logger: logger) { connection in
            if let requestKey {
                let fresh = try await connection.query("""
                    INSERT INTO staff_request_keys (request_key, actor, action) VALUES (\(requestKey), \(actor), \("topup \(merchantID) \(amount)"))
                    ON CONFLICT (request_key) DO NOTHING RETURNING 1
                    """, logger: logger)
                guard try await fresh.returnedAnyRow() else {
                    return TopUpResult(balance: try await Self.balance(merchantID, connection, logger), repeated: true)
                }
            }
            try await Self.transfer(connection: connection, kind: "topup", debit: AccountCode.clearing,
                                    credit: AccountCode.deposit(merchantID), amount: amount,
                                    businessDate: try await businessDateNow(connection, logger: logger), description: "top-up by \(actor)", logger: logger)
            try await connection.query("""
                INSERT INTO audit_events (actor, event, detail, remote_address) VALUES (\(actor), 'deposit_topup', \("\(merchantID) \(amount)"), \(address))
                """, logger: logger)
            return TopUpResult(balance: try await Self.balance(merchantID, connection, logger), repeated: false)
        }
    }

    static func balance(_ merchantID: String, _ connection: PostgresConnection, _ logger: Logger) async throws -> Sen {
        let rows = try await connection.query("SELECT balance FROM accounts WHERE code = \(AccountCode.deposit(merchantID))", logger: logger)
        for try await value in rows.decode(Int64.self) { return Sen(value) }
        throw LedgerError("deposit account vanished")
    }

    /// The business date of the `business_day` row (the clock rule before the row exists).
    func businessDateNow(_ connection: PostgresConnection, logger: Logger) async throws -> String {
        let rows = try await connection.query("SELECT business_date::text FROM business_day WHERE id = 1", logger: logger)
        for try await date in rows.decode(String.self) { return date }
        return BusinessCalendar.businessDate(at: Date(), cutoverHourWITA: cutoverHourWITA).description
    }

    static func transfer(connection: PostgresConnection, kind: String, debit: String, credit: String, amount: Sen,
                         businessDate: String, description: String, logger: Logger) async throws {
        try await connection.query("""
            WITH j AS (INSERT INTO journals (kind, business_date, description)
                       VALUES (\(kind), \(businessDate)::date, \(description)) RETURNING id)
            INSERT INTO postings (journal_id, account_id, side, amount)
            SELECT j.id, a.id, CASE a.code WHEN \(debit) THEN 'D' ELSE 'C' END, \(amount.value)
            FROM j, accounts a WHERE a.code IN (\(debit), \(credit))
            """, logger: logger)
    }

    public func balance(code: String) async throws -> Sen? {
        let rows = try await database.client.query("SELECT balance FROM accounts WHERE code = \(code)")
        for try await value in rows.decode(Int64.self) { return Sen(value) }
        return nil
    }
}
