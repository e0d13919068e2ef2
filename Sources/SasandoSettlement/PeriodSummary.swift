import Foundation
import PostgresNIO
import SasandoCore
import SasandoLedger

/// A range of business dates at a glance, for the bank's finance staff at month end: each date's
/// totals as its settlement report has them (payments, bills paid, reversals, net owed to billers,
/// taken from deposits, commission, the bank's fee income) and whether it is settled, then each
/// biller's totals over the range, which is what the bank pays and reconciles with a biller.
/// Computed with the settlement report's own rule (a date's payments, and the reversals that name
/// them whenever posted), so a date's line equals its report's totals.
public struct PeriodSummary: Sendable, Equatable, Codable {
    public enum DateState: String, Sendable, Codable {
        /// Settled: its figures can never change.
        case settled
        /// Cut over but not settled yet.
        case closed
        /// The current business date: still taking payments.
        case open
    }

    public struct DateLine: Sendable, Equatable, Codable {
        public var businessDate: CalendarDate
        public var state: DateState
        public var settledBy: String?
        public var totals: SettlementReport.Totals
    }

    public var from: CalendarDate
    /// The last date covered: the range asked for, cut at the current business date.
    public var to: CalendarDate
    /// Set when the range asked for ran past the current business date.
    public var requestedTo: CalendarDate
    public var dates: [DateLine]
    public var billers: [SettlementReport.BillerLine]
    public var totals: SettlementReport.Totals

    /// Longest range one summary covers: a month, the settlement cycle the bank reports on.
    public static let daysMax = 31

    /// Dates with payments (or reversals of them) that are not settled yet: what finance still
    /// waits for. A date without any needs no settlement (nor can it have one).
    public var unsettledDates: [CalendarDate] {
        dates.filter { $0.state != .settled && ($0.totals.payments > 0 || $0.totals.reversals > 0) }.map(\.businessDate)
    }

    public func renderText() -> String {
        func lpad(_ s: String, _ n: Int) -> String { s.count >= n ? s : String(repeating: " ", count: n - s.count) + s }
        func money(_ sen: Int64) -> String { Sen(sen).description }
        var out = "Period summary, business dates \(from) to \(to) (WITA)\n"
        if requestedTo != to { out += "Dates after \(to), the current business date, have not happened yet: not shown.\n" }
        out += "date        state    " + lpad("payments", 9) + lpad("bills paid", 22) + lpad("reversals", 10) + lpad("reversed", 20)
            + lpad("net to billers", 22) + lpad("fee income", 18) + lpad("commission", 18) + "\n"
        func row(_ label: String, _ state: String, _ t: SettlementReport.Totals) -> String {
            label.padding(toLength: 12, withPad: " ", startingAt: 0) + state.padding(toLength: 9, withPad: " ", startingAt: 0)
                + lpad(String(t.payments), 9) + lpad(money(t.paymentAmount), 22) + lpad(String(t.reversals), 10)
                + lpad(money(t.reversalAmount), 20) + lpad(money(t.netPayable), 22) + lpad(money(t.feeIncome), 18)
                + lpad(money(t.commission), 18) + "\n"
        }
        for line in dates { out += row(line.businessDate.description, line.state.rawValue, line.totals) }
        out += row("total", "", totals)
        out += "\nBillers over the period (net payable = bills paid less reversed)\n"
        out += "biller".padding(toLength: 24, withPad: " ", startingAt: 0) + lpad("payments", 9) + lpad("bills paid", 22)
            + lpad("reversals", 10) + lpad("reversed", 20) + lpad("net payable", 22) + "\n"
        for b in billers {
            out += b.billerID.padding(toLength: 24, withPad: " ", startingAt: 0) + lpad(String(b.payments), 9)
                + lpad(money(b.paymentAmount), 22) + lpad(String(b.reversals), 10) + lpad(money(b.reversalAmount), 20)
                + lpad(money(b.netPayable), 22) + "\n"
        }
        let unsettled = unsettledDates
        out += unsettled.isEmpty ? "\nEvery date with payments in the range is settled.\n"
            : "\nNot settled yet (their figures may still change): \(unsettled.map(\.description).joined(separator: ", "))\n"
        return out
    }

    /// One table, a row per date, then a row per biller, then the total: each row says what it is.
    public func renderCSV() -> String {
        var out = "row,business_date,state,biller,payments,bills_paid_sen,reversals,reversed_sen,net_payable_sen,debits_sen,reversal_debits_sen,fee_income_sen,commission_sen\n"
        func numbers(_ t: SettlementReport.Totals) -> String {
            "\(t.payments),\(t.paymentAmount),\(t.reversals),\(t.reversalAmount),\(t.netPayable),\(t.debits),\(t.reversalDebits),\(t.feeIncome),\(t.commission)"
        }
        for line in dates { out += "date,\(line.businessDate),\(line.state.rawValue),,\(numbers(line.totals))\n" }
        for b in billers {
            out += "biller,,,\(CSV.field(b.billerID)),\(b.payments),\(b.paymentAmount),\(b.reversals),\(b.reversalAmount),\(b.netPayable),,,,\n"
        }
        out += "total,\(from)..\(to),,,\(numbers(totals))\n"
        return out
    }
}

extension SettlementService {
    /// The summary of business dates `from` to `to` (both included, at most `PeriodSummary.daysMax`
    /// days), cut at the current business date. One read-only snapshot, so dates and billers tie.
    /// `statementTimeoutMilliseconds`: the console's bound on each of its statements.
    public func periodSummary(from: CalendarDate, to requestedTo: CalendarDate,
                              statementTimeoutMilliseconds: Int? = nil) async throws -> PeriodSummary {
        guard from <= requestedTo else { throw SettlementError("--from \(from) is after --to \(requestedTo)") }
        guard requestedTo < from.adding(days: PeriodSummary.daysMax) else {
            throw SettlementError("a summary covers at most \(PeriodSummary.daysMax) days; ask for several")
        }
        return try await database.withReadOnlySnapshot(statementTimeoutMilliseconds: statementTimeoutMilliseconds) { connection in
            try await periodSummary(from: from, requestedTo: requestedTo, connection: connection)
        }
    }

    private func periodSummary(from: CalendarDate, requestedTo: CalendarDate, connection: PostgresConnection) async throws -> PeriodSummary {
        var current: CalendarDate?
        for try await text in try await connection.query("SELECT business_date::text FROM business_day WHERE id = 1", logger: logger)
            .decode(String.self) { current = CalendarDate(text) }
        guard let current else { throw SettlementError("the business day is not set up (run `sasando db migrate`)") }
        guard from <= current else { throw SettlementError("\(from) is after the current business date \(current): nothing has happened on it yet") }
        let to = min(requestedTo, current)

        // The settlement report's rule over a range: each date's payment journals, and the reversal
        // journals naming them (counted on the payment's date, whenever posted).
        let rows = try await connection.query("""
            WITH pj AS (SELECT id, business_date FROM journals
                        WHERE kind = 'payment' AND business_date BETWEEN \(from.description)::date AND \(to.description)::date),
                 rj AS (SELECT j.id, pj.business_date FROM journals j JOIN pj ON pj.id = j.reverses_journal_id WHERE j.kind = 'reversal'),
                 dp AS (SELECT 'P' AS src, pj.business_date AS d, p.account_id, p.amount FROM postings p JOIN pj ON pj.id = p.journal_id
                        UNION ALL
                        SELECT 'R', rj.business_date, p.account_id, p.amount FROM postings p JOIN rj ON rj.id = p.journal_id)
            SELECT dp.d::text, a.kind, CASE WHEN a.kind = 'biller_payable' THEN a.code ELSE '' END,
                   count(*) FILTER (WHERE dp.src = 'P'), coalesce(sum(dp.amount) FILTER (WHERE dp.src = 'P'), 0)::int8,
                   count(*) FILTER (WHERE dp.src = 'R'), coalesce(sum(dp.amount) FILTER (WHERE dp.src = 'R'), 0)::int8
            FROM dp JOIN accounts a ON a.id = dp.account_id
            WHERE a.kind IN ('biller_payable', 'deposit', 'commission', 'fee_income')
            GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
            """, logger: logger)
        var byDate: [CalendarDate: SettlementReport.Totals] = [:]
        var byBiller: [String: SettlementReport.BillerLine] = [:]
        for try await (dateText, kind, code, n, sum, rn, rsum) in rows.decode((String, String, String, Int64, Int64, Int64, Int64).self) {
            guard let date = CalendarDate(dateText) else { continue }
            var t = byDate[date] ?? SettlementReport.Totals()
            switch kind {
            case "biller_payable":
                t.payments += Int(n); t.paymentAmount += sum; t.reversals += Int(rn); t.reversalAmount += rsum
                t.netPayable += sum - rsum
                let billerID = code.hasPrefix("PAY:") ? String(code.dropFirst(4)) : code
                var b = byBiller[code] ?? .init(billerID: billerID, payableAccount: code, payments: 0, paymentAmount: 0,
                                                reversals: 0, reversalAmount: 0, netPayable: 0)
                b.payments += Int(n); b.paymentAmount += sum; b.reversals += Int(rn); b.reversalAmount += rsum; b.netPayable += sum - rsum
                byBiller[code] = b
            case "deposit": t.debits += sum; t.reversalDebits += rsum
            case "commission": t.commission += sum - rsum
            case "fee_income": t.feeIncome += sum - rsum
            default: break
            }
            byDate[date] = t
        }

        var settledBy: [CalendarDate: String] = [:]
        for try await (dateText, by) in try await connection.query("""
            SELECT business_date::text, settled_by FROM settlement_batches
            WHERE business_date BETWEEN \(from.description)::date AND \(to.description)::date
            """, logger: logger).decode((String, String).self) {
            if let date = CalendarDate(dateText) { settledBy[date] = by }
        }

        var dates: [PeriodSummary.DateLine] = []
        var date = from
        while date <= to {
            let state: PeriodSummary.DateState = settledBy[date] != nil ? .settled : (date == current ? .open : .closed)
            dates.append(.init(businessDate: date, state: state, settledBy: settledBy[date], totals: byDate[date] ?? .init()))
            date = date.adding(days: 1)
        }
        let totals = dates.reduce(SettlementReport.Totals()) { $0 + $1.totals }
        return PeriodSummary(from: from, to: to, requestedTo: requestedTo, dates: dates,
                             billers: byBiller.values.sorted { $0.payableAccount < $1.payableAccount }, totals: totals)
    }
}
