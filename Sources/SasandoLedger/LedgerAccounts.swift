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

/// Account administration outside the terminal flows: opening accounts, staff top-ups.
public struct LedgerAccounts: Sendable {
    let database: SasandoDatabase
    public let cutoverHourWITA: Int
    public init(database: SasandoDatabase, cutoverHourWITA: Int = 23) {
        self.database = database
        self.cutoverHourWITA = cutoverHourWITA
    }

    /// Creates the payment point's deposit and commission accounts; a newly created deposit gets
    /// `openingDeposit` from clearing. Running it again changes nothing.
    public func openPaymentPoint(merchantID: String, openingDeposit: Sen) async throws {
        let logger = database.logger
        try await database.client.withTransaction(logger: logger) { connection in
            try await connection.query("""
                INSERT INTO accounts (code, kind, merchant_id) VALUES (\(AccountCode.commission(merchantID)), 'commission', \(merchantID))
                ON CONFLICT (code) DO NOTHING
                """, logger: logger)
            let created = try await connection.query("""
                INSERT INTO accounts (code, kind, merchant_id) VALUES (\(AccountCode.deposit(merchantID)), 'deposit', \(merchantID))
                ON CONFLICT (code) DO NOTHING RETURNING id
                """, logger: logger)
            var isNew = false
            for try await _ in created { isNew = true }
            if isNew && openingDeposit.value > 0 {
                try await Self.transfer(connection: connection, kind: "opening_deposit", debit: AccountCode.clearing,
                                        credit: AccountCode.deposit(merchantID), amount: openingDeposit,
                                        businessDate: try await businessDateNow(connection, logger: logger), description: "opening deposit", logger: logger)
            }
        }
    }

    /// Staff top-up: clearing -> deposit. Returns the new deposit balance.
    @discardableResult
    public func topUp(merchantID: String, amount: Sen, actor: String) async throws -> Sen {
        guard amount.value > 0 else { throw LedgerError("a top-up must be positive") }
        let logger = database.logger
        return try await database.client.withTransaction(logger: logger) { connection in
            let rows = try await connection.query("SELECT 1 FROM accounts WHERE code = \(AccountCode.deposit(merchantID))", logger: logger)
            var exists = false
            for try await _ in rows { exists = true }
            guard exists else { throw LedgerError("no payment point \(merchantID)") }
            try await Self.transfer(connection: connection, kind: "topup", debit: AccountCode.clearing,
                                    credit: AccountCode.deposit(merchantID), amount: amount,
                                    businessDate: try await businessDateNow(connection, logger: logger), description: "top-up by \(actor)", logger: logger)
            try await connection.query("""
                INSERT INTO audit_events (actor, event, detail) VALUES (\(actor), 'deposit_topup', \("\(merchantID) \(amount)"))
                """, logger: logger)
            let balance = try await connection.query("SELECT balance FROM accounts WHERE code = \(AccountCode.deposit(merchantID))", logger: logger)
            for try await value in balance.decode(Int64.self) { return Sen(value) }
            throw LedgerError("deposit account vanished")
        }
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
