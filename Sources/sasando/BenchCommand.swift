import ArgumentParser
import Foundation
import Logging
import SasandoCore
import SasandoISO8583
import SasandoLedger
import SasandoSettlement
import SasandoSwitch
import Synchronization

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks that print figures. They WRITE into the ledger (bench payment points, top-ups, payments): a test database only.",
        subcommands: [Posting.self, Ceiling.self])

    /// The bench creates payment points, tops them up from clearing and posts payments: real ledger
    /// rows. Never by accident on a bank's database, so it has to be asked for by name.
    struct Consent: ParsableArguments {
        @Flag(name: .customLong("writes-to-this-database"),
              help: "Required: confirms this database is a test or benchmark one (the bench adds payment points, top-ups and payments to its ledger).")
        var confirmed = false

        func validate() throws {
            guard confirmed else {
                throw ValidationError("the bench writes payment points, top-ups and payments into this database's ledger; run it on a test or benchmark database and add --writes-to-this-database")
            }
        }
    }

    /// The stored business date (what the switch posts to), not the clock's: after a manual
    /// cut-over they differ, and payments on the clock's date got 13, or landed on a settled date.
    static func openBusinessDate(_ db: SasandoDatabase) async throws -> CalendarDate {
        let day = try await BusinessDayService(database: db).refresh()
        guard !day.cuttingOver else { throw CommandFailure("a cut-over is in progress; run the bench when it is done") }
        return day.date
    }

    /// The posting engine alone (no TLS, no codec on the wire): payments/s with group commit and
    /// with one transaction per payment, same workload, same run, as a ratio.
    struct Posting: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Payments/s posted by the engine, batching on vs off, in one run.")
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var consent: Consent
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
                guard batched.approved > 0, single.approved > 0 else {
                    throw CommandFailure("no ratio: a mode had no approved payment (see the codes above)")
                }
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
            let businessDate = try await Bench.openBusinessDate(db)
            let counter = Counter(payments)
            let declines = CodeTally()
            let start = ContinuousClock.now
            // One STAN sequence per terminal, shared by its workers, as on a real terminal.
            let builders = terminals.map { TerminalRequests(terminalID: $0.terminalID, merchantID: $0.merchantID) }
            let approved = try await withThrowingTaskGroup(of: Int.self) { group in
                for worker in 0..<concurrency {
                    let terminal = terminals[worker % terminals.count]
                    let requests = builders[worker % terminals.count]
                    group.addTask {
                        var rng = SystemRandomNumberGenerator()
                        var ok = 0
                        while counter.take() {
                            let payment = BenchmarkWorkload.payment(requests: requests, product: nil, businessDate: businessDate, using: &rng)
                            let response = await flows.process(payment, terminal: terminal)
                            if response?[39] == "00" { ok += 1 } else { declines.record(response?[39] ?? "no answer") }
                        }
                        return ok
                    }
                }
                return try await group.reduce(0, +)
            }
            let elapsed = start.duration(to: .now)
            let seconds = elapsed.inSeconds
            let stats = engine.statistics.withLock { $0 }
            let tally = declines.counts.withLock { $0 }
            if !tally.isEmpty { print("  not approved: " + tally.sorted { $0.key < $1.key }.map { "\($0.key) x\($0.value)" }.joined(separator: ", ")) }
            return Result(approved: approved, seconds: seconds, batches: stats.batches, largest: stats.largestBatch)
        }
    }
}

extension Bench {
    /// The ceiling: the same journals, postings and transaction rows a payment writes, straight into
    /// PostgreSQL by the fastest bulk path (1,000-payment `unnest` batches on a few connections),
    /// with no switch, no TLS, no decisions. Same schema, triggers and indexes as the switch.
    struct Ceiling: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Payments/s written straight into PostgreSQL (no switch): the ceiling.")
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var consent: Consent
        @Option(help: "Payments to write.") var payments: Int = 200_000
        @Option(help: "Payments per transaction.") var batch: Int = 1_000
        @Option(help: "Concurrent connections.") var connections: Int = 2
        @Option(help: "Payment points the payments spread over.") var paymentPoints: Int = 50

        func run() async throws {
            guard (1...10_000_000).contains(payments), (1...10_000).contains(batch), (1...32).contains(connections) else {
                throw ValidationError("payments 1...10000000, batch 1...10000, connections 1...32")
            }
            let logger = makeLogger("sasando.bench", level: .warning)
            let payments = self.payments, batch = self.batch, connections = self.connections, paymentPoints = self.paymentPoints
            try await withDatabase(database, logger: logger) { db in
                let terminals = try await Posting.setUp(db: db, paymentPoints: paymentPoints)
                var ids: [String: Int64] = [:]
                let rows = try await db.client.query("SELECT code, id FROM accounts WHERE code LIKE 'DEP:BENCHPP%' OR code LIKE 'COM:BENCHPP%' OR code IN ('BANK:FEE', 'PAY:PLNPOST')")
                for try await (code, id) in rows.decode((String, Int64).self) { ids[code] = id }
                if ids["PAY:PLNPOST"] == nil {
                    try await db.client.query("INSERT INTO accounts (code, kind, biller_id) VALUES ('PAY:PLNPOST', 'biller_payable', 'PLNPOST') ON CONFLICT DO NOTHING")
                    let r = try await db.client.query("SELECT id FROM accounts WHERE code = 'PAY:PLNPOST'")
                    for try await id in r.decode(Int64.self) { ids["PAY:PLNPOST"] = id }
                }
                let accountIDs = ids
                let run = Int.random(in: 100_000...999_999)
                let counter = Counter((payments + batch - 1) / batch)
                let date = try await Bench.openBusinessDate(db).description
                let start = ContinuousClock.now
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for worker in 0..<connections {
                        group.addTask {
                            var b = worker
                            while counter.take() {
                                try await Self.writeBatch(db: db, index: b, size: batch, run: run, date: date, terminals: terminals, ids: accountIDs)
                                b += connections
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                let elapsed = start.duration(to: .now)
                let seconds = elapsed.inSeconds
                let written = ((payments + batch - 1) / batch) * batch
                print(String(format: "ceiling: %d payments (journals + 4 postings + transaction row) in %.2f s = %.0f payments/s", written, seconds, Double(written) / seconds))
            }
        }

        static func writeBatch(db: SasandoDatabase, index: Int, size: Int, run: Int, date: String, terminals: [TerminalRecord], ids: [String: Int64]) async throws {
            try await db.client.withTransaction(logger: db.logger) { connection in
                var journalIDs: [Int64] = []
                let seq = try await connection.query("SELECT nextval('journals_id_seq') FROM generate_series(1, \(size))", logger: db.logger)
                for try await id in seq.decode(Int64.self) { journalIDs.append(id) }
                try await connection.query("""
                    INSERT INTO journals (id, kind, business_date) SELECT id, 'payment', \(date)::date FROM unnest(\(journalIDs)::int8[]) AS x(id)
                    """, logger: db.logger)
                var pj: [Int64] = [], pa: [Int64] = [], ps: [String] = [], pm: [Int64] = []
                var tid: [String] = [], stan: [String] = [], time: [String] = [], merchant: [String] = [], amount: [Int64] = []
                pj.reserveCapacity(size * 4)
                for (i, journal) in journalIDs.enumerated() {
                    let t = terminals[i % terminals.count]
                    let bill: Int64 = 1_000_000 + Int64(i % 1000) * 100, fee: Int64 = 250_000, commission: Int64 = 125_000
                    for (account, side, value) in [(ids["DEP:\(t.merchantID)"]!, "D", bill + fee), (ids["PAY:PLNPOST"]!, "C", bill),
                                                   (ids["BANK:FEE"]!, "C", fee - commission), (ids["COM:\(t.merchantID)"]!, "C", commission)] {
                        pj.append(journal); pa.append(account); ps.append(side); pm.append(value)
                    }
                    tid.append(t.terminalID)
                    stan.append(String(format: "%06d", (index * size + i) % 1_000_000))
                    time.append(String(format: "%04d%06d", run % 10_000, (index * size + i) / 1_000_000 + (run / 10_000) * 100))
                    merchant.append(t.merchantID)
                    amount.append(bill)
                }
                try await connection.query("""
                    INSERT INTO postings (journal_id, account_id, side, amount) SELECT * FROM unnest(\(pj)::int8[], \(pa)::int8[], \(ps)::text[], \(pm)::int8[])
                    """, logger: db.logger)
                try await connection.query("""
                    INSERT INTO transactions (terminal_id, stan, transmitted_at, kind, request_digest, merchant_id, rrn, product, customer_id,
                                              amount_sen, fee_sen, business_date, response_code, response_body, journal_id)
                    SELECT t, s, tm, 'payment', '\\x00', m, s || tm, 'PLNPOST', '123456789012', a, 250000, \(date)::date, '00', '\\x00', j
                    FROM unnest(\(tid)::text[], \(stan)::text[], \(time)::text[], \(merchant)::text[], \(amount)::int8[], \(journalIDs)::int8[]) AS x(t, s, tm, m, a, j)
                    """, logger: db.logger)
            }
        }
    }
}

final class CodeTally: Sendable {
    let counts = Mutex<[String: Int]>([:])
    func record(_ code: String) { counts.withLock { $0[code, default: 0] += 1 } }
}

/// Hands out a fixed number of work items to concurrent workers.
final class Counter: Sendable {
    private let remaining: Mutex<Int>
    init(_ n: Int) { remaining = Mutex(n) }
    func take() -> Bool { remaining.withLock { r in if r > 0 { r -= 1; return true }; return false } }
}
