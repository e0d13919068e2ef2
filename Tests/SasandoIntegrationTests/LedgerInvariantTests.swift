import Foundation
import Logging
import PostgresNIO
import SasandoLedger
import Testing

/// The database itself refuses any write that would break a ledger invariant (schema.sql), whatever
/// the client does. Straight SQL, own accounts with unique codes.
@Suite(.serialized) struct LedgerInvariantTests {
    final class Fixture: @unchecked Sendable {
        let isolated: IsolatedDatabase
        let database: SasandoDatabase
        let task: Task<Void, any Error>
        let merchant: String
        let depositID: Int64
        let otherID: Int64
        let fundingJournalID: Int64
        var client: PostgresClient { database.client }
        let logger = Logger(label: "ledger-invariant-test")

        init() async throws {
            // Its own database: the whole-ledger check at the end reads this test's rows only.
            isolated = try await IsolatedDatabase.create()
            var logger = Logger(label: "ledger-invariant-test")
            logger.logLevel = .critical
            database = try SasandoDatabase(url: isolated.url, connectionsMax: 4, logger: logger)
            let database = database
            task = Task { try await database.run() }
            try await database.migrate(schemaSQL: IntegrationEnvironment.schemaSQL)
            merchant = "L" + String((0..<14).map { _ in "0123456789".randomElement()! })
            let tag = UUID().uuidString
            let m = merchant
            try await database.client.query("INSERT INTO payment_points (merchant_id, name) VALUES (\(m), 'ledger invariant test')")
            depositID = try await Self.int(database.client, "INSERT INTO accounts (code, kind, merchant_id) VALUES (\("TESTDEP:" + tag), 'deposit', \(m)) RETURNING id")
            otherID = try await Self.int(database.client, "INSERT INTO accounts (code, kind) VALUES (\("TESTCLR:" + tag), 'clearing') RETURNING id")
            // Fund the deposit with a balanced journal: D other 10,000 / C deposit 10,000.
            let (dep, other) = (depositID, otherID)
            fundingJournalID = try await database.client.withTransaction(logger: logger) { c in
                let j = try await Self.journal(c, logger)
                try await c.query("INSERT INTO postings (journal_id, account_id, side, amount) VALUES (\(j), \(other), 'D', 10000), (\(j), \(dep), 'C', 10000)", logger: logger)
                return j
            }
        }

        static func int(_ client: PostgresClient, _ query: PostgresQuery) async throws -> Int64 {
            let rows = try await client.query(query)
            for try await v in rows.decode(Int64.self) { return v }
            throw LedgerError("no row")
        }

        static func journal(_ c: PostgresConnection, _ logger: Logger) async throws -> Int64 {
            let rows = try await c.query("INSERT INTO journals (kind, business_date, description) VALUES ('topup', current_date, 'ledger invariant test') RETURNING id", logger: logger)
            for try await v in rows.decode(Int64.self) { return v }
            throw LedgerError("no journal id")
        }

        func balance(_ id: Int64) async throws -> Int64 {
            try await Self.int(client, "SELECT balance FROM accounts WHERE id = \(id)")
        }

        func stop() async {
            task.cancel()
            await isolated.drop()
        }
    }

    @Test func databaseRefusesEveryBrokenInvariant() async throws {
        let f = try await Fixture()
        let (dep, other, logger) = (f.depositID, f.otherID, f.logger)
        #expect(try await f.balance(dep) == 10000)

        // Unbalanced journal: D 1000 / C 999, refused at COMMIT.
        await #expect(throws: (any Error).self) {
            try await f.client.withTransaction(logger: logger) { c in
                let j = try await Fixture.journal(c, logger)
                try await c.query("INSERT INTO postings (journal_id, account_id, side, amount) VALUES (\(j), \(dep), 'D', 1000), (\(j), \(other), 'C', 999)", logger: logger)
            }
        }
        // One-posting journal (and a journal with none).
        await #expect(throws: (any Error).self) {
            try await f.client.withTransaction(logger: logger) { c in
                let j = try await Fixture.journal(c, logger)
                try await c.query("INSERT INTO postings (journal_id, account_id, side, amount) VALUES (\(j), \(other), 'D', 1000)", logger: logger)
            }
        }
        await #expect(throws: (any Error).self) {
            try await f.client.withTransaction(logger: logger) { c in
                _ = try await Fixture.journal(c, logger)
            }
        }
        // Postings and journals are append-only.
        let postingID = try await Fixture.int(f.client, "SELECT id FROM postings WHERE journal_id = \(f.fundingJournalID) AND account_id = \(dep)")
        await #expect(throws: (any Error).self) {
            try await f.client.query("UPDATE postings SET amount = 5 WHERE id = \(postingID)")
        }
        await #expect(throws: (any Error).self) {
            try await f.client.query("DELETE FROM postings WHERE id = \(postingID)")
        }
        await #expect(throws: (any Error).self) {
            try await f.client.query("UPDATE journals SET description = 'changed' WHERE id = \(f.fundingJournalID)")
        }
        await #expect(throws: (any Error).self) {
            try await f.client.query("DELETE FROM journals WHERE id = \(f.fundingJournalID)")
        }
        // The security log is append-only too: UPDATE, DELETE and TRUNCATE refused by its triggers
        // (each tried in a transaction rolled back afterwards, so a missing guard loses nothing).
        for statement in ["UPDATE audit_events SET detail = 'changed'", "DELETE FROM audit_events", "TRUNCATE audit_events"] {
            let refusal: String? = try await f.client.withConnection { c in
                try await c.query("BEGIN", logger: logger)
                // A row to refuse changing (a row trigger does not fire on an empty table).
                try await c.query("INSERT INTO audit_events (actor, event) VALUES ('invariant-test', 'probe')", logger: logger)
                do {
                    try await c.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    _ = try await c.query("ROLLBACK", logger: logger)
                    return nil
                } catch let error as PSQLError {
                    _ = try? await c.query("ROLLBACK", logger: logger)
                    return error.serverInfo?[.message]
                }
            }
            #expect(refusal?.contains("append-only") == true, "\(statement): \(refusal ?? "not refused")")
        }
        // Balances change only through postings; accounts start at zero and are never deleted.
        // Each refused by its own guard (the message says which), not by some other constraint.
        func refusal(_ sql: PostgresQuery) async -> String? {
            do { try await f.client.query(sql); return nil } catch let error as PSQLError { return error.serverInfo?[.message] } catch { return "\(error)" }
        }
        #expect(await refusal("UPDATE accounts SET balance = 5 WHERE id = \(dep)") == "account balances change only through postings")
        #expect(await refusal("UPDATE accounts SET balance = balance + 1 WHERE id = \(other)") == "account balances change only through postings")
        #expect(await refusal("INSERT INTO accounts (code, kind, balance) VALUES (\("TESTX:" + UUID().uuidString), 'clearing', 100)")
                == "a new account starts at zero; move money with a journal")
        #expect(await refusal("DELETE FROM accounts WHERE id = \(other)") == "accounts are never deleted")
        // A change that leaves the balance alone is not a balance change.
        #expect(await refusal("UPDATE accounts SET biller_id = biller_id WHERE id = \(other)") == nil)
        // A deposit never goes negative: D deposit 10,001 of a 10,000 balance.
        await #expect(throws: (any Error).self) {
            try await f.client.withTransaction(logger: logger) { c in
                let j = try await Fixture.journal(c, logger)
                try await c.query("INSERT INTO postings (journal_id, account_id, side, amount) VALUES (\(j), \(dep), 'D', 10001), (\(j), \(other), 'C', 10001)", logger: logger)
            }
        }
        // One currency: IDR.
        await #expect(throws: (any Error).self) {
            try await f.client.withTransaction(logger: logger) { c in
                let j = try await Fixture.journal(c, logger)
                try await c.query("INSERT INTO postings (journal_id, account_id, side, amount, currency) VALUES (\(j), \(other), 'D', 100, 'USD'), (\(j), \(dep), 'C', 100, 'USD')", logger: logger)
            }
        }
        // Non-positive amounts.
        await #expect(throws: (any Error).self) {
            try await f.client.withTransaction(logger: logger) { c in
                let j = try await Fixture.journal(c, logger)
                try await c.query("INSERT INTO postings (journal_id, account_id, side, amount) VALUES (\(j), \(other), 'D', 0), (\(j), \(dep), 'C', 0)", logger: logger)
            }
        }
        // Postings may not be added to a journal from an earlier transaction (even balanced ones).
        let funding = f.fundingJournalID
        await #expect(throws: (any Error).self) {
            try await f.client.withTransaction(logger: logger) { c in
                try await c.query("INSERT INTO postings (journal_id, account_id, side, amount) VALUES (\(funding), \(other), 'D', 50), (\(funding), \(dep), 'C', 50)", logger: logger)
            }
        }

        // A posting to an account that does not exist: a foreign-key violation (the statement
        // trigger's check), and the balanced account beside it is not touched.
        do {
            try await f.client.withTransaction(logger: logger) { c in
                let j = try await Fixture.journal(c, logger)
                try await c.query("INSERT INTO postings (journal_id, account_id, side, amount) VALUES (\(j), \(other), 'D', 70), (\(j), \(Int64.max), 'C', 70)", logger: logger)
            }
            Issue.record("a posting to a missing account was accepted")
        } catch let error as PostgresTransactionError {
            let refused = error.closureError as? PSQLError
            #expect(refused?.serverInfo?[.sqlState] == "23503", "\(String(reflecting: error))")
        }

        // Nothing of the above left a trace.
        #expect(try await f.balance(dep) == 10000)
        #expect(try await f.balance(other) == -10000)
        #expect(try await Fixture.int(f.client, "SELECT count(*) FROM postings WHERE account_id IN (\(dep), \(other))") == 2)
        #expect(try await Fixture.int(f.client, "SELECT count(*) FROM postings WHERE journal_id = \(funding)") == 2)

        // A correct journal still goes through.
        try await f.client.withTransaction(logger: logger) { c in
            let j = try await Fixture.journal(c, logger)
            try await c.query("INSERT INTO postings (journal_id, account_id, side, amount) VALUES (\(j), \(dep), 'D', 10000), (\(j), \(other), 'C', 10000)", logger: logger)
        }
        #expect(try await f.balance(dep) == 0)

        let result = try await LedgerVerifier(database: f.database).verify()
        #expect(result.violations.isEmpty, "\(result.violations.map { "\($0.check): \($0.rows)" })")
        await f.stop()
    }

    /// A terminal never moves to another payment point (a reversal's deposit lock relies on it):
    /// refused by the database, whoever asks; its status still changes.
    @Test func aTerminalStaysWithItsPaymentPoint() async throws {
        let f = try await Fixture()
        let terminal = "M" + String((0..<7).map { _ in "0123456789".randomElement()! })
        let elsewhere = "M" + f.merchant.dropFirst()
        let directory = TerminalDirectory(database: f.database)
        try await directory.insertTerminal(terminalID: terminal, merchantID: f.merchant, macKey: Array(repeating: 3, count: 32))
        try await directory.upsertPaymentPoint(merchantID: elsewhere, name: "another payment point")
        func refusal(_ sql: PostgresQuery) async -> String? {
            do { try await f.client.query(sql); return nil } catch let error as PSQLError {
                return "\(error.serverInfo?[.sqlState] ?? "?") \(error.serverInfo?[.message] ?? "")"
            } catch { return "\(error)" }
        }
        let moved = await refusal("UPDATE terminals SET merchant_id = \(elsewhere) WHERE terminal_id = \(terminal)")
        #expect(moved?.hasPrefix("23000 terminal \(terminal) stays with payment point \(f.merchant)") == true, "\(moved ?? "not refused")")
        let renamed = await refusal("UPDATE terminals SET terminal_id = 'Z0000001' WHERE terminal_id = \(terminal)")
        #expect(renamed?.hasPrefix("23000 ") == true, "\(renamed ?? "not refused")")
        // Re-keying through the bench's upsert to another payment point is refused the same way.
        await #expect(throws: PSQLError.self) {
            try await directory.insertTerminal(terminalID: terminal, merchantID: elsewhere, macKey: Array(repeating: 4, count: 32))
        }
        // What does change: its status, and its key under the same payment point.
        #expect(await refusal("UPDATE terminals SET status = 'blocked' WHERE terminal_id = \(terminal)") == nil)
        try await directory.insertTerminal(terminalID: terminal, merchantID: f.merchant, macKey: Array(repeating: 5, count: 32))
        #expect(try await Fixture.int(f.client, "SELECT count(*) FROM terminals WHERE terminal_id = \(terminal) AND merchant_id = \(f.merchant) AND status = 'blocked'") == 1)
        await f.stop()
    }

    /// Balanced journals are not enough: a payment posted twice over on both sides balances, and
    /// its balances still equal its postings. `ledger verify` holds every approved payment's
    /// postings against what its terminal was told (found by a review that doubled them with a
    /// trigger while the load test's audit and verify both passed).
    @Test func verifyNamesAPaymentWhosePostingsAreNotWhatItsTerminalWasTold() async throws {
        try await IsolatedDatabase.using { isolated in
            let h = try await SwitchHarness.start(databaseURL: isolated.url)
            let (client, requests, folder) = try await h.signedOn(0)
            let inquiry = try await client.send(requests.inquiry(product: "PLNPOST", customerID: PaymentFlowTests.customer(12)), macKey: folder.macKey)
            #expect(try await client.send(requests.payment(from: inquiry), macKey: folder.macKey)[39] == "00")
            #expect(try await LedgerVerifier(database: h.database).verify().violations.isEmpty)

            // A posting bug: every posting of a payment journal doubled, both sides, so it still balances.
            try await h.database.client.query("""
                CREATE FUNCTION test_double_payment_postings() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF (SELECT kind FROM journals WHERE id = NEW.journal_id) = 'payment' THEN NEW.amount := NEW.amount * 2; END IF;
                    RETURN NEW;
                END $$
                """)
            try await h.database.client.query("CREATE TRIGGER test_double BEFORE INSERT ON postings FOR EACH ROW EXECUTE FUNCTION test_double_payment_postings()")
            let second = try await client.send(requests.inquiry(product: "PDAMKPG", customerID: PaymentFlowTests.customer(8)), macKey: folder.macKey)
            let payment = requests.payment(from: second)
            #expect(try await client.send(payment, macKey: folder.macKey)[39] == "00")

            let violations = try await LedgerVerifier(database: h.database).verify().violations
            #expect(violations.map(\.check) == ["every approved payment posted exactly what its terminal was told"])
            #expect(violations.first?.rows.count == 1)
            #expect(violations.first?.rows.first?.contains("\(folder.info.terminalID) STAN \(payment[11]!)") == true)
            await client.close()
            await h.stop()
        }
    }

    /// An IPL payment credited to another estate's payable balances and has the right sum, but
    /// the settlement would pay the wrong estate: the check holds the payable to the customer's
    /// estate (a review found it compared only the product).
    @Test func verifyNamesAnIPLPaymentCreditedToAnotherEstate() async throws {
        try await IsolatedDatabase.using { isolated in
            let h = try await SwitchHarness.start(databaseURL: isolated.url)
            let (client, requests, folder) = try await h.signedOn(0)
            let customer = "4321" + String(PaymentFlowTests.customer(6))
            let inquiry = try await client.send(requests.inquiry(product: "IPL", customerID: customer), macKey: folder.macKey)
            #expect(try await client.send(requests.payment(from: inquiry), macKey: folder.macKey)[39] == "00")
            #expect(try await LedgerVerifier(database: h.database).verify().violations.isEmpty)

            // Move the credit to another estate's payable, behind the ledger's back (triggers off).
            try await h.database.client.withTransaction(logger: h.database.logger) { c in
                try await c.query("INSERT INTO accounts (code, kind, biller_id) VALUES ('PAY:IPL:9999', 'biller_payable', 'IPL')", logger: h.database.logger)
                try await c.query("ALTER TABLE postings DISABLE TRIGGER USER", logger: h.database.logger)
                try await c.query("""
                    UPDATE postings SET account_id = (SELECT id FROM accounts WHERE code = 'PAY:IPL:9999')
                    WHERE account_id = (SELECT id FROM accounts WHERE code = 'PAY:IPL:4321')
                    """, logger: h.database.logger)
                try await c.query("ALTER TABLE postings ENABLE TRIGGER USER", logger: h.database.logger)
            }
            let violations = try await LedgerVerifier(database: h.database).verify().violations.map(\.check)
            #expect(violations.contains("every approved payment posted exactly what its terminal was told"), "\(violations)")
            await client.close()
            await h.stop()
        }
    }
}
