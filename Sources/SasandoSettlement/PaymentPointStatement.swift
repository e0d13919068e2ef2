import Foundation
import PostgresNIO
import SasandoCore
import SasandoLedger

/// A payment point's deposit over a range of business dates, as a bank statement: the balance at
/// the opening, each date's movements by kind (payments taken, reversals given back, top-ups,
/// commissions credited at settlement), the balance at the close. What a payment point's owner and
/// the bank reconcile the deposit with; from postings alone, so it ties to the ledger to the sen.
public struct PaymentPointStatement: Sendable, Equatable, Codable {
    public struct Line: Sendable, Equatable, Codable {
        public var businessDate: String
        /// Journal kind: payment, reversal, topup, opening_deposit, commission.
        public var kind: String
        public var count: Int
        /// Credits less debits on the deposit, in sen (payments are negative).
        public var netSen: Int64
    }

    public var merchantID: String
    public var name: String
    public var from: CalendarDate
    public var to: CalendarDate
    public var openingSen: Int64
    public var lines: [Line]
    public var closingSen: Int64

    /// Longest range one statement covers.
    public static let daysMax = 366

    public func renderText() -> String {
        func lpad(_ s: String, _ n: Int) -> String { s.count >= n ? s : String(repeating: " ", count: n - s.count) + s }
        var out = "Deposit statement, payment point \(merchantID) \(name), business dates \(from) to \(to)\n"
        out += "opening balance (close of the day before \(from)) \(lpad(Sen(openingSen).description, 24))\n"
        for line in lines {
            out += "\(line.businessDate)  \(line.kind.padding(toLength: 16, withPad: " ", startingAt: 0))\(lpad(String(line.count), 8))"
                + "\(lpad(Sen(line.netSen).description, 26))\n"
        }
        out += "closing balance (close of \(to)) \(lpad(Sen(closingSen).description, 33))\n"
        return out
    }

    public func renderCSV() -> String {
        var out = "business_date,kind,count,net_sen\n"
        out += "opening,,,\(openingSen)\n"
        for line in lines { out += "\(line.businessDate),\(line.kind),\(line.count),\(line.netSen)\n" }
        out += "closing,,,\(closingSen)\n"
        return out
    }
}

extension SettlementService {
    /// The statement of `merchantID`'s deposit from `from` to `to` (business dates, both included).
    public func statement(merchantID: String, from: CalendarDate, to: CalendarDate) async throws -> PaymentPointStatement {
        guard from <= to else { throw SettlementError("--from \(from) is after --to \(to)") }
        guard to < from.adding(days: PaymentPointStatement.daysMax) else {
            throw SettlementError("a statement covers at most \(PaymentPointStatement.daysMax) days; ask for several")
        }
        let logger = self.logger
        // One snapshot: opening, movements and closing tie even under traffic.
        return try await database.withReadOnlySnapshot { connection in
            let pointRows = try await connection.query("""
                SELECT p.name, a.id, a.balance FROM payment_points p JOIN accounts a ON a.code = \(AccountCode.deposit(""))::text || p.merchant_id
                WHERE p.merchant_id = \(merchantID)
                """, logger: logger)
            var found: (name: String, account: Int64, balance: Int64)?
            for try await row in pointRows.decode((String, Int64, Int64).self) { found = row }
            guard let found else { throw SettlementError("no payment point \(merchantID) with a deposit") }
            let lineRows = try await connection.query("""
                SELECT j.business_date::text, j.kind, count(*)::int8, sum(CASE p.side WHEN 'C' THEN p.amount ELSE -p.amount END)::int8
                FROM postings p JOIN journals j ON j.id = p.journal_id
                WHERE p.account_id = \(found.account) AND j.business_date BETWEEN \(from.description)::date AND \(to.description)::date
                GROUP BY 1, 2 ORDER BY 1, 2
                """, logger: logger)
            var lines: [PaymentPointStatement.Line] = []
            for try await (date, kind, count, net) in lineRows.decode((String, String, Int64, Int64).self) {
                lines.append(.init(businessDate: date, kind: kind, count: Int(count), netSen: net))
            }
            // The close of `to`: today's balance less what journals dated after it moved.
            let laterRows = try await connection.query("""
                SELECT coalesce(sum(CASE p.side WHEN 'C' THEN p.amount ELSE -p.amount END), 0)::int8
                FROM postings p JOIN journals j ON j.id = p.journal_id
                WHERE p.account_id = \(found.account) AND j.business_date > \(to.description)::date
                """, logger: logger)
            var later: Int64 = 0
            for try await value in laterRows.decode(Int64.self) { later = value }
            let closing = found.balance - later
            let opening = closing - lines.reduce(0) { $0 + $1.netSen }
            return PaymentPointStatement(merchantID: merchantID, name: found.name, from: from, to: to,
                                         openingSen: opening, lines: lines, closingSen: closing)
        }
    }
}
