import ArgumentParser
import Foundation
import Logging
import SasandoCore
import SasandoISO8583
import SasandoLedger
import SasandoSwitch
import Synchronization

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Benchmarks that print figures.", subcommands: [Posting.self])

    /// The posting engine alone (no TLS, no codec on the wire): payments/s with group commit and
    /// with one transaction per payment, same workload, same run, as a ratio.
    struct Posting: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Payments/s posted by the engine, batching on vs off, in one run.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Payments per mode.") var payments: Int = 20_000
        @Option(help: "Concurrent submitters (like terminals with one request in flight).") var concurrency: Int = 512
        @Option(help: "Payment points (deposit accounts) the payments spread over.") var paymentPoints: Int = 50
        @Option(help: "Payments for the batching-off mode (it is slow; default: payments / 4).") var unbatchedPayments: Int?

        func run() async throws {
            guard payments > 0, payments <= 1_000_000, concurrency > 0, concurrency <= 10_000, paymentPoints > 0, paymentPoints <= 10_000 else {
                throw ValidationError("payments 1...1000000, concurrency 1...10000, payment points 1...10000")
            }
            let logger = makeLogger("sasando.bench", level: .warning)
            let options = database
            let payments = self.payments, concurrency = self.concurrency, paymentPoints = self.paymentPoints
            let unbatched = unbatchedPayments ?? max(1, payments / 4)
            try await withDatabase(options, logger: logger) { db in
                let terminals = try await Self.setUp(db: db, paymentPoints: paymentPoints)
                let batched = try await Self.measure(db: db, terminals: terminals, payments: payments, concurrency: concurrency,
                                                     engineConfiguration: PostingEngineConfiguration(), logger: logger)
                print(String(format: "batching on : %7d payments in %6.2f s = %8.0f payments/s (%d batches, largest %d)",
                             batched.approved, batched.seconds, Double(batched.approved) / batched.seconds, batched.batches, batched.largest))
                let single = try await Self.measure(db: db, terminals: terminals, payments: unbatched, concurrency: concurrency,
                                                    engineConfiguration: .unbatched(connections: 16), logger: logger)
                print(String(format: "batching off: %7d payments in %6.2f s = %8.0f payments/s (one transaction each)",
                             single.approved, single.seconds, Double(single.approved) / single.seconds))
                let ratio = (Double(batched.approved) / batched.seconds) / (Double(single.approved) / single.seconds)
                print(String(format: "ratio (on/off): %.1fx", ratio))
            }
        }

        static func setUp(db: SasandoDatabase, paymentPoints: Int) async throws -> [TerminalRecord] {
            let directory = TerminalDirectory(database: db)
            let ledger = LedgerAccounts(database: db)
            var terminals: [TerminalRecord] = []
            for p in 1...paymentPoints {
                let merchant = String(format: "BENCHPP%08d", p)
                let terminalID = String(format: "BN%06d", p)
                try await directory.upsertPaymentPoint(merchantID: merchant, name: "Benchmark \(p)")
                try await ledger.openPaymentPoint(merchantID: merchant, openingDeposit: .rupiah(1_000_000_000))
                try await ledger.topUp(merchantID: merchant, amount: .rupiah(10_000_000_000), actor: "bench")
                let key = [UInt8](repeating: 7, count: 32)
                try await directory.insertTerminal(terminalID: terminalID, merchantID: merchant, macKey: key)
                try await db.client.query("UPDATE payment_points SET daily_limit_sen = 9000000000000000 WHERE merchant_id = \(merchant)")
                terminals.append(TerminalRecord(terminalID: terminalID, merchantID: merchant, terminalStatus: .active, merchantStatus: .active, macKey: key))
            }
            return terminals
        }

        struct Result { var approved: Int; var seconds: Double; var batches: Int; var largest: Int }

        static func measure(db: SasandoDatabase, terminals: [TerminalRecord], payments: Int, concurrency: Int,
                            engineConfiguration: PostingEngineConfiguration, logger: Logger) async throws -> Result {
            let engine = PostingEngine(database: db, configuration: engineConfiguration, logger: logger)
            let engineTask = Task { try await engine.run() }
            defer { engineTask.cancel() }
            let flows = LedgerFlows(engine: engine, configuration: SwitchConfiguration(), logger: logger)
            let businessDate = BusinessCalendar.businessDate(at: Date())
            let counter = Counter(payments)
            let start = ContinuousClock.now
            let approved = try await withThrowingTaskGroup(of: Int.self) { group in
                for worker in 0..<concurrency {
                    let terminal = terminals[worker % terminals.count]
                    group.addTask {
                        var rng = SystemRandomNumberGenerator()
                        let requests = TerminalRequests(terminalID: terminal.terminalID, merchantID: terminal.merchantID,
                                                        firstSTAN: Int.random(in: 1...999_999))
                        var ok = 0
                        while counter.take() {
                            let payment = BenchmarkWorkload.payment(requests: requests, product: nil, businessDate: businessDate, using: &rng)
                            if let response = await flows.process(payment, terminal: terminal), response[39] == "00" { ok += 1 }
                        }
                        return ok
                    }
                }
                return try await group.reduce(0, +)
            }
            let elapsed = start.duration(to: .now)
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            let stats = engine.statistics.withLock { $0 }
            return Result(approved: approved, seconds: seconds, batches: stats.batches, largest: stats.largestBatch)
        }
    }
}

/// Hands out a fixed number of work items to concurrent workers.
final class Counter: Sendable {
    private let remaining: Mutex<Int>
    init(_ n: Int) { remaining = Mutex(n) }
    func take() -> Bool { remaining.withLock { r in if r > 0 { r -= 1; return true }; return false } }
}
