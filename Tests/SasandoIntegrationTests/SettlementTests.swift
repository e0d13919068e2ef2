import Foundation
import Logging
import PostgresNIO
import SasandoCore
import SasandoISO8583
import SasandoLedger
import SasandoSettlement
import SasandoSwitch
import SasandoTransport
import Testing

/// A database of its own (same cluster): cut-over and settlement move the ONE business day and close
/// whole dates, which must never happen to the shared test database other suites are using; and a
/// whole-ledger check (`ledger verify`) reads only the test's own rows, not every earlier run's.
struct IsolatedDatabase {
    let url: String
    let name: String

    static func create() async throws -> IsolatedDatabase {
        let shared = try #require(IntegrationEnvironment.databaseURL, "SASANDO_DATABASE_URL is not set: run ./scripts/test")
        let name = "sasando_test_" + UUID().uuidString.prefix(8).lowercased()
        try await admin(shared, "CREATE DATABASE \(name)")
        var components = try #require(URLComponents(string: shared))
        components.path = "/" + name
        return IsolatedDatabase(url: try #require(components.string), name: name)
    }

    func drop() async {
        guard let shared = IntegrationEnvironment.databaseURL else { return }
        try? await Self.admin(shared, "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }

    /// A database of its own for `body`, dropped afterwards whether `body` threw or not.
    static func using(_ body: (IsolatedDatabase) async throws -> Void) async throws {
        let isolated = try await create()
        let outcome: Result<Void, any Error>
        do { try await body(isolated); outcome = .success(()) } catch { outcome = .failure(error) }
        await isolated.drop()
        try outcome.get()
    }

    /// A harness started (by `start`, given the URL) on a database of its own, for `body`; both
    /// stopped and dropped afterwards, whether `body` threw or not.
    static func withHarness(_ start: (String) async throws -> SwitchHarness,
                            _ body: (SwitchHarness) async throws -> Void) async throws {
        try await using { isolated in
            let h = try await start(isolated.url)
            do { try await body(h) } catch { await h.stop(); throw error }
            await h.stop()
        }
    }

    static func admin(_ url: String, _ sql: String) async throws {
        var logger = Logger(label: "isolated-db")
        logger.logLevel = .critical
        let database = try SasandoDatabase(url: url, connectionsMax: 1, logger: logger)
        let task = Task { try await database.run() }
        defer { task.cancel() }
        try await database.client.query(PostgresQuery(unsafeSQL: sql))
    }
}

@Suite(.serialized) struct SettlementTests {
    struct Paid {
        var terminal: Int
        var product: String
        var request: ISOMessage
        var response: ISOMessage
        var amount: Int64 { Int64(request[4]!)! }
        var fee: Int64 { Int64(request[28]!.dropFirst())! }
    }

    static func pay(_ client: TerminalClient, _ requests: TerminalRequests, key: [UInt8], product: String, customer: String,
                    amount: Int64 = 0, terminal: Int) async throws -> Paid {
        let inquiry = try await client.send(requests.inquiry(product: product, customerID: customer, amount: amount), macKey: key)
        try #require(inquiry[39] == "00", "inquiry \(product) \(inquiry[39] ?? "")")
        let payment = requests.payment(from: inquiry)
        let response = try await client.send(payment, macKey: key)
        try #require(response[39] == "00", "payment \(product) \(response[39] ?? "")")
        return Paid(terminal: terminal, product: product, request: payment, response: response)
    }

    static func reconciliation(_ requests: TerminalRequests, date: CalendarDate, count: Int64, amount: Int64,
                               reversals: Int64, reversalAmount: Int64) -> ISOMessage {
        var m = requests.network("000")
        m.mti = "0500"
        m[70] = nil
        m[15] = date.mmdd
        m[42] = requests.merchantID
        for (k, v) in LedgerFlows.reconciliationFields(TerminalTotals(payments: count, paymentAmount: amount, reversals: reversals,
                                                                      reversalAmount: reversalAmount)) { m[k] = v }
        return m
    }

    static func int(_ db: SasandoDatabase, _ query: PostgresQuery) async throws -> Int64 {
        let rows = try await db.client.query(query)
        for try await v in rows.decode(Int64.self) { return v }
        return Int64.min
    }

    static func nextNotice(_ client: TerminalClient, seconds: Int) async -> ISOMessage? {
        await withTaskGroup(of: ISOMessage?.self) { group in
            group.addTask {
                for await m in client.unsolicited where m.mti == "0800" && m[70] == "201" { return m }
                return nil
            }
            group.addTask { try? await Task.sleep(for: .seconds(seconds)); return nil }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }

    /// A day of mixed traffic, 0500 reconciliation (00 and 95), cut-over with 0800/201 and 90,
    /// settlement tied to the ledger to the sen, a no-op second run, 12 for a settled date's reversal,
    /// a biller file with a missing and an altered row, the automatic cut-over won by one instance.
    @Test func dayCutoverSettlementAndReconciliation() async throws {
        try await IsolatedDatabase.withHarness({ try await SwitchHarness.start(terminals: 2, paymentPoints: 2, databaseURL: $0, businessDayPollMilliseconds: 100) }) {
            try await run($0)
        }
    }

    /// Dates settle in order, so a settled date's report never changes afterwards: settling the
    /// next date (whose commission journal credits the deposits) leaves the earlier report as it
    /// was, deposits included, which show the balance at the close of the date (a review saw a
    /// settled date's trial balance change when an earlier date was settled after it, and its
    /// deposits follow the live balance).
    @Test func datesSettleInOrderAndASettledReportStaysAsItWas() async throws {
        try await IsolatedDatabase.withHarness({ try await SwitchHarness.start(terminals: 2, paymentPoints: 2, databaseURL: $0, businessDayPollMilliseconds: 100) }) { h in
            let (c0, r0, f0) = try await h.signedOn(0)
            let customer = { (n: Int) in PaymentFlowTests.customer(n, ending: nil) }
            let day0 = try await h.businessDay.refresh().date
            let first = try await Self.pay(c0, r0, key: f0.macKey, product: "PDAMKPG", customer: customer(8), terminal: 0)
            _ = try await Self.pay(c0, r0, key: f0.macKey, product: "PDAMKPG", customer: customer(8), terminal: 0)
            let day1 = try await h.businessDay.cutover(actor: "test")
            #expect(await Self.nextNotice(c0, seconds: 5)?[15] == day1.mmdd)
            // day0's first payment reversed on day1: day0's settlement takes it out, its journal is day1's.
            #expect(try await c0.send(r0.reversal(of: first.request), macKey: f0.macKey)[39] == "00")
            _ = try await Self.pay(c0, r0, key: f0.macKey, product: "PDAMKPG", customer: customer(8), terminal: 0)
            let day2 = try await h.businessDay.cutover(actor: "test", from: day1)
            #expect(await Self.nextNotice(c0, seconds: 5)?[15] == day2.mmdd)

            await #expect(throws: SettlementError.self) { try await h.settlement.settle(date: day1, actor: "test") }
            do {
                _ = try await h.settlement.settle(date: day1, actor: "test")
            } catch let refused as SettlementError {
                #expect(refused.description.contains("\(day0) is not settled yet"), "\(refused)")
            }
            guard case .settled = try await h.settlement.settle(date: day0, actor: "test") else { Issue.record("day0 not settled"); return }
            let archived = try await h.settlement.report(date: day0)
            // The trial balance at day0's close still holds the reversed bill on the payable, and the
            // report says why (it is exactly the later reversal).
            let reversedBill = Int64(first.request[4]!)!
            #expect(archived.reversedLaterSen == reversedBill)
            #expect(archived.trialBalance.first { $0.account == "PAY:PDAMKPG" }?.balance == reversedBill)
            #expect(archived.renderText().contains("Payables at this close include \(Sen(reversedBill))"))
            guard case .settled = try await h.settlement.settle(date: day1, actor: "test") else { Issue.record("day1 not settled"); return }
            _ = try await Self.pay(c0, r0, key: f0.macKey, product: "PDAMKPG", customer: customer(8), terminal: 0)
            let reprinted = try await h.settlement.report(date: day0)
            #expect(reprinted.paymentPoints == archived.paymentPoints)
            #expect(reprinted.trialBalance == archived.trialBalance)
            #expect(try await Self.int(h.database, "SELECT count(*) FROM settlement_batches") == 2)
        }
    }

    /// A settlement in progress holds up nothing but reversals of its own date's payments: the
    /// next date's payments are approved at once, and a reversal of the settling date's payment gets
    /// `91`, not recorded, so its repeat gets `12` once the date is settled. The settlement is held
    /// half-way by another session's uncommitted batch row for the same date (its insert waits on
    /// the unique key), after it has read the date and before it posts.
    @Test func aSettlementInProgressHoldsUpOnlyItsOwnDatesReversals() async throws {
        try await IsolatedDatabase.withHarness({ try await SwitchHarness.start(terminals: 2, paymentPoints: 2, databaseURL: $0, businessDayPollMilliseconds: 100) }) { h in
            let (c0, r0, f0) = try await h.signedOn(0)
            let (c1, r1, f1) = try await h.signedOn(1)
            let day0 = try await h.businessDay.refresh().date
            let customer = { (n: Int) in PaymentFlowTests.customer(n, ending: nil) }
            let first = try await Self.pay(c0, r0, key: f0.macKey, product: "PDAMKPG", customer: customer(8), terminal: 0)
            let day1 = try await h.businessDay.cutover(actor: "test")
            #expect(await Self.nextNotice(c0, seconds: 5)?[15] == day1.mmdd)
            #expect(await Self.nextNotice(c1, seconds: 5)?[15] == day1.mmdd)

            let blocker = await AccountRowLock.holding(
                "INSERT INTO settlement_batches (business_date, settled_by) VALUES (\(day0.description)::date, 'blocker')",
                in: h.database, logger: h.database.logger)
            let settling = Task { try await h.settlement.settle(date: day0, actor: "test") }
            try await AccountRowLock.waitUntilAwaited(in: h.database)

            // The next date's payment, at another payment point and at the settling one.
            let started = ContinuousClock.now
            let next = try await Self.pay(c1, r1, key: f1.macKey, product: "BPJSKS", customer: customer(13), terminal: 1)
            let nextSamePoint = try await Self.pay(c0, r0, key: f0.macKey, product: "KINET", customer: customer(10), terminal: 0)
            let elapsed = started.duration(to: .now)
            #expect(next.response[15] == day1.mmdd && nextSamePoint.response[15] == day1.mmdd)
            #expect(elapsed < .seconds(3), "the next date's payments took \(elapsed) while a settlement ran")

            // A reversal of the settling date's payment: 91, nothing recorded.
            let reversal = r0.reversal(of: first.request)
            let during = try await c0.send(reversal, macKey: f0.macKey)
            #expect(during[39] == "91")
            #expect(try await Self.int(h.database, "SELECT count(*) FROM transactions WHERE kind = 'reversal'") == 0)

            try await blocker.end()
            guard case .settled(let report) = try await settling.value else { Issue.record("expected .settled"); return }
            #expect(report.totals.payments == 1)
            #expect(report.totals.reversals == 0)
            // The repeat, once the date is settled: 12, nothing posted.
            var repeated = reversal
            repeated.mti = "0401"
            let after = try await c0.send(repeated, macKey: f0.macKey)
            #expect(after[39] == "12")
            #expect(try await Self.int(h.database, "SELECT count(*) FROM journals WHERE kind = 'reversal'") == 0)
            let (_, violations) = try await LedgerVerifier(database: h.database).verify()
            #expect(violations.isEmpty, "\(violations)")
        }
    }

    /// A business day end to end on `h`. `owner`: a connection as the schema's owner, for the last
    /// step, which disables a trigger to show what `ledger verify` finds without it (nil: `h`'s own,
    /// when the harness connects as the owner).
    func run(_ h: SwitchHarness, owner: SasandoDatabase? = nil) async throws {
        let (c0, r0, f0) = try await h.signedOn(0)
        let (c1, r1, f1) = try await h.signedOn(1)
        #expect(f0.info.merchantID != f1.info.merchantID)
        let day0 = try await h.businessDay.refresh().date
        let customer = { (n: Int, ending: String?) in PaymentFlowTests.customer(n, ending: ending) }

        // A day of mixed traffic on two terminals of two payment points.
        var paid: [Paid] = []
        paid.append(try await Self.pay(c0, r0, key: f0.macKey, product: "PLNPOST", customer: customer(12, "12"), terminal: 0))  // 3 bills
        paid.append(try await Self.pay(c0, r0, key: f0.macKey, product: "PLNPOST", customer: customer(12, "31"), terminal: 0))  // 2 bills
        paid.append(try await Self.pay(c0, r0, key: f0.macKey, product: "PLNPOST", customer: customer(12, "40"), terminal: 0))  // 1 bill, reversed
        paid.append(try await Self.pay(c0, r0, key: f0.macKey, product: "PDAMKPG", customer: customer(8, nil), terminal: 0))
        paid.append(try await Self.pay(c0, r0, key: f0.macKey, product: "IPL", customer: "1234" + customer(6, nil), terminal: 0))
        paid.append(try await Self.pay(c1, r1, key: f1.macKey, product: "PLNPRE", customer: customer(11, nil), amount: 5_000_000, terminal: 1))  // reversed
        paid.append(try await Self.pay(c1, r1, key: f1.macKey, product: "PLNPRE", customer: customer(11, nil), amount: 2_000_000, terminal: 1))
        paid.append(try await Self.pay(c1, r1, key: f1.macKey, product: "BPJSKS", customer: customer(13, nil), terminal: 1))
        paid.append(try await Self.pay(c1, r1, key: f1.macKey, product: "KINET", customer: customer(10, nil), terminal: 1))
        paid.append(try await Self.pay(c1, r1, key: f1.macKey, product: "PLNPOST", customer: customer(12, nil), terminal: 1))
        for p in paid { #expect(p.response[15] == day0.mmdd) }
        let reversedIndexes = [2, 5]
        let rev0 = try await c0.send(r0.reversal(of: paid[2].request), macKey: f0.macKey)
        #expect(rev0[39] == "00")
        let rev1 = try await c1.send(r1.reversal(of: paid[5].request), macKey: f1.macKey)
        #expect(rev1[39] == "00")
        let reversed = reversedIndexes.map { paid[$0] }

        // 0500 with the terminal's own totals: 00; one sen off: 95 with the switch's totals.
        let t0 = paid.filter { $0.terminal == 0 }
        let t0Amount = t0.reduce(0) { $0 + $1.amount + $1.fee }
        let t0Reversed = paid[2].amount + paid[2].fee
        let good = try await c0.send(Self.reconciliation(r0, date: day0, count: Int64(t0.count), amount: t0Amount, reversals: 1,
                                                         reversalAmount: t0Reversed), macKey: f0.macKey)
        #expect(good.mti == "0510")
        #expect(good[39] == "00")
        #expect(good[15] == day0.mmdd)
        #expect(good[97] == String(format: "D%016lld", t0Amount - t0Reversed))
        let off = try await c0.send(Self.reconciliation(r0, date: day0, count: Int64(t0.count), amount: t0Amount + 1, reversals: 1,
                                                        reversalAmount: t0Reversed), macKey: f0.macKey)
        #expect(off[39] == "95")
        #expect(off[88] == String(format: "%016lld", t0Amount))
        let wrongCount = try await c1.send(Self.reconciliation(r1, date: day0, count: 1, amount: 0, reversals: 0, reversalAmount: 0), macKey: f1.macKey)
        #expect(wrongCount[39] == "95")
        #expect(wrongCount[76] == "0000000005")
        #expect(wrongCount[77] == "0000000001")
        // A 0500 reusing a recorded payment's (41, 11, 7) key: 94 (spec §3), no totals.
        var reused = Self.reconciliation(r0, date: day0, count: Int64(t0.count), amount: t0Amount, reversals: 1, reversalAmount: t0Reversed)
        (reused[11], reused[7]) = (paid[0].request[11], paid[0].request[7])
        let reusedAnswer = try await c0.send(reused, macKey: f0.macKey)
        #expect(reusedAnswer[39] == "94")
        #expect(reusedAnswer[76] == reused[76], "the terminal's own figures, echoed, not the switch's")

        // While the cut-over runs: 90, nothing recorded.
        try await h.database.client.query("UPDATE business_day SET state = 'cutting_over'")
        try await h.businessDay.refresh()
        let during = r0.inquiry(product: "PDAMKPG", customerID: customer(8, nil))
        let ninety = try await c0.send(during, macKey: f0.macKey)
        #expect(ninety[39] == "90")
        #expect(ninety[15] == day0.mmdd)
        #expect(try await Self.int(h.database, "SELECT count(*) FROM transactions WHERE terminal_id = \(f0.info.terminalID) AND stan = \(during[11]!)") == 0)
        try await h.database.client.query("UPDATE business_day SET state = 'open'")

        // Staff cut-over: the date rolls once, every signed-on terminal gets 0800/201 with the new date.
        let day1 = try await h.businessDay.cutover(actor: "test-supervisor")
        #expect(day1 == day0.adding(days: 1))
        let again = try await h.businessDay.cutover(actor: "test-supervisor", from: day0)
        #expect(again == day1, "a repeat for the same date changes nothing")
        let notice0 = await Self.nextNotice(c0, seconds: 5)
        let notice1 = await Self.nextNotice(c1, seconds: 5)
        #expect(notice0?[15] == day1.mmdd)
        #expect(notice0?[41] == f0.info.terminalID)
        #expect(notice1?[70] == "201")
        #expect(try await Self.int(h.database, "SELECT count(*) FROM audit_events WHERE event = 'cutover' AND actor = 'test-supervisor'") == 1)
        // The request keeps working on the new date.
        let after = try await c0.send(r0.inquiry(product: "PDAMKPG", customerID: customer(8, nil)), macKey: f0.macKey)
        #expect(after[39] == "00")
        #expect(after[15] == day1.mmdd)

        // The current date cannot be settled.
        await #expect(throws: SettlementError.self) { try await h.settlement.settle(date: day1, actor: "test") }

        // No biller file before the date is settled: a later reversal would make it wrong.
        await #expect(throws: SettlementError.self) { try await h.settlement.billerRows(billerID: "PLNPOST", date: day0) }

        // Settlement of day0: ties to the ledger to the sen.
        let clearingBefore = try await Self.int(h.database, "SELECT balance FROM accounts WHERE code = 'BANK:CLEARING'")
        let outcome = try await h.settlement.settle(date: day0, actor: "test-supervisor")
        guard case .settled(let report) = outcome else { Issue.record("expected .settled, got \(outcome)"); return }
        let t = report.totals
        #expect(t.payments == paid.count)
        #expect(t.reversals == reversed.count)
        #expect(t.paymentAmount == paid.reduce(0) { $0 + $1.amount })
        #expect(t.reversalAmount == reversed.reduce(0) { $0 + $1.amount })
        #expect(t.netPayable == t.paymentAmount - t.reversalAmount)
        #expect(t.debits == paid.reduce(0) { $0 + $1.amount + $1.fee })
        #expect(t.reversalDebits == reversed.reduce(0) { $0 + $1.amount + $1.fee })
        let fees = paid.reduce(0) { $0 + $1.fee } - reversed.reduce(0) { $0 + $1.fee }
        #expect(t.commission + t.feeIncome == fees)
        #expect(report.trialBalanceTotal == 0)
        #expect(report.settledBy == "test-supervisor")
        #expect(report.billers.contains { $0.payableAccount == "PAY:IPL:1234" })
        // Direct SQL over postings: the date's payables, commissions and the moves the settlement posted.
        let sqlNetPayable = try await Self.int(h.database, """
            SELECT (coalesce(sum(p.amount) FILTER (WHERE j.kind = 'payment'), 0) - coalesce(sum(p.amount) FILTER (WHERE j.kind = 'reversal'), 0))::int8
            FROM postings p JOIN journals j ON j.id = p.journal_id JOIN accounts a ON a.id = p.account_id
            WHERE a.kind = 'biller_payable' AND j.kind IN ('payment', 'reversal')
              AND (j.business_date = \(day0.description)::date AND j.kind = 'payment'
                   OR j.reverses_journal_id IN (SELECT id FROM journals WHERE kind = 'payment' AND business_date = \(day0.description)::date))
            """)
        #expect(sqlNetPayable == t.netPayable)
        #expect(try await Self.int(h.database, "SELECT coalesce(sum(p.amount), 0)::int8 FROM postings p JOIN journals j ON j.id = p.journal_id WHERE j.kind = 'settlement' AND p.side = 'D'") == t.netPayable)
        #expect(try await Self.int(h.database, "SELECT coalesce(sum(p.amount), 0)::int8 FROM postings p JOIN journals j ON j.id = p.journal_id WHERE j.kind = 'commission' AND p.side = 'D'") == t.commission)
        // Everything of this database happened on day0: payables and commissions are now zero.
        #expect(try await Self.int(h.database, "SELECT coalesce(sum(balance), 0)::int8 FROM accounts WHERE kind IN ('biller_payable', 'commission')") == 0)
        #expect(try await Self.int(h.database, "SELECT balance FROM accounts WHERE code = 'BANK:CLEARING'") == clearingBefore + t.netPayable)
        #expect(try await Self.int(h.database, "SELECT net_payable_sen FROM settlement_batches WHERE business_date = \(day0.description)::date") == t.netPayable)
        for point in report.paymentPoints {
            let opening = Int64(50_000_000) * 100
            #expect(point.depositBalance == opening - point.debits + point.reversalDebits + point.commission)
        }

        // Twice: nothing changes.
        let journalsBefore = try await Self.int(h.database, "SELECT count(*) FROM journals")
        let second = try await h.settlement.settle(date: day0, actor: "someone-else")
        guard case .alreadySettled(let same) = second else { Issue.record("expected .alreadySettled"); return }
        #expect(same.totals == t)
        #expect(same.settledBy == "test-supervisor")
        #expect(try await Self.int(h.database, "SELECT count(*) FROM journals") == journalsBefore)
        // The batch is immutable.
        await #expect(throws: (any Error).self) {
            try await h.database.client.query("UPDATE settlement_batches SET settled_by = 'x'")
        }

        // A reversal of a settled date's payment: 12, nothing posted.
        let late = try await c1.send(r1.reversal(of: paid[6].request), macKey: f1.macKey)
        #expect(late.mti == "0410")
        #expect(late[39] == "12")
        #expect(try await Self.int(h.database, "SELECT count(*) FROM journals") == journalsBefore)
        // Nor can anything else add to it: the database refuses a journal dated on a settled date
        // (a stray tool posted payments into one, and nothing noticed).
        let stray = "WITH j AS (INSERT INTO journals (kind, business_date) VALUES ('topup', \(day0.description)::date) RETURNING id) SELECT id FROM j"
        await #expect(throws: PSQLError.self) { try await h.database.client.query(PostgresQuery(unsafeSQL: stray)) }
        #expect(try await Self.int(h.database, "SELECT count(*) FROM journals") == journalsBefore)

        // Reconciliation of the settled date still answers (field 15 MMDD of the previous day).
        let recon = try await c0.send(Self.reconciliation(r0, date: day0, count: Int64(t0.count), amount: t0Amount, reversals: 1,
                                                          reversalAmount: t0Reversed), macKey: f0.macKey)
        #expect(recon[39] == "00")

        // Biller file: one row per bill line of unreversed payments; a biller file with one row
        // missing and one altered is reported precisely.
        let rows = try await h.settlement.billerRows(billerID: "PLNPOST", date: day0)
        let expectedLines = paid.enumerated().filter { $0.element.product == "PLNPOST" && !reversedIndexes.contains($0.offset) }
            .reduce(0) { $0 + (BillData.parse($1.element.request[48]!)?.bills.count ?? 0) }
        #expect(rows.count == expectedLines)
        // Whole customer IDs: the biller credits the customer's account with them.
        let customersPaid = Set(paid.filter { $0.product == "PLNPOST" }.compactMap { BillData.parse($0.request[48]!)?.customerID })
        #expect(rows.allSatisfy { customersPaid.contains($0.customerID) && $0.period.count == 6 && !$0.billerReference.isEmpty })
        let file = try await h.settlement.billerFile(billerID: "PLNPOST", date: day0)
        #expect(file.hasPrefix(BillerFile.header + "\n"))
        var theirs = try BillerFile.parse(file)
        #expect(theirs == rows)
        let removed = theirs.remove(at: 1)
        theirs[0].amountSen += 100
        let result = try await h.settlement.reconcileBiller(billerID: "PLNPOST", date: day0, theirCSV: BillerFile.render(theirs))
        #expect(result.matched == rows.count - 2)
        #expect(result.missingAtBiller == [removed])
        #expect(result.missingAtSwitch.isEmpty)
        #expect(result.amountMismatches.count == 1)
        #expect(result.amountMismatches.first?.ours == rows[0])
        #expect(result.amountMismatches.first?.differenceSen == 100)
        #expect(!result.isClean)
        let clean = try await h.settlement.reconcileBiller(billerID: "PLNPOST", date: day0, theirCSV: file)
        #expect(clean.isClean && clean.matched == rows.count)
        let prepaid = try await h.settlement.billerRows(billerID: "PLNPRE", date: day0)
        #expect(prepaid.count == 1 && prepaid.first?.period == "" && prepaid.first?.amountSen == 2_000_000)

        // The automatic cut-over: two instances whose clock is past 23:00 WITA of day1 both try; the date rolls once.
        var utc = Calendar(identifier: .gregorian)
        utc.timeZone = TimeZone(identifier: "UTC")!
        let lateEvening = utc.date(from: DateComponents(year: day1.year, month: day1.month, day: day1.day, hour: 15, minute: 30))!
        let a = BusinessDayService(database: h.database, clock: { lateEvening })
        let b = BusinessDayService(database: h.database, clock: { lateEvening })
        async let ta = a.tick()
        async let tb = b.tick()
        _ = try await (ta, tb)
        let day2 = try await h.businessDay.refresh()
        #expect(day2.date == day1.adding(days: 1))
        #expect(!day2.cuttingOver)
        #expect(day2.changedBy == "switch (scheduled)")
        let notice2 = await Self.nextNotice(c0, seconds: 5)
        #expect(notice2?[15] == day2.date.mmdd)

        // The ledger verifies, settlement checks included.
        let (_, violations) = try await LedgerVerifier(database: h.database).verify()
        #expect(violations.isEmpty, "\(violations.map { "\($0.check): \($0.rows)" })")

        // And were the trigger gone, `ledger verify` would say which journal came after the settlement.
        let owner = owner ?? h.database
        try await owner.client.withTransaction(logger: owner.logger) { connection in
            try await connection.query("ALTER TABLE journals DISABLE TRIGGER journals_not_on_settled_dates", logger: owner.logger)
            try await connection.query("""
                WITH j AS (INSERT INTO journals (kind, business_date) VALUES ('topup', \(day0.description)::date) RETURNING id)
                INSERT INTO postings (journal_id, account_id, side, amount)
                SELECT j.id, a.id, CASE a.code WHEN 'BANK:CLEARING' THEN 'D' ELSE 'C' END, 100 FROM j, accounts a
                WHERE a.code IN ('BANK:CLEARING', 'BANK:FEE')
                """, logger: owner.logger)
            // The deferred balance check runs now: ALTER TABLE refuses a table with pending trigger events.
            try await connection.query("SET CONSTRAINTS ALL IMMEDIATE", logger: owner.logger)
            try await connection.query("ALTER TABLE journals ENABLE TRIGGER journals_not_on_settled_dates", logger: owner.logger)
        }
        let strayFound = try await LedgerVerifier(database: h.database).verify().violations
        #expect(strayFound.map(\.check) == ["no journal was added to a settled date after its settlement"])
    }

    /// The period summary puts each date's line where its settlement report has it (payments,
    /// reversals counted on their payment's date, fees, commission), each biller's totals summed
    /// over the range, and says which dates are settled, closed or open; a range past the current
    /// date is cut there, a range longer than a month or starting after today is refused.
    @Test func aPeriodSummaryAgreesWithEachDatesReport() async throws {
        try await IsolatedDatabase.withHarness({ try await SwitchHarness.start(terminals: 2, paymentPoints: 2, databaseURL: $0, businessDayPollMilliseconds: 100) }) { h in
            let (c0, r0, f0) = try await h.signedOn(0)
            let (c1, r1, f1) = try await h.signedOn(1)
            // A fresh customer of the product each time (its ID length), so every bill is unpaid.
            let customer = { (product: String) in PaymentFlowTests.customer(Product(rawValue: product)!.customerIDLength) }
            let day0 = try await h.businessDay.refresh().date
            let first = try await Self.pay(c0, r0, key: f0.macKey, product: "PDAMKPG", customer: customer("PDAMKPG"), terminal: 0)
            _ = try await Self.pay(c1, r1, key: f1.macKey, product: "PLNPOST", customer: customer("PLNPOST"), terminal: 1)
            let day1 = try await h.businessDay.cutover(actor: "test")
            #expect(await Self.nextNotice(c0, seconds: 5)?[15] == day1.mmdd)
            // Reversed on day1: counted on day0, its payment's date, as day0's report counts it.
            #expect(try await c0.send(r0.reversal(of: first.request), macKey: f0.macKey)[39] == "00")
            _ = try await Self.pay(c0, r0, key: f0.macKey, product: "PDAMKPG", customer: customer("PDAMKPG"), terminal: 0)
            _ = try await Self.pay(c1, r1, key: f1.macKey, product: "BPJSKS", customer: customer("BPJSKS"), terminal: 1)
            let day2 = try await h.businessDay.cutover(actor: "test", from: day1)
            #expect(await Self.nextNotice(c0, seconds: 5)?[15] == day2.mmdd)
            _ = try await Self.pay(c1, r1, key: f1.macKey, product: "PLNPOST", customer: customer("PLNPOST"), terminal: 1)
            guard case .settled = try await h.settlement.settle(date: day0, actor: "test") else { Issue.record("day0 not settled"); return }

            let summary = try await h.settlement.periodSummary(from: day0, to: day2.adding(days: 5))
            #expect(summary.to == day2 && summary.requestedTo == day2.adding(days: 5))
            #expect(summary.dates.map(\.state) == [.settled, .closed, .open])
            #expect(summary.dates.first?.settledBy == "test")
            #expect(summary.unsettledDates == [day1, day2])
            var billers: [String: (Int, Int64, Int, Int64)] = [:]
            for line in summary.dates {
                let report = try await h.settlement.report(date: line.businessDate)
                #expect(line.totals == report.totals, "\(line.businessDate)")
                for b in report.billers {
                    let was = billers[b.billerID] ?? (0, 0, 0, 0)
                    billers[b.billerID] = (was.0 + b.payments, was.1 + b.paymentAmount, was.2 + b.reversals, was.3 + b.reversalAmount)
                }
            }
            #expect(summary.dates.map(\.totals.payments) == [2, 2, 1])
            #expect(summary.dates[0].totals.reversals == 1 && summary.dates[1].totals.reversals == 0)
            #expect(summary.totals.payments == 5 && summary.totals.reversals == 1)
            #expect(summary.totals.netPayable == summary.dates.reduce(0) { $0 + $1.totals.netPayable })
            #expect(Dictionary(uniqueKeysWithValues: summary.billers.map { ($0.billerID, $0.payments) }) == billers.mapValues(\.0))
            #expect(summary.billers.map(\.billerID) == ["BPJSKS", "PDAMKPG", "PLNPOST"])
            #expect(summary.billers.first { $0.billerID == "PDAMKPG" }?.netPayable == billers["PDAMKPG"].map { $0.1 - $0.3 })
            let text = summary.renderText()
            #expect(text.contains("Not settled yet (their figures may still change): \(day1), \(day2)"))
            #expect(text.contains("Dates after \(day2), the current business date, have not happened yet"))
            let csv = summary.renderCSV().split(separator: "\n")
            let csvRows = 8  // the header, three dates, three billers, the total
            #expect(csv.count == csvRows)
            #expect(csv.last?.hasPrefix("total,\(day0)..\(day2),,,5,") == true)

            await #expect(throws: SettlementError.self) { try await h.settlement.periodSummary(from: day0, to: day0.adding(days: PeriodSummary.daysMax)) }
            await #expect(throws: SettlementError.self) { try await h.settlement.periodSummary(from: day2.adding(days: 1), to: day2.adding(days: 2)) }
            await #expect(throws: SettlementError.self) { try await h.settlement.periodSummary(from: day1, to: day0) }
        }
    }
}
