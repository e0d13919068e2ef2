import Foundation
import Logging
import PostgresNIO
import SasandoCore
import SasandoISO8583
@testable import SasandoLedger
import SasandoSettlement
import SasandoSwitch
import Testing

/// A COMMIT the server answers with an error has a known outcome: PostgreSQL rolled the
/// transaction back. The terminal gets `91` at once (not silence, which is only for a COMMIT that
/// got no answer), nothing is recorded or posted, and the same request sent again is decided afresh.
@Suite struct CommitRefusedTests {
    /// A deferred trigger named `name` that runs `body` (PL/pgSQL) at COMMIT, for this terminal's
    /// transaction rows only.
    static func atCommit(_ name: String, terminalID: String, _ database: SasandoDatabase, _ body: String) async throws {
        try await database.client.query(PostgresQuery(unsafeSQL: """
            CREATE OR REPLACE FUNCTION \(name)() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \(body) END $$
            """))
        try await database.client.query(PostgresQuery(unsafeSQL: """
            CREATE CONSTRAINT TRIGGER \(name) AFTER INSERT ON transactions DEFERRABLE INITIALLY DEFERRED
            FOR EACH ROW WHEN (NEW.terminal_id = '\(terminalID)') EXECUTE FUNCTION \(name)()
            """))
    }

    @Test func commitRefusedByTheServerIsAnswered91AndNothingIsPosted() async throws {
        try await OwnEngineFixture.run(merchantPrefix: "COMMITRF0", terminalPrefix: "CR", name: "Commit refused", macKeyByte: 7,
                                       label: "commit-refused-test") { f in
            let (database, terminal, flows, payment) = (f.database, f.terminal, f.flows, f.payment)
            let merchant = terminal.merchantID, terminalID = terminal.terminalID
            let depositBefore = try await IntegrationEnvironment.int(database, "SELECT balance FROM accounts WHERE code = \("DEP:" + merchant)")

            // A deferred check that fails at COMMIT, for this terminal's rows only: the write
            // succeeds, COMMIT gets an ErrorResponse.
            let trigger = "test_commit_refused_" + terminalID.dropFirst(2)
            try await Self.atCommit(trigger, terminalID: terminalID, database,
                                    "RAISE EXCEPTION 'refused at COMMIT by the test' USING ERRCODE = 'check_violation';")
            var dropped = false
            func dropTrigger() async throws {
                guard !dropped else { return }
                dropped = true
                try await database.client.query(PostgresQuery(unsafeSQL: "DROP TRIGGER IF EXISTS \(trigger) ON transactions"))
                try await database.client.query(PostgresQuery(unsafeSQL: "DROP FUNCTION IF EXISTS \(trigger)()"))
            }

            let refused: ISOMessage?
            do {
                refused = await flows.process(payment, terminal: terminal)
                try await dropTrigger()
            } catch {
                try? await dropTrigger()
                throw error
            }
            let answer = try #require(refused, "no answer: a refused COMMIT was treated as an unknown outcome")
            #expect(answer[39] == "91")
            #expect(try await IntegrationEnvironment.int(database, "SELECT count(*) FROM transactions WHERE terminal_id = \(terminalID)") == 0)
            #expect(try await IntegrationEnvironment.int(database, "SELECT balance FROM accounts WHERE code = \("DEP:" + merchant)") == depositBefore)

            // Nothing was recorded, so the same request is decided afresh and approved.
            let again = try #require(await flows.process(payment, terminal: terminal))
            #expect(again[39] == "00")
            let total = (Int64(payment[4] ?? "") ?? 0) + (Int64((payment[28] ?? "D0").dropFirst()) ?? 0)
            #expect(try await IntegrationEnvironment.int(database, "SELECT balance FROM accounts WHERE code = \("DEP:" + merchant)") == depositBefore - total)
        }
    }

    /// A COMMIT answered with an error that ends the session (FATAL, here the backend terminated
    /// while it runs a deferred trigger, as in a shutdown) may come after the commit record is
    /// durable, so its outcome is unknown: no answer (the terminal times out and reverses). Here it
    /// did roll back, so nothing is recorded, and the engine goes on: the same request, sent again,
    /// is decided afresh on another connection.
    @Test func aCommitThatEndsTheSessionIsAnUnknownOutcome() async throws {
        try await OwnEngineFixture.run(merchantPrefix: "COMMITRF1", terminalPrefix: "CE", name: "Commit ends session", macKeyByte: 12,
                                       label: "commit-refused-test") { f in
            let (database, terminal, flows, payment) = (f.database, f.terminal, f.flows, f.payment)
            let terminalID = terminal.terminalID
            let trigger = "test_commit_ends_session_" + terminalID.dropFirst(2)
            try await Self.atCommit(trigger, terminalID: terminalID, database,
                                    "PERFORM pg_terminate_backend(pg_backend_pid()); PERFORM pg_sleep(1); RETURN NULL;")
            let answer = await flows.process(payment, terminal: terminal)
            // The pool may lease the ended connection once more before it notices (and PostgresNIO's
            // own query would never be answered on it): batchQuery fails at once, and is asked again.
            for attempt in 1...5 {
                do {
                    try await database.client.withConnection { c in
                        _ = try await c.batchQuery(PostgresQuery(unsafeSQL: "DROP TRIGGER \(trigger) ON transactions"), logger: f.logger).get()
                        _ = try await c.batchQuery(PostgresQuery(unsafeSQL: "DROP FUNCTION \(trigger)()"), logger: f.logger).get()
                    }
                    break
                } catch where attempt < 5 {
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
            #expect(answer == nil, "answered \(answer?[39] ?? "")")
            #expect(try await IntegrationEnvironment.int(database, "SELECT count(*) FROM transactions WHERE terminal_id = \(terminalID)") == 0)
            var again: ISOMessage?
            for _ in 1...3 {
                again = await flows.process(payment, terminal: terminal)
                if again?[39] != "91" { break }
            }
            #expect(again?[39] == "00")
        }
    }

    /// A connection the server has closed: a batch's query on it fails at once, and a request
    /// path's deadline answers in time even around PostgresNIO's own `query`, which is never
    /// answered there.
    @Test func aQueryOnAConnectionTheServerClosedFailsAtOnce() async throws {
        try await OwnEngineFixture.run(merchantPrefix: "COMMITRF2", terminalPrefix: "CC", name: "Closed connection", macKeyByte: 13,
                                       label: "commit-refused-test") { f in
            let database = f.database, logger = f.logger
            try await database.client.withConnection { connection in
                var pid: Int32 = 0
                for try await p in try await connection.query("SELECT pg_backend_pid()", logger: logger).decode(Int32.self) { pid = p }
                _ = try await database.client.withConnection { other in
                    try await other.query("SELECT pg_terminate_backend(\(pid))", logger: logger)
                }
                for _ in 0..<250 where !connection.isClosed { try await Task.sleep(for: .milliseconds(20)) }
                #expect(connection.isClosed)
                let started = ContinuousClock.now
                await #expect(throws: DatabaseConnectionClosed.self) { try await connection.batchQuery("SELECT 1", logger: logger).get() }
                #expect(started.duration(to: .now) < .seconds(1))
                // PostgresNIO's own query on it is never answered; a request path's deadline still
                // answers at its bound (a task group would have waited for it forever).
                let bounded = ContinuousClock.now
                await #expect(throws: DatabaseUnavailable.self) {
                    try await database.withDeadline(milliseconds: 300) { _ = try await connection.query("SELECT 1", logger: logger) }
                }
                #expect(bounded.duration(to: .now) < .seconds(2))
            }
        }
    }
}
