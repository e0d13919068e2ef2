import ArgumentParser
import SasandoLedger

struct Ledger: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Ledger checks.", subcommands: [Verify.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check every ledger invariant from the database alone; non-zero exit on a violation.")
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            let logger = makeLogger("sasando.ledger", level: .warning)
            let (passed, violations) = try await withDatabase(database, logger: logger) { db in
                try await LedgerVerifier(database: db).verify()
            }
            for name in passed { print("ok    \(name)") }
            for v in violations {
                print("FAIL  \(v.check)")
                for row in v.rows { print("        \(row)") }
            }
            if !violations.isEmpty { throw ExitCode(1) }
            print("ledger verified: \(passed.count) checks passed")
        }
    }
}
