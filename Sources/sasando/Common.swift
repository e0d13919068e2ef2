import ArgumentParser
import Foundation
import Logging
import SasandoLedger

/// Options every database command shares.
struct DatabaseOptions: ParsableArguments {
    @Option(name: .customLong("database-url"), help: "PostgreSQL URL (default: $SASANDO_DATABASE_URL).")
    var databaseURL: String?

    func resolvedURL() throws -> String {
        if let databaseURL { return databaseURL }
        if let env = ProcessInfo.processInfo.environment["SASANDO_DATABASE_URL"], !env.isEmpty { return env }
        throw ValidationError("no database: set SASANDO_DATABASE_URL (scripts/pg url prints it) or pass --database-url")
    }
}

func makeLogger(_ label: String, level: Logger.Level = .info) -> Logger {
    var logger = Logger(label: label)
    if let env = ProcessInfo.processInfo.environment["SASANDO_LOG_LEVEL"], let parsed = Logger.Level(rawValue: env) {
        logger.logLevel = parsed
    } else {
        logger.logLevel = level
    }
    return logger
}

/// Runs `body` with a connected database pool, then shuts the pool down.
func withDatabase<T: Sendable>(_ options: DatabaseOptions, logger: Logger,
                               _ body: @escaping @Sendable (SasandoDatabase) async throws -> T) async throws -> T {
    var quiet = logger
    quiet.logLevel = .error
    let database = try SasandoDatabase(url: try options.resolvedURL(), connectionsMax: 4, logger: quiet)
    return try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await database.run(); return nil }
        defer { group.cancelAll() }
        do {
            return try await body(database)
        } catch {
            throw error
        }
    }
}

/// Parses an amount in whole rupiah (`50000`, `50.000`, `Rp 50.000`) into sen. Never floating point.
func parseRupiah(_ text: String) throws -> Int64 {
    var digits = text.replacingOccurrences(of: "Rp", with: "").replacingOccurrences(of: " ", with: "")
    digits = digits.replacingOccurrences(of: ".", with: "")
    guard !digits.isEmpty, digits.count <= 13, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int64(digits) else {
        throw ValidationError("amount must be whole rupiah, e.g. 50000 or 50.000 (got \(text))")
    }
    return value * 100
}
