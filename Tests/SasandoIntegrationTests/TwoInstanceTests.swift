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
}
