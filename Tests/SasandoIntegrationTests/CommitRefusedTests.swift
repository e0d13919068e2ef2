import Foundation
import Logging
import PostgresNIO
import SasandoCore
import SasandoISO8583
import SasandoLedger
import SasandoSettlement
import SasandoSwitch
import Testing

/// A COMMIT the server answers with an error has a known outcome: PostgreSQL rolled the
/// transaction back. The terminal gets `91` at once (not silence, which is only for a COMMIT that
/// got no answer), nothing is recorded or posted, and the same request sent again is decided afresh.
@Suite struct CommitRefusedTests {
    @Test func commitRefusedByTheServerIsAnswered91AndNothingIsPosted() async throws {
        try await OwnEngineFixture.run(merchantPrefix: "COMMITRF0", terminalPrefix: "CR", name: "Commit refused", macKeyByte: 7,
                                       label: "commit-refused-test") { f in
            let (database, terminal, flows, payment) = (f.database, f.terminal, f.flows, f.payment)
            let merchant = terminal.merchantID, terminalID = terminal.terminalID
            let depositBefore = try await IntegrationEnvironment.int(database, "SELECT balance FROM accounts WHERE code = \("DEP:" + merchant)")

            // A deferred check that fails at COMMIT, for this terminal's rows only: the write
            // succeeds, COMMIT gets an ErrorResponse.
            let trigger = "test_commit_refused_" + terminalID.dropFirst(2)
            try await database.client.query(PostgresQuery(unsafeSQL: """
                CREATE OR REPLACE FUNCTION \(trigger)() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'refused at COMMIT by the test' USING ERRCODE = 'check_violation'; END $$
                """))
            try await database.client.query(PostgresQuery(unsafeSQL: """
                CREATE CONSTRAINT TRIGGER \(trigger) AFTER INSERT ON transactions DEFERRABLE INITIALLY DEFERRED
                FOR EACH ROW WHEN (NEW.terminal_id = '\(terminalID)') EXECUTE FUNCTION \(trigger)()
                """))
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
}
