import Foundation
import Logging
import PostgresNIO
import SasandoCore
import SasandoISO8583
@testable import SasandoLedger
import SasandoSettlement
import SasandoSwitch
import Testing

/// A batch's wait on a lock is bounded by the database, past the point where the engine's own
/// deadline stops applying (the write is sent): the snapshot sets the lock and statement timeouts
/// for the rest of the transaction. Another session holds the payment point's commission account,
/// which only the write locks; the payment is answered `91` while the lock is still held, nothing is
/// recorded, and once the lock goes the same request is approved.
@Suite struct BatchWaitBoundTests {
    @Test func aWriteStuckOnALockIsAnswered91WithinTheBound() async throws {
        try await OwnEngineFixture.run(merchantPrefix: "WAITBOUND", terminalPrefix: "WB", name: "Wait bound", macKeyByte: 9,
                                       databaseWaitMilliseconds: 1_000,
                                       label: "batch-wait-bound-test") { f in
            let (database, terminal, flows, payment) = (f.database, f.terminal, f.flows, f.payment)
            let merchant = terminal.merchantID, terminalID = terminal.terminalID
            let logger = f.logger

            let lock = await AccountRowLock.take("COM:" + merchant, in: database, logger: logger)

            enum Race: Sendable { case answered(ISOMessage?), timedOut }
            let started = ContinuousClock.now
            let answering = Task { await flows.process(payment, terminal: terminal) }
            // Ten times the bound (1 s): without the database's timeouts the write waits for the lock, so
            // the lock goes then (a group waits for all its children: the answer must come).
            let first = await withTaskGroup(of: Race.self) { group in
                group.addTask { .answered(await answering.value) }
                group.addTask {
                    try? await Task.sleep(for: .seconds(10))
                    if Task.isCancelled { return .timedOut }
                    lock.release()
                    return .timedOut
                }
                let winner = await group.next() ?? .timedOut
                group.cancelAll()
                return winner
            }
            let elapsed = started.duration(to: .now)
            try await lock.end()
            let answer = await answering.value

            guard case .answered = first else {
                Issue.record("the payment waited for the lock to go (more than 10 s)")
                return
            }
            #expect(try #require(answer, "no answer")[39] == "91")
            #expect(elapsed < .seconds(8), "answered after \(elapsed)")
            #expect(try await IntegrationEnvironment.int(database, "SELECT count(*) FROM transactions WHERE terminal_id = \(terminalID)") == 0)

            // The lock gone, the same request is decided afresh and approved. A parallel test run can
            // hold a debug build's batch past the 1 s bound (91, rolled back): asked again, as a terminal would.
            var again: ISOMessage?
            for _ in 1...5 {
                again = await flows.process(payment, terminal: terminal)
                if again?[39] != "91" { break }
            }
            #expect(try #require(again, "no answer")[39] == "00")
        }
    }

    /// Two instances on one database: one's write waits for a payment point's commission account,
    /// which another session holds; meanwhile the other instance's payment for another payment
    /// point, to the same biller (the same fee-income and payable accounts), is approved, because a
    /// write locks the payment points' own accounts before the shared ones. Once the lock goes, the
    /// waiting payment is approved too.
    @Test func aWriteWaitingForOnePaymentPointHoldsNoSharedAccount() async throws {
        try await OwnEngineFixture.run(merchantPrefix: "LOCKORDRA", terminalPrefix: "LA", name: "Lock order A", macKeyByte: 11,
                                       label: "lock-order-test") { f in
            let logger = f.logger
            let other = try await IntegrationEnvironment.ownPaymentPoint(f.database, merchantPrefix: "LOCKORDRB", terminalPrefix: "LB",
                                                                         name: "Lock order B", deposit: .rupiah(10_000_000), macKeyByte: 12)
            let (flows, day, running) = OwnEngineFixture.instance(on: f.database, logger: logger)
            defer { running.cancel() }
            let requests = TerminalRequests(terminalID: other.terminalID, merchantID: other.merchantID)
            let date = try await day.current().date
            var rng = SystemRandomNumberGenerator()
            // A first payment creates the biller's payable account (as the first payment of a day does).
            let first = BenchmarkWorkload.payment(requests: requests, product: .pdamKupang, businessDate: date, using: &rng)
            #expect(await flows.process(first, terminal: other)?[39] == "00")

            let lock = await AccountRowLock.take("COM:" + f.terminal.merchantID, in: f.database, logger: logger)
            let waiting = Task { await f.flows.process(f.payment, terminal: f.terminal) }
            try await AccountRowLock.waitUntilAwaited(in: f.database)
            let second = BenchmarkWorkload.payment(requests: requests, product: .pdamKupang, businessDate: date, using: &rng)
            let started = ContinuousClock.now
            let answer = await flows.process(second, terminal: other)
            let elapsed = started.duration(to: .now)
            try await lock.end()
            #expect(answer?[39] == "00")
            // Held behind the waiting write, it would wait for that write's 10 s lock timeout.
            #expect(elapsed < .seconds(3), "the other payment point's payment took \(elapsed)")
            #expect(await waiting.value?[39] == "00")
        }
    }

    /// An instance that stops half-way through a batch (frozen, or cut off from the database)
    /// holds the rows it locked: here a session that ran the snapshot for the payment point's
    /// deposit and also holds the shared fee-income account, as a batch past its write does, then
    /// goes quiet. PostgreSQL ends that session once it has been idle in its transaction for the
    /// bound (1 s), so a payment to the same payment point, through the live engine, is approved;
    /// without that timeout it waits for the lock and is answered 91, and so would every payment
    /// after it, until TCP noticed the dead peer.
    @Test func aStoppedInstancesLocksGoWithinTheBound() async throws {
        try await OwnEngineFixture.run(merchantPrefix: "WAITBOUNF", terminalPrefix: "WF", name: "Stopped instance", macKeyByte: 11,
                                       databaseWaitMilliseconds: 1_000,
                                       label: "batch-wait-bound-test") { f in
            let keys = Array(repeating: "'{}'::text[]", count: 7).joined(separator: ", ")
            let rest = Array(repeating: "'{}'::text[]", count: 4).joined(separator: ", ")
            let stopped = await AccountRowLock.holding(PostgresQuery(unsafeSQL: """
                SELECT a.id FROM (SELECT * FROM sasando_batch_snapshot(\(keys), ARRAY['DEP:\(f.terminal.merchantID)'], \(rest), 0, 0, 1000)) s,
                       accounts a WHERE a.code = 'BANK:FEE' FOR UPDATE OF a
                """), in: f.database, logger: f.logger)
            // The payment's own lock wait (1 s) then ends after the stopped session's idle time does.
            try await Task.sleep(for: .milliseconds(300))
            let started = ContinuousClock.now
            var answer: ISOMessage?
            // A debug build on a loaded machine can take the engine past its own 1 s bound: asked
            // again, as a terminal would (the stopped session's locks are gone by then either way).
            for _ in 1...3 {
                answer = await f.flows.process(f.payment, terminal: f.terminal)
                if answer?[39] != "91" { break }
            }
            let elapsed = started.duration(to: .now)
            #expect(answer?[39] == "00")
            #expect(elapsed < .seconds(3), "approved after \(elapsed)")
            // The stopped session is gone: its connection was closed by the server.
            await #expect(throws: (any Error).self) { try await stopped.end() }
        }
    }

    /// The snapshot sets the bound for the rest of the transaction; called without one, as the
    /// previous release calls it (it set its own timeout first), it leaves the timeouts alone, so
    /// instances of both releases can share the database during a rolling upgrade.
    @Test func theSnapshotSetsTheTimeoutsOnlyWhenGivenABound() async throws {
        try await OwnEngineFixture.run(merchantPrefix: "WAITBOUNE", terminalPrefix: "WE", name: "Wait bound call", macKeyByte: 10,
                                       label: "batch-wait-bound-test") { f in
            let logger = f.logger
            func timeoutsAfter(_ call: String) async throws -> [String] {
                try await f.database.client.withConnection { c in
                    try await c.query("BEGIN", logger: logger)
                    try await c.query("SET LOCAL statement_timeout = '7s'", logger: logger)
                    try await c.query(PostgresQuery(unsafeSQL: call), logger: logger)
                    var settings: [String] = []
                    let rows = try await c.query("""
                        SELECT current_setting('lock_timeout'), current_setting('statement_timeout'),
                               current_setting('idle_in_transaction_session_timeout')
                        """, logger: logger)
                    for try await (lock, statement, idle) in rows.decode((String, String, String).self) { settings = [lock, statement, idle] }
                    try await c.query("ROLLBACK", logger: logger)
                    return settings
                }
            }
            // Twelve empty key arrays, no ids wanted.
            let noKeys = Array(repeating: "'{}'::text[]", count: 12).joined(separator: ", ") + ", 0, 0"
            let bounded = try await timeoutsAfter("SELECT * FROM sasando_batch_snapshot(\(noKeys), 1234)")
            let unbounded = try await timeoutsAfter("SELECT * FROM sasando_batch_snapshot(\(noKeys))")
            #expect(bounded == ["1234ms", "1234ms", "1234ms"])
            #expect(unbounded == ["0", "7s", "0"])
        }
    }
}

/// Another session holding one account row `FOR UPDATE` (a pooled connection in a transaction)
/// until released.
struct AccountRowLock {
    private let signal: AsyncStream<Void>.Continuation
    private let holder: Task<Void, any Error>

    static func take(_ code: String, in database: SasandoDatabase, logger: Logger) async -> AccountRowLock {
        await holding("SELECT id FROM accounts WHERE code = \(code) FOR UPDATE", in: database, logger: logger)
    }

    /// The locks `statement` takes, held in an open transaction until `end` (which rolls it back).
    static func holding(_ statement: PostgresQuery, in database: SasandoDatabase, logger: Logger) async -> AccountRowLock {
        let (taken, tookIt) = AsyncStream<Void>.makeStream()
        let (released, signal) = AsyncStream<Void>.makeStream()
        let holder = Task {
            // Ends the wait below if the statement fails (end() then throws its error).
            defer { tookIt.finish() }
            try await database.client.withConnection { c in
                try await c.query("BEGIN", logger: logger)
                try await c.query(statement, logger: logger)
                tookIt.yield()
                for await _ in released { break }
                // batchQuery: the server may have ended this session (PostgresNIO's query would hang).
                _ = try await c.batchQuery("ROLLBACK", logger: logger).get()
            }
        }
        for await _ in taken { break }
        return AccountRowLock(signal: signal, holder: holder)
    }

    func release() { signal.yield() }

    /// Releases the row and waits until the holding transaction has ended.
    func end() async throws {
        signal.yield()
        signal.finish()
        try await holder.value
    }

    /// Returns once a session of this database waits for a lock (5 s at most).
    static func waitUntilAwaited(in database: SasandoDatabase) async throws {
        for _ in 0..<250 {
            let waiting = try await IntegrationEnvironment.int(database, """
                SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'
                """)
            if waiting > 0 { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("no session waited for a lock within 5 s")
    }
}
