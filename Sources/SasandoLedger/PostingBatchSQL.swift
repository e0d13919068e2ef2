import Foundation
import Logging
import PostgresNIO
import SasandoCore
import SasandoISO8583
import Synchronization

extension PostingEngine {
    /// One batch, one transaction: read and lock, decide (pure), write set-based, COMMIT.
    /// Returns each request's response; nil for a request to decide in the next batch.
    ///
    /// Four statements, and the batch's task waits twice: PostgresNIO sends a queued statement from
    /// its I/O thread as soon as the one before is answered (one at a time: it does not pipeline),
    /// so BEGIN goes ahead of the snapshot, and COMMIT follows the write, without the task waiting
    /// for answers it needs nothing from. The snapshot sets the batch's lock and statement timeouts
    /// for the rest of the transaction (a round trip of its own cost more CPU than it does).
    func runBatch(_ requests: [PostingRequest], on connection: PostgresConnection, phase: PhaseBox) async throws -> [ISOMessage?] {
        let logger = self.logger
        let begun = connection.batchQuery("BEGIN", logger: logger)
        do {
            let snapshot = try await loadSnapshot(requests, connection: connection)
            // Answered before the snapshot's (one connection answers in order).
            _ = try await begun.get()
            let plan = BatchDecider.decide(requests, snapshot: snapshot)
            let (responses, writeQuery) = try write(plan, requests: requests, snapshot: snapshot)
            let proceed = phase.state.withLock { p -> Bool in
                guard p == BatchPhase.working else { return false }
                p = BatchPhase.committing
                return true
            }
            // Abandoned: the ROLLBACK below, as for any failure before COMMIT.
            guard proceed else { throw BatchAbandoned(reason: "deadline passed before COMMIT; rolled back") }
            let written = connection.batchQuery(writeQuery, logger: logger)
            let committed = connection.batchQuery("COMMIT", logger: logger)
            do {
                _ = try await written.get()
            } catch let error as PSQLError where error.serverInfo != nil {
                // The server refused the write: the transaction is aborted and can only roll back
                // (the COMMIT behind it answers ROLLBACK), so the outcome is known: nothing
                // committed. Any other error (the connection lost) leaves the outcome unknown.
                phase.state.withLock { $0 = BatchPhase.rolledBack }
                _ = try? await committed.get()
                throw error
            }
            let commit: PostgresQueryResult
            do {
                commit = try await committed.get()
            } catch let error as PSQLError where error.serverInfo != nil && !error.endedTheSession {
                // The server answered COMMIT with an error (a deferred check failed, or a
                // serialization failure): it rolled the transaction back, so the outcome is known:
                // nothing committed. A COMMIT that got no answer at all, or one that ended the
                // session (FATAL: a shutdown, an administrator), is unknown.
                phase.state.withLock { $0 = BatchPhase.rolledBack }
                throw error
            }
            guard commit.metadata.command == "COMMIT" else {
                // Not expected after a write that succeeded; rolled back all the same.
                phase.state.withLock { $0 = BatchPhase.rolledBack }
                throw BatchAbandoned(reason: "COMMIT answered \(commit.metadata.command); rolled back")
            }
            // Cached only once committed: an account this batch created is not visible to others
            // before, and would not exist at all had the batch rolled back.
            remember(snapshot.accountIDs)
            return responses
        } catch {
            if phase.state.withLock({ $0 == BatchPhase.working || $0 == BatchPhase.abandoned }) {
                _ = try? await connection.batchQuery("ROLLBACK", logger: logger).get()
            }
            throw error
        }
    }

    private func loadSnapshot(_ requests: [PostingRequest], connection: PostgresConnection) async throws -> BatchSnapshot {
        var s = BatchSnapshot()
        let logger = self.logger
        // One pass over the batch (no copies of the requests): what the snapshot must read.
        var codes = Set<String>()
        var payableBillers: [String: String] = [:]
        var depositCodes = Set<String>(), merchants = Set<String>(), dates = Set<String>()
        var billProducts: [String] = [], billCustomers: [String] = []
        var journalsWanted = 0
        for r in requests {
            if r.kind != .inquiry { journalsWanted += 1 }
            if r.kind != .reversal && !r.prepaid {
                billProducts.append(r.product ?? ""); billCustomers.append(r.customerID ?? "")
            }
            // A reversal locks its payment point's deposit too (its terminal's, which was its
            // payment's: schema.sql refuses to move a terminal to another payment point): a
            // payment and its reversal at two instances then never decide side by side on
            // snapshots that miss each other (the reversal answered 25 while the payment was
            // approved), and every batch holds its deposits before any other account, in id order,
            // so two instances' reversals cannot deadlock on them.
            if r.kind == .reversal {
                codes.insert("DEP:" + r.merchantID)
                depositCodes.insert("DEP:" + r.merchantID)
            }
            guard r.kind == .payment else { continue }
            let deposit = "DEP:" + r.merchantID
            codes.formUnion([deposit, "COM:" + r.merchantID, "BANK:FEE", r.payableCode])
            payableBillers[r.payableCode] = r.payableBillerID
            depositCodes.insert(deposit)
            merchants.insert(r.merchantID)
            dates.insert(r.businessDate.description)
        }
        var ids: [String: Int64] = [:]
        var unknown: [String] = []
        accountIDs.withLock { cache in
            for code in codes { if let id = cache[code] { ids[code] = id } else { unknown.append(code) } }
        }
        let missingPayables = payableBillers.filter { ids[$0.key] == nil }

        // One round trip (schema.sql, sasando_batch_snapshot): the business day FOR SHARE,
        // duplicates, terminals, account ids, deposits locked in id order, daily totals, paid bills
        // and ids for the rows this batch may write.
        let result = try await connection.batchQuery("""
            SELECT * FROM sasando_batch_snapshot(
                \(requests.map(\.terminalID))::text[], \(requests.map(\.stan))::text[], \(requests.map(\.transmittedAt))::text[],
                \(Array(Set(requests.map(\.terminalID))))::text[],
                \(Array(missingPayables.keys))::text[], \(Array(missingPayables.values))::text[],
                \(unknown)::text[], \(Array(depositCodes))::text[], \(Array(merchants))::text[], \(Array(dates))::text[],
                \(billProducts)::text[], \(billCustomers)::text[],
                \(requests.count)::int4, \(journalsWanted)::int4,
                \(databaseWaitMilliseconds)::int4)
            """, logger: logger).get()
        for row in result.rows {
            let r = row.makeRandomAccess()
            if let date = try r["day_date"].decode(String?.self), let open = try r["day_open"].decode(Bool?.self) {
                s.businessDay = (date, open)
            }
            let dupTerminals = try r["dup_terminals"].decode([String].self), dupStans = try r["dup_stans"].decode([String].self)
            let dupTimes = try r["dup_times"].decode([String].self), dupDigests = try r["dup_digests"].decode([ByteBuffer].self)
            let dupBodies = try r["dup_bodies"].decode([ByteBuffer].self)
            for i in dupTerminals.indices {
                s.existing["\(dupTerminals[i])|\(dupStans[i])|\(dupTimes[i])"] = .init(
                    digest: Array(dupDigests[i].readableBytesView), responseBody: Array(dupBodies[i].readableBytesView))
            }
            let termIDs = try r["term_ids"].decode([String].self), termActive = try r["term_active"].decode([Bool].self)
            let termMerchants = try r["term_merchants"].decode([String].self), termLimits = try r["term_limits"].decode([Int64].self)
            for i in termIDs.indices {
                s.terminals[termIDs[i]] = .init(active: termActive[i], merchantID: termMerchants[i], dailyLimit: termLimits[i])
            }
            let accountCodes = try r["account_codes"].decode([String].self), accountIDs = try r["account_ids"].decode([Int64].self)
            for (code, id) in zip(accountCodes, accountIDs) { ids[code] = id }
            let depositIDs = try r["deposit_ids"].decode([Int64].self), balances = try r["deposit_balances"].decode([Int64].self)
            for (id, balance) in zip(depositIDs, balances) { s.depositBalances[id] = balance }
            let totalMerchants = try r["total_merchants"].decode([String].self), totalDates = try r["total_dates"].decode([String].self)
            let collected = try r["total_collected"].decode([Int64].self)
            for i in totalMerchants.indices { s.dailyCollected[totalMerchants[i] + "|" + totalDates[i]] = collected[i] }
            let paidProducts = try r["paid_products"].decode([String].self), paidCustomers = try r["paid_customers"].decode([String].self)
            let paidPeriods = try r["paid_periods"].decode([String].self)
            for i in paidProducts.indices { s.paidBills.insert(BatchDecider.billKey(paidProducts[i], paidCustomers[i], paidPeriods[i])) }
            let reversedTerminals = try r["reversed_terminals"].decode([String].self), reversedStans = try r["reversed_stans"].decode([String].self)
            let reversedTimes = try r["reversed_times"].decode([String].self)
            for i in reversedTerminals.indices { s.reversedBeforeArrival.insert("\(reversedTerminals[i])|\(reversedStans[i])|\(reversedTimes[i])") }
            s.transactionIDs = try r["transaction_ids"].decode([Int64].self)
            s.journalIDs = try r["journal_ids"].decode([Int64].self)
        }
        s.accountIDs = ids

        // Originals of reversals, and their postings (append-only: no lock needed). Reversals are
        // rare (a terminal reverses after a timeout), so they keep their own statements. "Already
        // reversed" names no kind: only reversals have an original (a CHECK), and so it matches
        // one index alone, transactions_posted_reversal_by_original (schema.sql says why).
        let reversals = requests.filter { $0.kind == .reversal }
        var originalJournalIDs: [Int64] = []
        if !reversals.isEmpty {
            let originals = try await connection.batchQuery(
                Self.reversalOriginalsQuery(terminalIDs: reversals.map(\.terminalID), stans: reversals.map { $0.originalSTAN ?? "" },
                                            transmittedAt: reversals.map { $0.originalTransmittedAt ?? "" }),
                logger: logger).get()
            // The settlement lock of each original's date, shared, taken here (SettlementLock): the
            // settled dates below are read by a later statement, so they include a settlement that
            // committed before this one got the lock.
            for row in originals.rows {
                let (id, tid, stan, tm, kind, code, journal, amount, fee, merchant, date, reversed, notBeingSettled)
                    = try row.decode((Int64, String, String, String, String, String, Int64, Int64, Int64, String, String, Bool, Bool).self)
                if !notBeingSettled { s.datesBeingSettled.insert(date) }
                s.originals["\(tid)|\(stan)|\(tm)"] = .init(
                    id: id, kind: kind, responseCode: code, journalID: journal == 0 ? nil : journal, amount: amount, fee: fee,
                    merchantID: merchant, businessDate: date, reversed: reversed, postings: [])
                if journal != 0 { originalJournalIDs.append(journal) }
            }
            if !originalJournalIDs.isEmpty {
                var byJournal: [Int64: [(accountID: Int64, side: String, amount: Int64)]] = [:]
                let postings = try await connection.batchQuery("""
                    SELECT journal_id, account_id, side, amount FROM postings WHERE journal_id = ANY(\(originalJournalIDs)::int8[]) ORDER BY id
                    """, logger: logger).get()
                for row in postings.rows {
                    let (journal, account, side, amount) = try row.decode((Int64, Int64, String, Int64).self)
                    byJournal[journal, default: []].append((account, side, amount))
                }
                for (key, original) in s.originals {
                    if let j = original.journalID { s.originals[key]?.postings = byJournal[j] ?? [] }
                }
            }
            let settled = try await connection.batchQuery("""
                SELECT business_date::text FROM settlement_batches WHERE business_date = ANY(\(s.originals.values.map(\.businessDate))::date[])
                """, logger: logger).get()
            for row in settled.rows { s.settledDates.insert(try row.decode(String.self)) }
        }
        return s
    }

    /// The batch's responses and the statement that writes its rows.
    private func write(_ plan: BatchPlan, requests: [PostingRequest], snapshot: BatchSnapshot) throws -> (responses: [ISOMessage?], query: PostgresQuery) {
        // Ids were taken by the snapshot: one per request and one per payment or reversal, enough.
        precondition(snapshot.transactionIDs.count >= plan.rows.count && snapshot.journalIDs.count >= plan.journals.count)
        let transactionIDs = snapshot.transactionIDs, journalIDs = snapshot.journalIDs

        // Responses first: they are stored with the rows, before COMMIT.
        var rowResponses: [ISOMessage] = []
        rowResponses.reserveCapacity(plan.rows.count)
        for (index, row) in plan.rows.enumerated() {
            var decision = row.decision
            if case .approved(_, let outstanding) = decision {
                decision = .approved(transactionID: transactionIDs[index], outstanding: outstanding)
            }
            rowResponses.append(requests[row.request].respond(decision))
        }
        var responses: [ISOMessage?] = []
        responses.reserveCapacity(plan.outcomes.count)
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

        var jIDs: [Int64] = [], jKinds: [String] = [], jDates: [String] = [], jReverses: [Int64] = []
        var pj: [Int64] = [], pa: [Int64] = [], ps: [String] = [], pm: [Int64] = []
        for (j, journal) in plan.journals.enumerated() {
            jIDs.append(journalIDs[j]); jKinds.append(journal.kind); jDates.append(journal.businessDate)
            jReverses.append(journal.reversesJournalID ?? 0)
            for p in journal.postings {
                pj.append(journalIDs[j]); pa.append(p.accountID); ps.append(p.side); pm.append(p.amount)
            }
        }
        var c = TransactionColumns()
        var bp: [String] = [], bc: [String] = [], bper: [String] = [], bamt: [Int64] = [], btx: [Int64] = []
        let allocator = ByteBufferAllocator()
        for (index, row) in plan.rows.enumerated() {
            let r = requests[row.request]
            let response = rowResponses[index]
            c.id.append(transactionIDs[index])
            c.terminal.append(r.terminalID); c.stan.append(r.stan); c.time.append(r.transmittedAt)
            c.kind.append(r.kind.rawValue); c.digest.append(allocator.buffer(bytes: r.digest))
            c.merchant.append(r.merchantID); c.rrn.append(r.rrn)
            c.product.append(r.product ?? ""); c.customer.append(r.customerID ?? "")
            c.amount.append(r.amount); c.fee.append(r.fee); c.date.append(r.businessDate.description)
            c.code.append(response[39] ?? "96")
            c.body.append(allocator.buffer(bytes: try ISO8583Codec.encode(response)))
            c.approval.append(response[38] ?? "")
            c.billerRef.append(billerReference(response))
            c.journal.append(row.journal.map { journalIDs[$0] } ?? 0)
            c.originalSTAN.append(r.originalSTAN ?? ""); c.originalTime.append(r.originalTransmittedAt ?? "")
            c.originalID.append(row.originalID ?? 0)
            if row.journal != nil && r.kind == .payment {
                for bill in row.payingBills {
                    bp.append(r.product ?? ""); bc.append(r.customerID ?? ""); bper.append(bill.period)
                    bamt.append(bill.amount); btx.append(transactionIDs[index])
                }
            }
        }
        var dm: [String] = [], dd: [String] = [], dv: [Int64] = []
        for (date, merchants) in plan.dailyDeltas {
            for (merchant, delta) in merchants where delta != 0 { dm.append(merchant); dd.append(date); dv.append(delta) }
        }

        // One statement (schema.sql, sasando_write_batch); the postings, which lock the shared
        // accounts, are written last.
        let query: PostgresQuery = """
            SELECT sasando_write_batch(
                \(jIDs)::int8[], \(jKinds)::text[], \(jDates)::text[], \(jReverses)::int8[],
                \(pj)::int8[], \(pa)::int8[], \(ps)::text[], \(pm)::int8[],
                \(c.id)::int8[], \(c.terminal)::text[], \(c.stan)::text[], \(c.time)::text[], \(c.kind)::text[], \(c.digest)::bytea[],
                \(c.merchant)::text[], \(c.rrn)::text[], \(c.product)::text[], \(c.customer)::text[], \(c.amount)::int8[], \(c.fee)::int8[],
                \(c.date)::text[], \(c.code)::text[], \(c.body)::bytea[], \(c.approval)::text[], \(c.billerRef)::text[], \(c.journal)::int8[],
                \(c.originalSTAN)::text[], \(c.originalTime)::text[], \(c.originalID)::int8[],
                \(bp)::text[], \(bc)::text[], \(bper)::text[], \(bamt)::int8[], \(btx)::int8[],
                \(plan.paidBillDeletes)::int8[],
                \(dm)::text[], \(dd)::text[], \(dv)::int8[])
            """
        return (responses, query)
    }

    private struct TransactionColumns {
        var id: [Int64] = [], terminal: [String] = [], stan: [String] = [], time: [String] = [], kind: [String] = []
        var digest: [ByteBuffer] = [], merchant: [String] = [], rrn: [String] = [], product: [String] = [], customer: [String] = []
        var amount: [Int64] = [], fee: [Int64] = [], date: [String] = [], code: [String] = [], body: [ByteBuffer] = []
        var approval: [String] = [], billerRef: [String] = [], journal: [Int64] = [], originalSTAN: [String] = []
        var originalTime: [String] = [], originalID: [Int64] = []
    }

    private func billerReference(_ response: ISOMessage) -> String {
        guard response.mti == "0210", response[3] == "180000", response[39] == "00", let f48 = response[48], f48.count >= 32 else { return "" }
        return String(f48.suffix(32)).trimmingTrailingSpaces()
    }

    private func remember(_ ids: [String: Int64]) {
        // Account IDs never change and accounts are never deleted, so this cache is safe with
        // several instances; it only saves look-ups and the payable INSERT for known codes.
        // Bounded: emptied when full (it refills from the database).
        accountIDs.withLock { cache in
            let new = ids.filter { cache[$0.key] == nil }
            guard !new.isEmpty else { return }
            if cache.count + new.count > PostingLimits.accountIDCacheEntriesMax { cache.removeAll(keepingCapacity: true) }
            cache.merge(new) { a, _ in a }
        }
    }

    /// The originals of a batch's reversals, by the key each reversal names (field 90): the row,
    /// whether a posted reversal of it exists, and its date's settlement lock, taken shared. A
    /// statement of its own (not in the snapshot function), so its plan is made per batch;
    /// `ReversalLookupPlanTests` holds that plan to index look-ups on a database whose statistics
    /// predate its reversals.
    static func reversalOriginalsQuery(terminalIDs: [String], stans: [String], transmittedAt: [String]) -> PostgresQuery {
        """
        SELECT t.id, t.terminal_id, t.stan, t.transmitted_at, t.kind, t.response_code, coalesce(t.journal_id, 0),
               t.amount_sen, t.fee_sen, t.merchant_id, t.business_date::text,
               EXISTS (SELECT 1 FROM transactions r WHERE r.original_id = t.id AND r.journal_id IS NOT NULL),
               pg_try_advisory_xact_lock_shared(\(SettlementLock.classID), t.business_date - date '2000-01-01')
        FROM transactions t
        JOIN unnest(\(terminalIDs)::text[], \(stans)::text[], \(transmittedAt)::text[]) AS k(tid, stan, tm)
          ON t.terminal_id = k.tid AND t.stan = k.stan AND t.transmitted_at = k.tm
        """
    }

    /// Fills the account-id cache at start (up to its limit), so the first batches do not look up
    /// every payable one batch at a time.
    func preloadAccountIDs() async {
        do {
            // Bounded like any database wait: a database that is down does not hold up the start.
            let ids = try await database.withDeadline { [database, logger] in
                var ids: [String: Int64] = [:]
                let rows = try await database.client.query(
                    "SELECT code, id FROM accounts ORDER BY id LIMIT \(PostingLimits.accountIDCacheEntriesMax)", logger: logger)
                for try await (code, id) in rows.decode((String, Int64).self) { ids[code] = id }
                return ids
            }
            remember(ids)
        } catch {
            // Only a warm-up: batches look up what is missing.
            logger.notice("account ids not preloaded", metadata: ["error": "\(error)"])
        }
    }
}
