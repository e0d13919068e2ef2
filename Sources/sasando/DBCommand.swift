import ArgumentParser
import Foundation
import SasandoLedger

struct DB: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "db", abstract: "Database administration.",
                                                    subcommands: [Migrate.self])

    struct Migrate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Apply schema.sql (idempotent).")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Path of schema.sql.") var schema: String = "schema.sql"

        func run() async throws {
            guard let sql = try? String(contentsOfFile: schema, encoding: .utf8) else {
                throw CommandFailure("cannot read \(schema)")
            }
            let logger = makeLogger("sasando.db", level: .warning)
            try await withDatabase(database, logger: logger) { db in
                try await db.migrate(schemaSQL: sql)
            }
            print("schema applied")
        }
    }
}
