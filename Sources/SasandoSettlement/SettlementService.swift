import Foundation
import Logging
import PostgresNIO
import SasandoCore
import SasandoLedger

public struct SettlementError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

public enum SettleOutcome: Sendable, Equatable {
    /// Settled now: journals posted, batch recorded.
    case settled(SettlementReport)
    /// Settled earlier: nothing changed.
    case alreadySettled(SettlementReport)

    public var report: SettlementReport {
        switch self {
        case .settled(let r), .alreadySettled(let r): r
        }
    }
}

/// A terminal's own payments of one business date (0500/0510, spec §3). Amounts are field 4 + fee, sen.
public struct TerminalTotals: Sendable, Equatable, Codable {
    public var payments: Int64            // 76
    public var paymentAmount: Int64       // 88
    public var reversals: Int64           // 77
    public var reversalAmount: Int64      // 89
    public var net: Int64 { paymentAmount - reversalAmount }   // 97
    public init(payments: Int64, paymentAmount: Int64, reversals: Int64, reversalAmount: Int64) {
        self.payments = payments
        self.paymentAmount = paymentAmount
        self.reversals = reversals
        self.reversalAmount = reversalAmount
    }
}

/// Settlement of a business date, its report, terminal totals and biller settlement files; every
/// figure is read from the ledger (journals and postings) or the transactions tied to it.
///
/// A date's payments are the payment journals with that business date; its reversals are the
/// reversal journals that name one of those payments, whenever they were posted (a reversal of a
/// settled date's payment is refused with `12`, so a settled date never changes).
public struct SettlementService: Sendable {
    public let database: SasandoDatabase
    public init(database: SasandoDatabase) { self.database = database }

    var logger: Logger { database.logger }

    // MARK: Report

    public func report(date: CalendarDate) async throws -> SettlementReport {
        // One snapshot for the whole report, so its parts tie even under traffic.
        try await database.withReadOnlySnapshot { connection in try await report(date: date, connection: connection) }
    }

    /// The date's payment journals (`pj`) and the reversal journals naming them (`rj`), with their postings (`dp`).
    static func datePostingsCTE(_ date: CalendarDate) -> String {
        """
        WITH pj AS (SELECT id FROM journals WHERE kind = 'payment' AND business_date = '\(date.description)'::date),
             rj AS (SELECT j.id FROM journals j JOIN pj ON pj.id = j.reverses_journal_id WHERE j.kind = 'reversal'),
             dp AS (SELECT 'P' AS src, p.account_id, p.amount FROM postings p JOIN pj ON pj.id = p.journal_id
                    UNION ALL
                    SELECT 'R', p.account_id, p.amount FROM postings p JOIN rj ON rj.id = p.journal_id)
        """
    }

    /// `trialBalance: false` leaves the trial balance out (a scan of every posting up to the date):
    /// the settlement needs only the totals.
    func report(date: CalendarDate, connection: PostgresConnection, trialBalance: Bool = true) async throws -> SettlementReport {
        let cte = Self.datePostingsCTE(date)
        var billers: [SettlementReport.BillerLine] = []
        let billerRows = try await connection.query(PostgresQuery(unsafeSQL: cte + """
            SELECT a.code, count(*) FILTER (WHERE dp.src = 'P'), coalesce(sum(dp.amount) FILTER (WHERE dp.src = 'P'), 0)::int8,
                   count(*) FILTER (WHERE dp.src = 'R'), coalesce(sum(dp.amount) FILTER (WHERE dp.src = 'R'), 0)::int8
            FROM dp JOIN accounts a ON a.id = dp.account_id WHERE a.kind = 'biller_payable'
            GROUP BY a.code ORDER BY a.code
            """), logger: logger)
        for try await (code, n, amount, rn, ramount) in billerRows.decode((String, Int64, Int64, Int64, Int64).self) {
            billers.append(.init(billerID: code.hasPrefix("PAY:") ? String(code.dropFirst(4)) : code, payableAccount: code, payments: Int(n),
                                 paymentAmount: amount, reversals: Int(rn), reversalAmount: ramount, netPayable: amount - ramount))
        }

        var points: [SettlementReport.PaymentPointLine] = []
        let pointRows = try await connection.query(PostgresQuery(unsafeSQL: cte + """
            , m AS (SELECT a.merchant_id,
                   count(*) FILTER (WHERE dp.src = 'P' AND a.kind = 'deposit') AS n,
                   coalesce(sum(dp.amount) FILTER (WHERE dp.src = 'P' AND a.kind = 'deposit'), 0) AS debits,
                   count(*) FILTER (WHERE dp.src = 'R' AND a.kind = 'deposit') AS rn,
                   coalesce(sum(dp.amount) FILTER (WHERE dp.src = 'R' AND a.kind = 'deposit'), 0) AS rdebits,
                   coalesce(sum(dp.amount) FILTER (WHERE dp.src = 'P' AND a.kind = 'commission'), 0)
                     - coalesce(sum(dp.amount) FILTER (WHERE dp.src = 'R' AND a.kind = 'commission'), 0) AS commission
                FROM dp JOIN accounts a ON a.id = dp.account_id WHERE a.kind IN ('deposit', 'commission')
                GROUP BY a.merchant_id),
            -- The deposit at the close of the date: today's balance less what journals of later
            -- dates moved, so a reprint of a settled date shows what the archived copy showed.
            -- Later journals are read once (by date), not once per payment point.
                 later AS (SELECT lp.account_id, sum(CASE lp.side WHEN 'C' THEN lp.amount ELSE -lp.amount END) AS moved
                           FROM journals lj JOIN postings lp ON lp.journal_id = lj.id JOIN accounts la ON la.id = lp.account_id
                           WHERE lj.business_date > '\(date.description)'::date AND la.kind = 'deposit'
                           GROUP BY lp.account_id)
            SELECT m.merchant_id, coalesce(pp.name, ''), m.n, m.debits::int8, m.rn, m.rdebits::int8, m.commission::int8,
                   (coalesce(d.balance, 0) - coalesce(later.moved, 0))::int8
            FROM m LEFT JOIN payment_points pp ON pp.merchant_id = m.merchant_id
            LEFT JOIN accounts d ON d.code = 'DEP:' || m.merchant_id
            LEFT JOIN later ON later.account_id = d.id
            ORDER BY m.merchant_id
            """), logger: logger)
        for try await (merchant, name, n, debits, rn, rdebits, commission, balance)
            in pointRows.decode((String, String, Int64, Int64, Int64, Int64, Int64, Int64).self) {
            points.append(.init(merchantID: merchant, name: name, payments: Int(n), debits: debits, reversals: Int(rn),
                                reversalDebits: rdebits, commission: commission, depositBalance: balance))
        }

        var feeIncome: Int64 = 0
        let feeRows = try await connection.query(PostgresQuery(unsafeSQL: cte + """
            SELECT (coalesce(sum(dp.amount) FILTER (WHERE dp.src = 'P'), 0) - coalesce(sum(dp.amount) FILTER (WHERE dp.src = 'R'), 0))::int8
            FROM dp JOIN accounts a ON a.id = dp.account_id WHERE a.kind = 'fee_income'
            """), logger: logger)
        for try await value in feeRows.decode(Int64.self) { feeIncome = value }

        // Trial balance at the close of the date (journals of that date and before): bank and
        // payable accounts one by one, deposits and commissions summed per kind.
        var trial: [SettlementReport.TrialBalanceLine] = []
        if trialBalance {
            let trialRows = try await connection.query("""
                SELECT CASE WHEN a.kind IN ('deposit', 'commission') THEN split_part(a.code, ':', 1) || ':*' ELSE a.code END AS line, a.kind,
                       sum(CASE p.side WHEN 'C' THEN p.amount ELSE -p.amount END)::int8
                FROM postings p JOIN journals j ON j.id = p.journal_id JOIN accounts a ON a.id = p.account_id
                WHERE j.business_date <= \(date.description)::date
                GROUP BY 1, 2 ORDER BY 2, 1
                """, logger: logger)
            for try await (account, kind, balance) in trialRows.decode((String, String, Int64).self) {
                trial.append(.init(account: account, kind: kind, balance: balance))
            }
        }

        // The payables' part of reversals of this date's payments posted on later dates: it
        // explains the trial balance, so only with it (the settlement reads neither).
        var reversedLater: Int64 = 0
        if trialBalance {
            let laterRows = try await connection.query(PostgresQuery(unsafeSQL: cte + """
                SELECT coalesce(sum(p.amount), 0)::int8
                FROM rj JOIN journals j ON j.id = rj.id JOIN postings p ON p.journal_id = rj.id JOIN accounts a ON a.id = p.account_id
                WHERE j.business_date > '\(date.description)'::date AND a.kind = 'biller_payable' AND p.side = 'D'
                """), logger: logger)
            for try await value in laterRows.decode(Int64.self) { reversedLater = value }
        }

        var settledAt: String?, settledBy: String?, batchID: Int64?
        let batch = try await connection.query("""
            SELECT id, to_char(settled_at AT TIME ZONE INTERVAL '+08:00', 'YYYY-MM-DD"T"HH24:MI:SS"+08:00"'), settled_by
            FROM settlement_batches WHERE business_date = \(date.description)::date
            """, logger: logger)
        for try await (id, at, by) in batch.decode((Int64, String, String).self) { (batchID, settledAt, settledBy) = (id, at, by) }

        var openDate = false, futureDate = false
        let day = try await connection.query("SELECT business_date::text FROM business_day WHERE id = 1", logger: logger)
        for try await text in day.decode(String.self) {
            guard let current = CalendarDate(text) else { continue }
            (openDate, futureDate) = (date == current, date > current)
        }

        var report = SettlementReport(businessDate: date, settledAt: settledAt, settledBy: settledBy, billers: billers,
                                      paymentPoints: points, trialBalance: trial, trialBalanceTotal: trial.reduce(0) { $0 + $1.balance })
        report.totals.feeIncome = feeIncome
        report.settlementBatchID = batchID
        report.isOpenDate = openDate
        report.isFutureDate = futureDate
        report.reversedLaterSen = reversedLater
        return report
    }

    // MARK: Settle

    /// Settles a closed business date: per biller payable its net (payments - reversals) to
    /// BANK:CLEARING, per payment point its net commission from COM to DEP, and the immutable
    /// settlement batch, in one transaction. Running it again changes nothing (`.alreadySettled`).
    /// Refuses the current business date (and later ones).
    public func settle(date: CalendarDate, actor: String) async throws -> SettleOutcome {
        let actorName = actor.isEmpty ? "unknown" : actor
        for attempt in 0...2 {
            do {
                return try await settleOnce(date: date, actor: actorName)
            } catch {
                // withTransaction wraps what the body threw.
                let inner: any Error = (error as? PostgresTransactionError).flatMap { $0.closureError ?? $0.commitError } ?? error
                if let refused = inner as? SettlementError { throw refused }
                if attempt < 2, let psql = inner as? PSQLError, ["40P01", "40001", "23505"].contains(psql.serverInfo?[.sqlState] ?? "") {
                    // A deadlock with a top-up, or another instance settling at the same time: again.
                    continue
                }
                throw inner
            }
        }
        throw SettlementError("settlement of \(date) kept conflicting with other writers")
    }

    private func settleOnce(date: CalendarDate, actor: String) async throws -> SettleOutcome {
        let logger = self.logger
        let settledNow: Bool = try await database.client.withTransaction(logger: logger) { connection in
            // Settling a date excludes only what could change its figures: a reversal of one of its
            // payments (posting batches take this lock shared for their reversals' dates, see
            // SettlementLock) and another settlement of it. Payments of the open date go on: the
            // settlement of a large date reads for a minute, and it must not hold them up.
            try await connection.query("SELECT pg_advisory_xact_lock(\(SettlementLock.classID), \(date.description)::date - date '2000-01-01')", logger: logger)
            // No lock on the business day: dates only move forward, and a cut-over commits only
            // after every batch of the old date has ended, so a date behind it gets no new payment.
            let dayRows = try await connection.query("SELECT business_date::text FROM business_day WHERE id = 1", logger: logger)
            var current: CalendarDate?
            for try await text in dayRows.decode(String.self) { current = CalendarDate(text) }
            guard let current else { throw SettlementError("no business day yet: start the switch (or run `sasando cutover`) first") }
            guard date < current else {
                throw SettlementError(date == current
                    ? "\(date) is the current, open business date: cut over first (the console's cut-over button, or `sasando cutover`), then settle it"
                    : "\(date) is after the current business date \(current)")
            }
            // A date before the ledger's first is one the switch never ran (a typo, 1970-01-01): its
            // batch would be an empty, permanent record.
            let firstRows = try await connection.query("SELECT min(business_date)::text FROM journals", logger: logger)
            var first: CalendarDate?
            for try await text in firstRows.decode(String?.self) { first = text.flatMap { CalendarDate($0) } }
            guard let first, date >= first else {
                throw SettlementError(first.map { "\(date) is before the ledger's first business date \($0): the switch never ran on it, so there is nothing to settle" }
                                      ?? "the ledger is empty: there is nothing to settle")
            }
            let existing = try await connection.query("SELECT 1 FROM settlement_batches WHERE business_date = \(date.description)::date", logger: logger)
            for try await _ in existing { return false }
            // Dates settle in order. A settlement's journals are dated with its date, so settling D
            // after D+1 would change D+1's settled report (its trial balance at the close) after it
            // was archived (a review saw 12 lines of it change).
            let earlier = try await connection.query("""
                SELECT d::date::text FROM generate_series(\(first.description)::date, \(date.description)::date - 1, interval '1 day') d
                WHERE EXISTS (SELECT 1 FROM journals j WHERE j.business_date = d::date AND j.kind = 'payment')
                  AND NOT EXISTS (SELECT 1 FROM settlement_batches b WHERE b.business_date = d::date)
                ORDER BY 1 LIMIT 1
                """, logger: logger)
            for try await unsettled in earlier.decode(String.self) {
                throw SettlementError("\(unsettled) is not settled yet: dates are settled in order (settle \(unsettled) first), so that a settled date's report never changes")
            }

            // Everything is read first; the accounts are locked only by the one postings statement
            // at the end, for milliseconds, not while the date's postings are read.
            let cte = Self.datePostingsCTE(date)
            let clearing = try await accountID(AccountCode.clearing, connection)
            var moves: [Move] = []
            // Billers: net payable per payable account.
            let payableRows = try await connection.query(PostgresQuery(unsafeSQL: cte + """
                SELECT a.id, a.code, (coalesce(sum(dp.amount) FILTER (WHERE dp.src = 'P'), 0) - coalesce(sum(dp.amount) FILTER (WHERE dp.src = 'R'), 0))::int8
                FROM dp JOIN accounts a ON a.id = dp.account_id WHERE a.kind = 'biller_payable' GROUP BY a.id, a.code ORDER BY a.id
                """), logger: logger)
            for try await (id, code, net) in payableRows.decode((Int64, String, Int64).self) where net != 0 {
                guard net > 0 else { throw SettlementError("negative net payable on \(code): \(net) sen") }
                moves.append(("settlement", "settlement \(date): \(code) to \(AccountCode.clearing)", id, clearing, net))
            }
            // Payment points: net commission, COM -> DEP.
            let comRows = try await connection.query(PostgresQuery(unsafeSQL: cte + """
                SELECT a.id, d.id, a.merchant_id,
                       (coalesce(sum(dp.amount) FILTER (WHERE dp.src = 'P'), 0) - coalesce(sum(dp.amount) FILTER (WHERE dp.src = 'R'), 0))::int8
                FROM dp JOIN accounts a ON a.id = dp.account_id JOIN accounts d ON d.code = 'DEP:' || a.merchant_id
                WHERE a.kind = 'commission' GROUP BY a.id, d.id, a.merchant_id ORDER BY a.id
                """), logger: logger)
            for try await (com, dep, merchant, net) in comRows.decode((Int64, Int64, String, Int64).self) where net != 0 {
                guard net > 0 else { throw SettlementError("negative net commission for \(merchant): \(net) sen") }
                moves.append(("commission", "commission \(date): \(AccountCode.commission(merchant)) to \(AccountCode.deposit(merchant))", com, dep, net))
            }
            let t = try await self.report(date: date, connection: connection, trialBalance: false).totals
            try await connection.query("""
                INSERT INTO settlement_batches (business_date, settled_by, payment_count, payment_amount_sen, reversal_count,
                    reversal_amount_sen, net_payable_sen, commission_sen, journal_count)
                VALUES (\(date.description)::date, \(actor), \(Int64(t.payments)), \(t.paymentAmount), \(Int64(t.reversals)),
                    \(t.reversalAmount), \(t.netPayable), \(t.commission), \(moves.count))
                """, logger: logger)
            try await post(moves, date: date, connection)
            try await connection.query("""
                INSERT INTO audit_events (actor, event, detail)
                VALUES (\(actor), 'settlement', \("\(date): \(t.payments) payments, \(t.reversals) reversals, net payable \(t.netPayable) sen, commission \(t.commission) sen, \(moves.count) journals"))
                """, logger: logger)
            return true
        }
        let final = try await self.report(date: date)
        return settledNow ? .settled(final) : .alreadySettled(final)
    }

    private func accountID(_ code: String, _ connection: PostgresConnection) async throws -> Int64 {
        let rows = try await connection.query("SELECT id FROM accounts WHERE code = \(code)", logger: logger)
        for try await id in rows.decode(Int64.self) { return id }
        throw SettlementError("account \(code) missing")
    }

    /// One settlement or commission journal: `amount` sen from `debit` to `credit`.
    private typealias Move = (kind: String, description: String, debit: Int64, credit: Int64, amount: Int64)

    /// The settlement's journals, then all their postings in one statement: the postings trigger
    /// locks the touched accounts in its one order (a payment point's own accounts, then the shared
    /// ones), as every posting batch does, so a settlement and payments never deadlock.
    private func post(_ moves: [Move], date: CalendarDate,
                      _ connection: PostgresConnection) async throws {
        guard !moves.isEmpty else { return }
        var ids: [Int64] = []
        let idRows = try await connection.query("SELECT nextval('journals_id_seq') FROM generate_series(1, \(moves.count))", logger: logger)
        for try await id in idRows.decode(Int64.self) { ids.append(id) }
        try await connection.query("""
            INSERT INTO journals (id, kind, business_date, description)
            SELECT x.id, x.kind, \(date.description)::date, x.description
            FROM unnest(\(ids)::int8[], \(moves.map(\.kind))::text[], \(moves.map(\.description))::text[]) AS x(id, kind, description)
            """, logger: logger)
        try await connection.query("""
            INSERT INTO postings (journal_id, account_id, side, amount)
            SELECT x.id, y.account, y.side, x.amount
            FROM unnest(\(ids)::int8[], \(moves.map(\.debit))::int8[], \(moves.map(\.credit))::int8[], \(moves.map(\.amount))::int8[])
                   AS x(id, debit, credit, amount),
                 LATERAL (VALUES (x.debit, 'D'), (x.credit, 'C')) AS y(account, side)
            """, logger: logger)
    }

    /// Settled dates, newest first (for the console's list).
    public func settledDates(limit: Int = 100) async throws -> [CalendarDate] {
        let rows = try await database.client.query("SELECT business_date::text FROM settlement_batches ORDER BY business_date DESC LIMIT \(limit)")
        var dates: [CalendarDate] = []
        for try await text in rows.decode(String.self) { if let d = CalendarDate(text) { dates.append(d) } }
        return dates
    }

    // MARK: Terminal reconciliation (0500)

    /// Whether a request with this (41, 11, 7) key was recorded: a 0500 is not recorded itself,
    /// but one that reuses a recorded request's key is a reused key all the same (spec §3: 94).
    public func isRecordedKey(terminalID: String, stan: String, transmittedAt: String) async throws -> Bool {
        try await database.client.query("""
            SELECT 1 FROM transactions WHERE terminal_id = \(terminalID) AND stan = \(stan) AND transmitted_at = \(transmittedAt)
            """, logger: logger).returnedAnyRow()
    }

    /// 76/88: the terminal's payments approved on `date` (reversed ones included), field 4 + fee;
    /// 77/89: those of them reversed (a reversal with postings).
    public func terminalTotals(terminalID: String, date: CalendarDate) async throws -> TerminalTotals {
        let rows = try await database.client.query("""
            SELECT count(*), coalesce(sum(x.amount_sen + x.fee_sen), 0)::int8,
                   count(*) FILTER (WHERE x.reversed), coalesce(sum(x.amount_sen + x.fee_sen) FILTER (WHERE x.reversed), 0)::int8
            FROM (SELECT t.amount_sen, t.fee_sen,
                         EXISTS (SELECT 1 FROM transactions r WHERE r.original_id = t.id AND r.journal_id IS NOT NULL) AS reversed
                  FROM transactions t
                  WHERE t.terminal_id = \(terminalID) AND t.business_date = \(date.description)::date
                    AND t.kind = 'payment' AND t.response_code = '00') x
            """, logger: logger)
        for try await (n, amount, rn, ramount) in rows.decode((Int64, Int64, Int64, Int64).self) {
            return TerminalTotals(payments: n, paymentAmount: amount, reversals: rn, reversalAmount: ramount)
        }
        return TerminalTotals(payments: 0, paymentAmount: 0, reversals: 0, reversalAmount: 0)
    }

    // MARK: Biller settlement files

    /// The switch's record for one biller and date: one row per paid bill line of approved,
    /// unreversed payments (PLNPRE: one row per token purchase, empty period). `billerID` is a
    /// product code (`PLNPOST`, `IPL`, ...) or `IPL:<estate>` for one estate.
    public func billerRows(billerID: String, date: CalendarDate) async throws -> [BillerFileRow] {
        try await checkBillerFileRequest(billerID: billerID, date: date)
        let parts = billerID.split(separator: ":", maxSplits: 1).map(String.init)
        let product = parts.first ?? ""
        let estate = parts.count > 1 ? parts[1] : ""
        let timestamp = "to_char(t.created_at AT TIME ZONE 'UTC' + interval '8 hours', 'YYYY-MM-DD\"T\"HH24:MI:SS\"+08:00\"')"
        let rows = try await database.client.query(PostgresQuery(unsafeSQL: """
            SELECT t.rrn, t.terminal_id, coalesce(t.customer_id, ''), b.period, b.amount_sen, coalesce(t.biller_reference, ''), \(timestamp)
            FROM paid_bills b JOIN transactions t ON t.id = b.transaction_id
            WHERE t.kind = 'payment' AND t.response_code = '00' AND t.business_date = $1::date
              AND t.product = $2 AND ($3 = '' OR left(t.customer_id, 4) = $3)
            UNION ALL
            SELECT t.rrn, t.terminal_id, coalesce(t.customer_id, ''), '', t.amount_sen, coalesce(t.biller_reference, ''), \(timestamp)
            FROM transactions t
            WHERE t.kind = 'payment' AND t.response_code = '00' AND t.business_date = $1::date AND t.product = 'PLNPRE' AND $2 = 'PLNPRE'
              AND NOT EXISTS (SELECT 1 FROM transactions r WHERE r.original_id = t.id AND r.journal_id IS NOT NULL)
            ORDER BY 2, 1, 4
            """, binds: {
                var b = PostgresBindings()
                b.append(date.description); b.append(product); b.append(estate)
                return b
            }()), logger: logger)
        var out: [BillerFileRow] = []
        for try await (rrn, terminal, customer, period, amount, reference, time) in rows.decode((String, String, String, String, Int64, String, String).self) {
            out.append(BillerFileRow(rrn: rrn, terminalID: terminal, customerID: customer,
                                     period: period, amountSen: amount, billerReference: reference, timestamp: time))
        }
        return out
    }

    /// The settlement file (CSV, header `BillerFile.header`) for one biller and date.
    /// A biller the switch has a payable for (`PLNPOST`, `IPL:OESA`...) and a settled date: a
    /// mistyped biller or year gave an empty file that looked like a quiet day, and a file made
    /// before the settlement told the biller of payments a later reversal took back (a review's
    /// file claimed Rp 5.860.295 against Rp 3.034.878 settled). Settled figures never change.
    func checkBillerFileRequest(billerID: String, date: CalendarDate) async throws {
        let rows = try await database.client.query("""
            SELECT (SELECT business_date::text FROM business_day WHERE id = 1),
                   EXISTS (SELECT 1 FROM accounts WHERE code = \(AccountCode.payable(billerID))),
                   (SELECT coalesce(string_agg(substr(code, 5), ', ' ORDER BY code), '') FROM accounts WHERE kind = 'biller_payable'),
                   EXISTS (SELECT 1 FROM settlement_batches WHERE business_date = \(date.description)::date)
            """, logger: logger)
        for try await (current, known, billers, settled) in rows.decode((String?, Bool, String, Bool).self) {
            guard known else {
                throw SettlementError("no biller \(billerID): the switch has payables for \(billers.isEmpty ? "none yet" : billers) (case matters)")
            }
            if let current = current.flatMap({ CalendarDate($0) }), date > current {
                throw SettlementError("\(date) is after the current business date \(current): there is nothing to put in the file yet")
            }
            guard settled else {
                throw SettlementError("\(date) is not settled: biller files are made from a settled date, whose figures no longer change (`sasando settle --date \(date)` first)")
            }
        }
    }

    public func billerFile(billerID: String, date: CalendarDate) async throws -> String {
        BillerFile.render(try await billerRows(billerID: billerID, date: date))
    }

    /// Compares a biller's own file (CSV text, same columns) with the switch's record.
    public func reconcileBiller(billerID: String, date: CalendarDate, theirCSV: String) async throws -> BillerReconciliation {
        let theirs = try BillerFile.parse(theirCSV)
        return BillerReconciliation.compare(ours: try await billerRows(billerID: billerID, date: date), theirs: theirs)
    }
}
