import Foundation
import Logging
import PostgresNIO
import SasandoCore
import SasandoISO8583
import Synchronization

extension PostingEngine {
    /// One batch, one transaction: read and lock, decide (pure), write set-based, COMMIT.
    /// Returns each request's response; nil for a request to decide in the next batch.
    func runBatch(_ requests: [PostingRequest], on connection: PostgresConnection, phase: PhaseBox) async throws -> [ISOMessage?] {
        let logger = self.logger
        try await connection.query("BEGIN", logger: logger)
        do {
            let snapshot = try await loadSnapshot(requests, connection: connection)
            let plan = BatchDecider.decide(requests, snapshot: snapshot)
            let responses = try await write(plan, requests: requests, connection: connection)
            let proceed = phase.state.withLock { p -> Bool in
                guard p == BatchPhase.working else { return false }
                p = BatchPhase.committing
                return true
            }
            guard proceed else {
                try? await connection.query("ROLLBACK", logger: logger)
                throw BatchAbandoned(reason: "deadline passed before COMMIT; rolled back")
            }
            try await connection.query("COMMIT", logger: logger)
            // Cached only once committed: an account this batch created is not visible to others
            // before, and would not exist at all had the batch rolled back.
            remember(snapshot.accountIDs)
            return responses
        } catch {
            if phase.state.withLock({ $0 != BatchPhase.committing }) {
                try? await connection.query("ROLLBACK", logger: logger)
            }
            throw error
        }
    }

    private func loadSnapshot(_ requests: [PostingRequest], connection: PostgresConnection) async throws -> BatchSnapshot {
        var s = BatchSnapshot()
        let logger = self.logger

        // 0. The business day, FOR SHARE: a cut-over's UPDATE waits for this batch, and this batch
        // waits for a cut-over (or a settlement) in progress. Requests of another date, or any
        // request while cutting over, get 90 (BatchDecider).
        let day = try await connection.query("""
            SELECT business_date::text, state = 'open' FROM business_day WHERE id = 1 FOR SHARE
            """, logger: logger)
        for try await (date, open) in day.decode((String, Bool).self) { s.businessDay = (date, open) }

        // 1. Earlier transmissions with the same keys (duplicates).
        let rows = try await connection.query("""
            SELECT t.terminal_id, t.stan, t.transmitted_at, t.request_digest, t.response_body
            FROM transactions t
            JOIN unnest(\(requests.map(\.terminalID))::text[], \(requests.map(\.stan))::text[], \(requests.map(\.transmittedAt))::text[]) AS k(tid, stan, tm)
              ON t.terminal_id = k.tid AND t.stan = k.stan AND t.transmitted_at = k.tm
            """, logger: logger)
        for try await (tid, stan, tm, digest, body) in rows.decode((String, String, String, ByteBuffer, ByteBuffer).self) {
            s.existing["\(tid)|\(stan)|\(tm)"] = .init(digest: Array(digest.readableBytesView), responseBody: Array(body.readableBytesView))
        }

        // 2. Terminal and payment point status, limits.
        let terminalIDs = Array(Set(requests.map(\.terminalID)))
        let terminals = try await connection.query("""
            SELECT t.terminal_id, (t.status = 'active' AND p.status = 'active'), p.merchant_id, p.daily_limit_sen
            FROM terminals t JOIN payment_points p ON p.merchant_id = t.merchant_id
            WHERE t.terminal_id = ANY(\(terminalIDs)::text[])
            """, logger: logger)
        for try await (tid, active, merchant, limit) in terminals.decode((String, Bool, String, Int64).self) {
            s.terminals[tid] = .init(active: active, merchantID: merchant, dailyLimit: limit)
        }

        // 3. Originals of reversals, and their postings (append-only: no lock needed).
        let reversals = requests.filter { $0.kind == .reversal }
        var originalJournalIDs: [Int64] = []
        if !reversals.isEmpty {
            let originals = try await connection.query("""
                SELECT t.id, t.terminal_id, t.stan, t.transmitted_at, t.kind, t.response_code, coalesce(t.journal_id, 0),
                       t.amount_sen, t.fee_sen, t.merchant_id, t.business_date::text,
                       EXISTS (SELECT 1 FROM transactions r WHERE r.original_id = t.id AND r.kind = 'reversal' AND r.journal_id IS NOT NULL)
                FROM transactions t
                JOIN unnest(\(reversals.map(\.terminalID))::text[], \(reversals.map { $0.originalSTAN ?? "" })::text[],
                            \(reversals.map { $0.originalTransmittedAt ?? "" })::text[]) AS k(tid, stan, tm)
                  ON t.terminal_id = k.tid AND t.stan = k.stan AND t.transmitted_at = k.tm
                """, logger: logger)
            for try await (id, tid, stan, tm, kind, code, journal, amount, fee, merchant, date, reversed)
                in originals.decode((Int64, String, String, String, String, String, Int64, Int64, Int64, String, String, Bool).self) {
                s.originals["\(tid)|\(stan)|\(tm)"] = .init(
                    id: id, kind: kind, responseCode: code, journalID: journal == 0 ? nil : journal, amount: amount, fee: fee,
                    merchantID: merchant, businessDate: date, reversed: reversed, postings: [])
                if journal != 0 { originalJournalIDs.append(journal) }
            }
            if !originalJournalIDs.isEmpty {
                var byJournal: [Int64: [(accountID: Int64, side: String, amount: Int64)]] = [:]
                let postings = try await connection.query("""
                    SELECT journal_id, account_id, side, amount FROM postings WHERE journal_id = ANY(\(originalJournalIDs)::int8[]) ORDER BY id
                    """, logger: logger)
                for try await (journal, account, side, amount) in postings.decode((Int64, Int64, String, Int64).self) {
                    byJournal[journal, default: []].append((account, side, amount))
                }
                for (key, original) in s.originals {
                    if let j = original.journalID { s.originals[key]?.postings = byJournal[j] ?? [] }
                }
            }
            let settled = try await connection.query("""
                SELECT business_date::text FROM settlement_batches WHERE business_date = ANY(\(s.originals.values.map(\.businessDate))::date[])
                """, logger: logger)
            for try await date in settled.decode(String.self) { s.settledDates.insert(date) }
        }

        // 4. Accounts this batch touches; deposits locked in id order (no deadlock between writers).
        let payments = requests.filter { $0.kind == .payment }
        var codes = Set<String>()
        var payableBillers: [String: String] = [:]
        for p in payments {
            codes.formUnion(["DEP:\(p.merchantID)", "COM:\(p.merchantID)", "BANK:FEE", p.payableCode])
            payableBillers[p.payableCode] = p.payableBillerID
        }
        let missingPayables = payableBillers.filter { knownAccountID($0.key) == nil }
        if !missingPayables.isEmpty {
            try await connection.query("""
                INSERT INTO accounts (code, kind, biller_id)
                SELECT c, 'biller_payable', b FROM unnest(\(Array(missingPayables.keys))::text[], \(Array(missingPayables.values))::text[]) AS x(c, b)
                ON CONFLICT (code) DO NOTHING
                """, logger: logger)
        }
        // Account IDs by code: from the cache, else one indexed look-up (new payables, first use).
        var ids: [String: Int64] = [:]
        var unknown: [String] = []
        for code in codes { if let id = knownAccountID(code) { ids[code] = id } else { unknown.append(code) } }
        if !unknown.isEmpty {
            let found = try await connection.query("SELECT code, id FROM accounts WHERE code = ANY(\(unknown)::text[])", logger: logger)
            for try await (code, id) in found.decode((String, Int64).self) { ids[code] = id }
        }
        s.accountIDs = ids
        // Only deposits are locked here (their balance decides 51); the other accounts a batch
        // credits are locked by the postings trigger, in id order, just before it updates them.
        let depositIDs = payments.compactMap { ids["DEP:\($0.merchantID)"] }
        if !depositIDs.isEmpty {
            let locked = try await connection.query("""
                SELECT id, balance FROM accounts WHERE id = ANY(\(Array(Set(depositIDs)))::int8[]) ORDER BY id FOR UPDATE
                """, logger: logger)
            for try await (id, balance) in locked.decode((Int64, Int64).self) { s.depositBalances[id] = balance }
        }

        // 5. What each payment point collected today (read under its deposit lock).
        let merchants = Array(Set(payments.map(\.merchantID)))
        if !merchants.isEmpty {
            let dates = Array(Set(payments.map { $0.businessDate.description }))
            let totals = try await connection.query("""
                SELECT merchant_id, business_date::text, collected_sen FROM merchant_daily_totals
                WHERE merchant_id = ANY(\(merchants)::text[]) AND business_date = ANY(\(dates)::date[])
                """, logger: logger)
            for try await (merchant, date, collected) in totals.decode((String, String, Int64).self) {
                s.dailyCollected[merchant + "|" + date] = collected
            }
        }

        // 6. Paid bills of the customers in this batch.
        let billRequests = requests.filter { ($0.kind == .inquiry || $0.kind == .payment) && !$0.prepaid }
        if !billRequests.isEmpty {
            let paid = try await connection.query("""
                SELECT p.product, p.customer_id, p.period FROM paid_bills p
                JOIN (SELECT DISTINCT * FROM unnest(\(billRequests.map { $0.product ?? "" })::text[], \(billRequests.map { $0.customerID ?? "" })::text[])) AS k(pr, cu)
                  ON p.product = k.pr AND p.customer_id = k.cu
                """, logger: logger)
            for try await (product, customer, period) in paid.decode((String, String, String).self) {
                s.paidBills.insert(BatchDecider.billKey(product, customer, period))
            }
        }
        return s
    }

    private func write(_ plan: BatchPlan, requests: [PostingRequest], connection: PostgresConnection) async throws -> [ISOMessage?] {
        let logger = self.logger
        let transactionIDs = try await nextIDs("transactions_id_seq", count: plan.rows.count, connection: connection)
        let journalIDs = try await nextIDs("journals_id_seq", count: plan.journals.count, connection: connection)

        // Responses first: they are stored with the rows, before COMMIT.
        var rowResponses: [ISOMessage] = []
        for (index, row) in plan.rows.enumerated() {
            var decision = row.decision
            if case .approved(_, let outstanding) = decision {
                decision = .approved(transactionID: transactionIDs[index], outstanding: outstanding)
            }
            rowResponses.append(requests[row.request].respond(decision))
        }
        var responses: [ISOMessage?] = []
        for (i, outcome) in plan.outcomes.enumerated() {
            switch outcome {
            case .recorded(let row): responses.append(rowResponses[row])
            case .duplicate(let body): responses.append(try? ISO8583Codec.decode(body))
            case .sameAsInBatch: responses.append(nil)  // filled below
            case .conflictingDuplicate: responses.append(requests[i].respond(.declined(.duplicateDifferentContent)))
            case .notRecorded(let code): responses.append(requests[i].respond(.declined(code)))
            case .nextBatch: responses.append(nil)
            }
        }
        for (i, outcome) in plan.outcomes.enumerated() {
            if case .sameAsInBatch(let first) = outcome { responses[i] = responses[first] }
        }

        if !plan.journals.isEmpty {
            try await connection.query("""
                INSERT INTO journals (id, kind, business_date, reverses_journal_id)
                SELECT id, kind, d::date, NULLIF(rev, 0)
                FROM unnest(\(journalIDs)::int8[], \(plan.journals.map(\.kind))::text[], \(plan.journals.map(\.businessDate))::text[],
                            \(plan.journals.map { $0.reversesJournalID ?? 0 })::int8[]) AS x(id, kind, d, rev)
                """, logger: logger)
            var pj: [Int64] = [], pa: [Int64] = [], ps: [String] = [], pm: [Int64] = []
            for (j, journal) in plan.journals.enumerated() {
                for p in journal.postings {
                    pj.append(journalIDs[j]); pa.append(p.accountID); ps.append(p.side); pm.append(p.amount)
                }
            }
            try await connection.query("""
                INSERT INTO postings (journal_id, account_id, side, amount)
                SELECT * FROM unnest(\(pj)::int8[], \(pa)::int8[], \(ps)::text[], \(pm)::int8[])
                """, logger: logger)
        }

        if !plan.rows.isEmpty {
            var c = TransactionColumns()
            for (index, row) in plan.rows.enumerated() {
                let r = requests[row.request]
                let response = rowResponses[index]
                c.id.append(transactionIDs[index])
                c.terminal.append(r.terminalID); c.stan.append(r.stan); c.time.append(r.transmittedAt)
                c.kind.append(r.kind.rawValue); c.digest.append(hex(r.digest))
                c.merchant.append(r.merchantID); c.rrn.append(r.rrn)
                c.product.append(r.product ?? ""); c.customer.append(r.customerID ?? "")
                c.amount.append(r.amount); c.fee.append(r.fee); c.date.append(r.businessDate.description)
                c.code.append(response[39] ?? "96")
                c.body.append(hex(try ISO8583Codec.encode(response)))
                c.approval.append(response[38] ?? "")
                c.billerRef.append(billerReference(response))
                c.journal.append(row.journal.map { journalIDs[$0] } ?? 0)
                c.originalSTAN.append(r.originalSTAN ?? ""); c.originalTime.append(r.originalTransmittedAt ?? "")
                c.originalID.append(row.originalID ?? 0)
            }
            try await connection.query("""
                INSERT INTO transactions (id, terminal_id, stan, transmitted_at, kind, request_digest, merchant_id, rrn, product, customer_id,
                    amount_sen, fee_sen, business_date, response_code, response_body, approval_code, biller_reference, journal_id,
                    original_stan, original_transmitted_at, original_id)
                SELECT id, tid, stan, tm, kind, decode(dg, 'hex'), m, rrn, NULLIF(pr, ''), NULLIF(cu, ''), amt, fee, d::date, code,
                    decode(body, 'hex'), NULLIF(ap, ''), NULLIF(br, ''), NULLIF(j, 0), NULLIF(os, ''), NULLIF(ot, ''), NULLIF(oid, 0)
                FROM unnest(\(c.id)::int8[], \(c.terminal)::text[], \(c.stan)::text[], \(c.time)::text[], \(c.kind)::text[],
                    \(c.digest)::text[], \(c.merchant)::text[], \(c.rrn)::text[], \(c.product)::text[], \(c.customer)::text[],
                    \(c.amount)::int8[], \(c.fee)::int8[], \(c.date)::text[], \(c.code)::text[], \(c.body)::text[], \(c.approval)::text[],
                    \(c.billerRef)::text[], \(c.journal)::int8[], \(c.originalSTAN)::text[], \(c.originalTime)::text[], \(c.originalID)::int8[])
                    AS x(id, tid, stan, tm, kind, dg, m, rrn, pr, cu, amt, fee, d, code, body, ap, br, j, os, ot, oid)
                """, logger: logger)

            var bp: [String] = [], bc: [String] = [], bper: [String] = [], bamt: [Int64] = [], btx: [Int64] = []
            for (index, row) in plan.rows.enumerated() where row.journal != nil && requests[row.request].kind == .payment {
                let r = requests[row.request]
                for bill in row.payingBills {
                    bp.append(r.product ?? ""); bc.append(r.customerID ?? ""); bper.append(bill.period)
                    bamt.append(bill.amount); btx.append(transactionIDs[index])
                }
            }
            if !bp.isEmpty {
                try await connection.query("""
                    INSERT INTO paid_bills (product, customer_id, period, amount_sen, transaction_id)
                    SELECT * FROM unnest(\(bp)::text[], \(bc)::text[], \(bper)::text[], \(bamt)::int8[], \(btx)::int8[])
                    """, logger: logger)
            }
        }
        if !plan.paidBillDeletes.isEmpty {
            try await connection.query("DELETE FROM paid_bills WHERE transaction_id = ANY(\(plan.paidBillDeletes)::int8[])", logger: logger)
        }
        var dm: [String] = [], dd: [String] = [], dv: [Int64] = []
        for (date, merchants) in plan.dailyDeltas {
            for (merchant, delta) in merchants where delta != 0 { dm.append(merchant); dd.append(date); dv.append(delta) }
        }
        if !dm.isEmpty {
            // Two steps: a reversal's negative delta must never be a row's first value.
            try await connection.query("""
                INSERT INTO merchant_daily_totals (merchant_id, business_date)
                SELECT m, d::date FROM unnest(\(dm)::text[], \(dd)::text[]) AS x(m, d)
                ON CONFLICT (merchant_id, business_date) DO NOTHING
                """, logger: logger)
            try await connection.query("""
                UPDATE merchant_daily_totals t SET collected_sen = t.collected_sen + x.v
                FROM unnest(\(dm)::text[], \(dd)::text[], \(dv)::int8[]) AS x(m, d, v)
                WHERE t.merchant_id = x.m AND t.business_date = x.d::date
                """, logger: logger)
        }
        return responses
    }

    private struct TransactionColumns {
        var id: [Int64] = [], terminal: [String] = [], stan: [String] = [], time: [String] = [], kind: [String] = []
        var digest: [String] = [], merchant: [String] = [], rrn: [String] = [], product: [String] = [], customer: [String] = []
        var amount: [Int64] = [], fee: [Int64] = [], date: [String] = [], code: [String] = [], body: [String] = []
        var approval: [String] = [], billerRef: [String] = [], journal: [Int64] = [], originalSTAN: [String] = []
        var originalTime: [String] = [], originalID: [Int64] = []
    }

    private func nextIDs(_ sequence: String, count: Int, connection: PostgresConnection) async throws -> [Int64] {
        guard count > 0 else { return [] }
        var ids: [Int64] = []
        ids.reserveCapacity(count)
        let rows = try await connection.query("SELECT nextval(\(sequence)::regclass) FROM generate_series(1, \(count))", logger: logger)
        for try await id in rows.decode(Int64.self) { ids.append(id) }
        return ids
    }

    private func billerReference(_ response: ISOMessage) -> String {
        guard response.mti == "0210", response[3] == "180000", response[39] == "00", let f48 = response[48], f48.count >= 32 else { return "" }
        return String(f48.suffix(32)).trimmingTrailingSpaces()
    }

    private func knownAccountID(_ code: String) -> Int64? {
        accountIDs.withLock { $0[code] }
    }

    private func remember(_ ids: [String: Int64]) {
        // Account IDs never change and accounts are never deleted, so this cache is safe with
        // several instances; it only saves the INSERT ... ON CONFLICT for known payables.
        accountIDs.withLock { $0.merge(ids) { a, _ in a } }
    }
}

func hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out = [UInt8]()
    out.reserveCapacity(bytes.count * 2)
    for b in bytes {
        out.append(digits[Int(b >> 4)])
        out.append(digits[Int(b & 0x0f)])
    }
    return String(decoding: out, as: UTF8.self)
}
