import Foundation
import Logging
import PostgresNIO
import SasandoCore
import SasandoLedger
import Testing

/// The switch and the staff CLI connect as the application role, sasando_app (schema.sql grants it
/// what they need; scripts/pg gives it a login). These tests connect as it, on databases of their
/// own that the owner migrated: what the application must never do is refused by privilege
/// (SQLSTATE 42501), not only by a trigger a superuser or the tables' owner could disable; and a
/// whole business day, with the staff CLI, runs under it.
@Suite(.serialized) struct ApplicationRoleTests {
    /// The application role's URL for the database `name` (SASANDO_APP_DATABASE_URL, set by
    /// scripts/test, names the role, its password and the shared database).
    static func applicationURL(database name: String) throws -> String {
        let shared = ProcessInfo.processInfo.environment["SASANDO_APP_DATABASE_URL"] ?? ""
        var components = try #require(URLComponents(string: shared), "SASANDO_APP_DATABASE_URL is not set: run ./scripts/test")
        try #require(components.user == "sasando_app", "SASANDO_APP_DATABASE_URL must name the role sasando_app")
        components.path = "/" + name
        return try #require(components.string)
    }

    static let quiet: Logger = {
        var logger = Logger(label: "application-role-test")
        logger.logLevel = .critical
        return logger
    }()

    static func withDatabase<T>(_ url: String, _ body: (SasandoDatabase) async throws -> T) async throws -> T {
        let database = try SasandoDatabase(url: url, connectionsMax: 2, logger: quiet)
        let running = Task { try await database.run() }
        defer { running.cancel() }
        return try await body(database)
    }

    /// The statement's SQLSTATE, or nil when it succeeded.
    static func refusal(_ database: SasandoDatabase, _ sql: String) async -> String? {
        do {
            // Read to the end: an error raised while a SELECT runs comes after its row description.
            for try await _ in try await database.client.query(PostgresQuery(unsafeSQL: sql)) {}
            return nil
        } catch let error as PSQLError {
            return error.serverInfo?[.sqlState] ?? "no answer from the server: \(error)"
        } catch {
            return "\(error)"
        }
    }

    @Test func whatTheApplicationMustNeverDoIsRefusedByPrivilege() async throws {
        try await IsolatedDatabase.using { isolated in
            try await Self.withDatabase(isolated.url) { try await $0.migrate(schemaSQL: IntegrationEnvironment.schemaSQL) }
            let url = try Self.applicationURL(database: isolated.name)
            #expect(try await SasandoDatabase.connectsAsSuperuser(url: url, milliseconds: 10_000, logger: Self.quiet) == false)
            try await Self.withDatabase(url) { app in
                let rows = try await app.client.query("""
                    SELECT current_user::text, rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls FROM pg_roles WHERE rolname = current_user
                    """)
                for try await (user, elevated) in rows.decode((String, Bool).self) {
                    #expect(user == "sasando_app" && !elevated, "\(user) may create roles or databases, replicate or bypass row security")
                }
                // An opening deposit (a journal, its postings), so the rewrites below have rows to aim at.
                try await LedgerAccounts(database: app).openPaymentPoint(merchantID: try await Self.paymentPoint(app), openingDeposit: .rupiah(1_000))
                for statement in [
                    // The ledger and the logs are append-only by privilege, whatever the triggers.
                    "UPDATE journals SET description = 'rewritten'",
                    "DELETE FROM postings",
                    "UPDATE postings SET amount = amount + 1",
                    "UPDATE transactions SET response_code = '00'",
                    "DELETE FROM transactions",
                    "UPDATE audit_events SET detail = ''",
                    "DELETE FROM audit_events",
                    "UPDATE settlement_batches SET settled_by = 'someone'",
                    "UPDATE schema_info SET version = 0",
                    "UPDATE accounts SET code = 'BANK:ELSEWHERE' WHERE code = 'BANK:FEE'",
                    "DELETE FROM accounts",
                    "TRUNCATE postings",
                    // The guards cannot be switched off: not the tables' owner, not a superuser.
                    "ALTER TABLE postings DISABLE TRIGGER postings_apply",
                    "ALTER TABLE journals DISABLE TRIGGER journals_balanced",
                    "ALTER TABLE accounts DROP CONSTRAINT deposit_never_negative",
                    "DROP TRIGGER accounts_guard_balance_change ON accounts",
                    "SELECT sasando_make_append_only('accounts')",
                    "DROP TABLE audit_events",
                    "SET session_replication_role = replica",
                    "CREATE TABLE shadow_ledger (id int)",
                    "CREATE OR REPLACE FUNCTION sasando_check_journal() RETURNS trigger LANGUAGE sql AS 'SELECT NULL'",
                    // Nor the host: files and programs are a superuser's.
                    "COPY (SELECT 1) TO PROGRAM 'true'",
                    "SELECT pg_read_file('/etc/hostname')",
                    "ALTER ROLE sasando_app SUPERUSER",
                ] {
                    let code = await Self.refusal(app, statement)
                    #expect(code == "42501", "\(statement): \(code.map { "SQLSTATE \($0)" } ?? "allowed")")
                }
                // A balance may change only through postings: the role holds UPDATE of balance (the
                // postings trigger runs as the inserting role), and the guard refuses it at depth 0.
                #expect(await Self.refusal(app, "UPDATE accounts SET balance = balance + 1 WHERE code = 'BANK:FEE'") == "23000")
            }
        }
    }

    /// A payment point of the test's own (a deposit account for the rewrites above to aim at).
    static func paymentPoint(_ database: SasandoDatabase) async throws -> String {
        let merchant = "MAPPROLE" + String(format: "%07d", Int.random(in: 0...9_999_999))
        try await TerminalDirectory(database: database).upsertPaymentPoint(merchantID: merchant, name: "Role test")
        return merchant
    }

    /// The day of `SettlementTests.run` (payments of every product, reversals, 0500 totals, staff
    /// cut-over, settlement, biller files, the scheduled cut-over, `ledger verify`), with the switch
    /// and the services connected as the application role; then the staff CLI as the same role.
    @Test func aWholeBusinessDayAndTheStaffCLIRunAsTheApplicationRole() async throws {
        let binary = try #require(CrashRecoveryTests.binary, "SASANDO_BIN is not set: run ./scripts/test")
        try await IsolatedDatabase.using { isolated in
            try await Self.withDatabase(isolated.url) { owner in
                try await owner.migrate(schemaSQL: IntegrationEnvironment.schemaSQL)
                let url = try Self.applicationURL(database: isolated.name)
                let h = try await SwitchHarness.start(terminals: 2, paymentPoints: 2, databaseURL: url, migrated: true,
                                                      businessDayPollMilliseconds: 100)
                do {
                    #expect(try await SasandoDatabase.connectsAsSuperuser(url: url, milliseconds: 10_000, logger: Self.quiet) == false)
                    try await SettlementTests().run(h, owner: owner)

                    let cli = ["SASANDO_DATABASE_URL": url]
                    let terminal = h.folders[0].info.terminalID, merchant = h.folders[0].info.merchantID
                    let block = try await SasandoCLI.run(binary, ["terminals", "block", "--terminal", terminal, "--reason", "lost"], environment: cli)
                    #expect(block.status == 0 && block.output.contains("blocked"), "\(block.output)")
                    let unblock = try await SasandoCLI.run(binary, ["terminals", "unblock", "--terminal", terminal, "--reason", "found"], environment: cli)
                    #expect(unblock.status == 0, "\(unblock.output)")
                    let limit = try await SasandoCLI.run(binary, ["payment-points", "limit", "--merchant", merchant,
                                                                   "--daily-limit", "5000000"], environment: cli)
                    #expect(limit.status == 0, "\(limit.output)")
                    let topup = try await SasandoCLI.run(binary, ["deposit", "topup", "--merchant", merchant, "--amount", "250000"], environment: cli)
                    #expect(topup.status == 0, "\(topup.output)")
                    let verify = try await SasandoCLI.run(binary, ["ledger", "verify"], environment: cli)
                    // The day's last step left one stray journal on the settled date (by the owner, on purpose).
                    #expect(verify.output.contains("no journal was added to a settled date after its settlement"), "\(verify.output)")
                    // Migrations are the owner's: a changed schema is refused, in one line that says so.
                    let changed = FileManager.default.temporaryDirectory.appendingPathComponent("schema-\(UUID().uuidString).sql").path
                    try (IntegrationEnvironment.schemaSQL + "\n-- changed\n").write(toFile: changed, atomically: true, encoding: .utf8)
                    defer { try? FileManager.default.removeItem(atPath: changed) }
                    let migrate = try await SasandoCLI.run(binary, ["db", "migrate", "--schema", changed], environment: cli)
                    #expect(migrate.status == 1 && migrate.output.contains("SQLSTATE 42501") && migrate.output.contains("schema's owner"),
                            "\(migrate.output)")
                } catch {
                    await h.stop()
                    throw error
                }
                await h.stop()
            }
        }
    }
}
