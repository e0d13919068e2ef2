import Foundation
import Logging
import PostgresNIO
import SasandoCore
import SasandoISO8583
import SasandoLedger
import SasandoSettlement
import SasandoSwitch
import Testing

/// Two switch instances on one database, as behind a load balancer: every payment reaches both at
/// once (a terminal's resend that landed on the other instance). The database decides: each payment
/// is recorded and posted once, both instances give the same answer, and a batch that lost the race
/// (its write refused by a unique key) rolled back and was decided again from what the winner
/// committed.
@Suite struct TwoInstanceTests {
    @Test func samePaymentsOnTwoInstancesArePostedOnceWithOneAnswer() async throws {
        let url = try #require(IntegrationEnvironment.databaseURL, "SASANDO_DATABASE_URL is not set")
        var logger = Logger(label: "two-instance-test")
        logger.logLevel = .critical
        let wait = IntegrationEnvironment.databaseWaitMilliseconds
        let databaseA = try SasandoDatabase(url: url, connectionsMax: 4, waitMilliseconds: wait, logger: logger)
        let databaseB = try SasandoDatabase(url: url, connectionsMax: 4, waitMilliseconds: wait, logger: logger)
        let runA = Task { try await databaseA.run() }, runB = Task { try await databaseB.run() }
        defer { runA.cancel(); runB.cancel() }
        try await IntegrationEnvironment.migrateOnce(databaseA)

        // An own payment point with a deposit large enough for every payment.
        let terminal = try await IntegrationEnvironment.ownPaymentPoint(databaseA, merchantPrefix: "TWOINST00", terminalPrefix: "TW",
                                                                        name: "Two instances", deposit: .rupiah(1_000_000_000), macKeyByte: 9)
        let merchant = terminal.merchantID, terminalID = terminal.terminalID
        try await databaseA.client.query("UPDATE payment_points SET daily_limit_sen = 9000000000000000 WHERE merchant_id = \(merchant)")
        let depositBefore = try await IntegrationEnvironment.int(databaseA, "SELECT balance FROM accounts WHERE code = \("DEP:" + merchant)")

        let engineA = PostingEngine(database: databaseA, configuration: PostingEngineConfiguration(), logger: logger)
        let engineB = PostingEngine(database: databaseB, configuration: PostingEngineConfiguration(), logger: logger)
        let engines = Task {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { try await engineA.run() }
                group.addTask { try await engineB.run() }
            }
        }
        defer { engines.cancel() }
        let dayA = BusinessDayService(database: databaseA), dayB = BusinessDayService(database: databaseB)
        let flowsA = LedgerFlows(engine: engineA, businessDay: dayA, configuration: SwitchConfiguration(), logger: logger)
        let flowsB = LedgerFlows(engine: engineB, businessDay: dayB, configuration: SwitchConfiguration(), logger: logger)
        let businessDate = try await dayA.current().date

        // 300 payments, 30 at a time, each sent to both instances together.
        let requests = TerminalRequests(terminalID: terminalID, merchantID: merchant)
        var rng = SystemRandomNumberGenerator()
        let payments = (0..<300).map { _ in BenchmarkWorkload.payment(requests: requests, product: nil, businessDate: businessDate, using: &rng) }
        var answers: [(request: ISOMessage, a: ISOMessage?, b: ISOMessage?)] = []
        for chunk in stride(from: 0, to: payments.count, by: 30).map({ Array(payments[$0..<min($0 + 30, payments.count)]) }) {
            answers += await withTaskGroup(of: (ISOMessage, ISOMessage?, ISOMessage?).self) { group in
                for payment in chunk {
                    group.addTask {
                        async let a = flowsA.process(payment, terminal: terminal)
                        async let b = flowsB.process(payment, terminal: terminal)
                        return (payment, await a, await b)
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
        }

        var approvedSen: Int64 = 0, approved = 0
        for (request, a, b) in answers {
            let a = try #require(a, "instance A gave no answer"), b = try #require(b, "instance B gave no answer")
            // One decision, told by both: the loser of the race answers with the stored response.
            #expect(a[39] == b[39] && a[38] == b[38] && a[37] == b[37] && a[48] == b[48], "A \(a[39] ?? "-") / B \(b[39] ?? "-")")
            if a[39] == "00" {
                approved += 1
                approvedSen += (Int64(request[4] ?? "") ?? 0) + (Int64((request[28] ?? "D0").dropFirst()) ?? 0)
            }
        }
        #expect(approved > payments.count / 2, "\(approved) of \(payments.count) approved")

        // Once each in the record and in the ledger, and the deposit paid exactly the approved sum.
        let recorded = try await IntegrationEnvironment.int(databaseA, "SELECT count(*) FROM transactions WHERE terminal_id = \(terminalID)")
        let journals = try await IntegrationEnvironment.int(databaseA, "SELECT count(*) FROM transactions WHERE terminal_id = \(terminalID) AND journal_id IS NOT NULL")
        let depositAfter = try await IntegrationEnvironment.int(databaseA, "SELECT balance FROM accounts WHERE code = \("DEP:" + merchant)")
        #expect(recorded == Int64(payments.count))
        #expect(journals == Int64(approved))
        #expect(depositBefore - depositAfter == approvedSen)
        let lost = engineA.statistics.withLock { $0.conflictsRetried } + engineB.statistics.withLock { $0.conflictsRetried }
        let failed = engineA.statistics.withLock { $0.failedBatches } + engineB.statistics.withLock { $0.failedBatches }
        // Races are likely here (the same 30 payments reach both at once) but not certain, so they
        // are reported, not required; a lost race not known to be rolled back would leave no answer.
        #expect(failed == 0, "\(failed) batches failed (\(lost) races lost and decided again)")
    }

    /// A payment at one instance and its reversal at the other, sent together (a terminal that
    /// timed out and reconnected through the balancer): either both are approved and the payment
    /// is reversed, or the reversal finds nothing (25) and the payment is refused (12). A review saw
    /// 16 of 20 such races end with the payment approved and posted while its terminal was told
    /// 25; the reversal's batch did not lock its payment point's deposit, so neither batch saw the
    /// other. Then payments and reversals of two payment points crossing between the instances:
    /// no deadlock (the same missing lock deadlocked them 15 times in 30 s).
    @Test func aPaymentAndItsReversalAtTwoInstancesNeverEndApprovedAnd25() async throws {
        try await OwnEngineFixture.run(merchantPrefix: "TWORACE00", terminalPrefix: "TR", name: "Two-instance race", macKeyByte: 12,
                                       label: "two-instance-race") { fixture in
            let (flowsB, _, engineB) = OwnEngineFixture.instance(on: fixture.database, logger: fixture.logger)
            defer { engineB.cancel() }
            let database = fixture.database, flowsA = fixture.flows, p = fixture.terminal
            try await database.client.query("UPDATE payment_points SET daily_limit_sen = 9000000000000000")
            let q = try await IntegrationEnvironment.ownPaymentPoint(database, merchantPrefix: "TWORACE01", terminalPrefix: "TQ",
                                                                    name: "Two-instance race Q", deposit: .rupiah(1_000_000_000), macKeyByte: 13)
            _ = try await LedgerAccounts(database: database).topUp(merchantID: p.merchantID, amount: .rupiah(1_000_000_000), actor: "test")
            let businessDate = try await BusinessDayService(database: database).current().date
            let requestsP = TerminalRequests(terminalID: p.terminalID, merchantID: p.merchantID)
            let requestsQ = TerminalRequests(terminalID: q.terminalID, merchantID: q.merchantID)
            var rng = SystemRandomNumberGenerator()
            func prepaid(_ requests: TerminalRequests) -> ISOMessage {
                BenchmarkWorkload.payment(requests: requests, product: .plnPrepaid, businessDate: businessDate, using: &rng)
            }

            var outcomes: [String: Int] = [:]
            for _ in 0..<40 {
                let payment = prepaid(requestsP)
                let reversal = requestsP.reversal(of: payment)
                async let paid = flowsA.process(payment, terminal: p)
                async let reversed = flowsB.process(reversal, terminal: p)
                let (a, b) = (await paid, await reversed)
                outcomes["\(a?[39] ?? "none")/\(b?[39] ?? "none")", default: 0] += 1
            }
            #expect(outcomes.keys.allSatisfy { ["00/00", "12/25"].contains($0) }, "payment/reversal answers: \(outcomes)")

            // Crossing: A takes P's payments and reverses Q's, B the other way round, at once.
            var earlierP: [ISOMessage] = [], earlierQ: [ISOMessage] = []
            for _ in 0..<60 {
                let (mp, mq) = (prepaid(requestsP), prepaid(requestsQ))
                #expect(await flowsA.process(mp, terminal: p)?[39] == "00")
                #expect(await flowsB.process(mq, terminal: q)?[39] == "00")
                earlierP.append(mp); earlierQ.append(mq)
            }
            let deadlocksBefore = try await IntegrationEnvironment.int(database, "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
            let crossed = await withTaskGroup(of: String?.self) { group in
                for i in 0..<60 {
                    let (newP, newQ) = (prepaid(requestsP), prepaid(requestsQ))
                    let (reverseQ, reverseP) = (requestsQ.reversal(of: earlierQ[i]), requestsP.reversal(of: earlierP[i]))
                    group.addTask { await flowsA.process(newP, terminal: p)?[39] }
                    group.addTask { await flowsA.process(reverseQ, terminal: q)?[39] }
                    group.addTask { await flowsB.process(newQ, terminal: q)?[39] }
                    group.addTask { await flowsB.process(reverseP, terminal: p)?[39] }
                }
                return await group.reduce(into: [String: Int]()) { $0[$1 ?? "none", default: 0] += 1 }
            }
            #expect(crossed == ["00": 240], "answers while crossing: \(crossed)")
            try await Task.sleep(for: .milliseconds(1_200))  // statistics reach pg_stat_database within a second
            _ = try await database.client.query("SELECT pg_stat_clear_snapshot()")
            let deadlocks = try await IntegrationEnvironment.int(database, "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
            #expect(deadlocks == deadlocksBefore, "\(deadlocks - deadlocksBefore) deadlocks")

            let verified = try await LedgerVerifier(database: database).verify()
            #expect(verified.violations.isEmpty, "\(verified.violations.map { "\($0.check): \($0.rows)" })")
        }
    }
}
