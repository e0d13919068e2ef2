import Foundation
import PostgresNIO
import SasandoLedger

/// After a run: what the terminals saw approved must be exactly what the ledger holds for them
/// since the run started — same count and sums, none missing, none extra, reversals accounted,
/// each payment point's deposit debited by exactly the amount and fee its terminal was told — and
/// every ledger invariant must hold.
public enum LedgerAudit {
    /// The database's clock, read before the run's first request: the audit's boundary. Rows are
    /// stamped by that clock (`created_at`, the batch transaction's start), so the boundary needs
    /// no slack: an earlier run on the same terminals, even one that ended a moment before, is not
    /// counted, and the generator's own clock does not matter.
    public static func databaseNow(_ database: SasandoDatabase) async throws -> Date {
        for try await now in try await database.client.query("SELECT clock_timestamp()").decode(Date.self) { return now }
        throw LedgerError("the database did not tell its time")
    }

    /// - Parameter since: `databaseNow` before the run started.
    public static func run(database: SasandoDatabase, result: LoadResult, since: Date) async throws -> LoadReport.Audit {
        let seen = result.statistics.state.withLock { $0.approvedPayments }
        var seenByKey: [String: ApprovedPayment] = [:]
        for p in seen { seenByKey["\(p.terminalID)|\(p.stan)|\(p.transmittedAt)"] = p }
        // The money itself, not only the switch's record of its answers: what the payment's journal
        // debited from its payment point's deposit must be the amount and fee the terminal was told.
        let rows = try await database.client.query("""
            SELECT t.terminal_id, t.stan, t.transmitted_at, t.rrn, t.amount_sen, t.fee_sen, t.response_code, t.journal_id IS NOT NULL,
                   EXISTS (SELECT 1 FROM transactions r WHERE r.original_id = t.id AND r.journal_id IS NOT NULL),
                   (SELECT coalesce(sum(p.amount), 0) FROM postings p JOIN accounts a ON a.id = p.account_id
                     WHERE p.journal_id = t.journal_id AND p.side = 'D' AND a.code = \(AccountCode.deposit(""))::text || t.merchant_id)::int8
            FROM transactions t
            WHERE t.kind = 'payment' AND t.terminal_id = ANY(\(result.terminalIDs)::text[]) AND t.created_at >= \(since)
            """)
        var audit = LoadReport.Audit(approvedSeen: seen.count, approvedInLedger: 0, reversedSeen: seen.filter(\.reversed).count,
                                     reversedInLedger: 0, amountSeenSen: seen.reduce(0) { $0 + $1.amount + $1.fee },
                                     amountInLedgerSen: 0, debitedInLedgerSen: 0, missingFromLedger: [], postedButNotApproved: [], mismatched: [],
                                     ledgerVerify: [], passed: false)
        var found = Set<String>()
        for try await (tid, stan, time, rrn, amount, fee, code, hasJournal, reversed, debited)
            in rows.decode((String, String, String, String, Int64, Int64, String, Bool, Bool, Int64).self) {
            guard code == "00" else { continue }
            let key = "\(tid)|\(stan)|\(time)"
            audit.approvedInLedger += 1
            audit.amountInLedgerSen += amount + fee
            audit.debitedInLedgerSen += debited
            if reversed { audit.reversedInLedger += 1 }
            guard let mine = seenByKey[key] else {
                audit.postedButNotApproved.append(key)
                continue
            }
            found.insert(key)
            if !hasJournal || mine.rrn != rrn || mine.amount != amount || mine.fee != fee || mine.reversed != reversed
                || debited != mine.amount + mine.fee {
                audit.mismatched.append("\(key): journal \(hasJournal), rrn \(rrn)/\(mine.rrn), amount \(amount)/\(mine.amount), fee \(fee)/\(mine.fee), reversed \(reversed)/\(mine.reversed), deposit debited \(debited)")
            }
        }
        audit.missingFromLedger = seenByKey.keys.filter { !found.contains($0) }.sorted()
        let (passed, violations) = try await LedgerVerifier(database: database).verify()
        audit.ledgerVerify = violations.map { "FAIL \($0.check): \($0.rows.prefix(3).joined(separator: "; "))" } + ["\(passed.count) checks passed"]
        audit.passed = audit.missingFromLedger.isEmpty && audit.postedButNotApproved.isEmpty && audit.mismatched.isEmpty
            && violations.isEmpty && audit.approvedSeen == audit.approvedInLedger && audit.amountSeenSen == audit.amountInLedgerSen
            && audit.amountSeenSen == audit.debitedInLedgerSen
            && audit.reversedSeen == audit.reversedInLedger
        return audit
    }
}
