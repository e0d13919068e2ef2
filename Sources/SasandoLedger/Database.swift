import Foundation
import Logging
import NIOPosix
import NIOSSL
import PostgresNIO
import SasandoCore
import ServiceLifecycle
import Synchronization

public struct DatabaseURLError: Error, CustomStringConvertible {
    public let description: String
}

/// The URL's `sslmode` (and `sslrootcert`), read as libpq reads them, so what a DBA writes means
/// what it says: `disable` (no TLS; also when absent: the project's own loopback cluster),
/// `prefer` (TLS if the server offers it, not verified), `require` (TLS, not verified),
/// `verify-ca` (TLS, the server's certificate chain checked against `sslrootcert`, required),
/// `verify-full` (the chain, against `sslrootcert` or the system's roots, and the host name). Any other value is
/// refused: before, everything but `require`, `verify-full` included, silently meant no TLS at all.
public struct DatabaseTLS: Sendable, Equatable {
    public enum Mode: String, Sendable, Equatable, CaseIterable {
        case disable, prefer, require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }
    public var mode: Mode
    public var rootCertificatePath: String?

    public init(_ components: URLComponents) throws {
        let items = components.queryItems ?? []
        let text = items.last(where: { $0.name == "sslmode" })?.value ?? "disable"
        guard let mode = Mode(rawValue: text) else {
            throw DatabaseURLError(description: "sslmode=\(text) is not one of \(Mode.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        self.mode = mode
        rootCertificatePath = items.last(where: { $0.name == "sslrootcert" })?.value
        if rootCertificatePath != nil, mode != .verifyCA, mode != .verifyFull {
            throw DatabaseURLError(description: "sslrootcert is used only with sslmode=verify-ca or verify-full, not \(text)")
        }
        // Without a host name check, the chain is all that is checked: against the public roots any
        // publicly trusted certificate would pass (libpq needs a root file here too).
        if mode == .verifyCA, rootCertificatePath == nil {
            throw DatabaseURLError(description: "sslmode=verify-ca needs sslrootcert=PATH (the CA that issued the database's certificate)")
        }
    }

    /// The client TLS settings for the mode (not used for `disable`).
    public var tlsConfiguration: TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        switch mode {
        case .disable, .prefer, .require: tls.certificateVerification = .none
        case .verifyCA: tls.certificateVerification = .noHostnameVerification
        case .verifyFull: tls.certificateVerification = .fullVerification
        }
        if let rootCertificatePath { tls.trustRoots = .file(rootCertificatePath) }
        return tls
    }

    /// PostgresNIO's choice for the mode: no TLS, TLS if offered, or TLS required (the pool and a
    /// single connection spell these with types of their own, built by the caller).
    func choose<T>(disable: T, prefer: (TLSConfiguration) throws -> T, require: (TLSConfiguration) throws -> T) rethrows -> T {
        switch mode {
        case .disable: return disable
        case .prefer: return try prefer(tlsConfiguration)
        case .require, .verifyCA, .verifyFull: return try require(tlsConfiguration)
        }
    }
}

public enum DatabaseConfiguration {
    /// Parses `postgres://user[:password]@host[:port]/database[?sslmode=...&sslrootcert=...]`
    /// (`sslmode` as libpq has it, see `DatabaseTLS`).
    /// The password, if any, is never logged: `redacted(url:)` gives the printable form.
    /// `connectWaitMilliseconds` bounds opening a connection; the switch gives its instance's
    /// `databaseWaitMilliseconds`, so no wait on the database outlasts the one bound an operator sets.
    public static func client(url: String, connectionsMax: Int = Limits.databaseConnectionsMax,
                              connectionsKeptOpen: Int = 0,
                              connectWaitMilliseconds: Int) throws -> PostgresClient.Configuration {
        guard let components = URLComponents(string: url),
              components.scheme == "postgres" || components.scheme == "postgresql",
              let host = components.host, !host.isEmpty else {
            throw DatabaseURLError(description: "SASANDO_DATABASE_URL must look like postgres://user@host:port/database, got \(redacted(url: url))")
        }
        let database = String(components.path.drop(while: { $0 == "/" }))
        let tls: PostgresClient.Configuration.TLS = try DatabaseTLS(components).choose(
            disable: .disable, prefer: { .prefer($0) }, require: { .require($0) })
        var configuration = PostgresClient.Configuration(
            host: host, port: components.port ?? 5432,
            username: components.user ?? "postgres", password: components.password,
            database: database.isEmpty ? nil : database, tls: tls)
        configuration.options.maximumConnections = connectionsMax
        // A few connections stay open: the posting lanes' connections keep their PL/pgSQL plans and
        // caches warm instead of reconnecting after an idle minute.
        configuration.options.minimumConnections = min(connectionsMax, connectionsKeptOpen)
        configuration.options.connectTimeout = .milliseconds(Int64(connectWaitMilliseconds))
        return configuration
    }

    /// One connection's settings from the same URL, for `SasandoDatabase.probe`.
    public static func connection(url: String, connectWaitMilliseconds: Int) throws -> PostgresConnection.Configuration {
        let pool = try client(url: url, connectWaitMilliseconds: connectWaitMilliseconds)
        guard let host = pool.host else { throw DatabaseURLError(description: "no host in \(redacted(url: url))") }
        let tls: PostgresConnection.Configuration.TLS = try DatabaseTLS(components(url)).choose(
            disable: .disable,
            prefer: { .prefer(try NIOSSLContext(configuration: $0)) },
            require: { .require(try NIOSSLContext(configuration: $0)) })
        var configuration = PostgresConnection.Configuration(
            host: host, port: pool.port ?? 5432, username: pool.username, password: pool.password, database: pool.database,
            tls: tls)
        configuration.options.connectTimeout = .milliseconds(Int64(connectWaitMilliseconds))
        return configuration
    }

    private static func components(_ url: String) throws -> URLComponents {
        guard let components = URLComponents(string: url) else { throw DatabaseURLError(description: "unparseable database URL") }
        return components
    }

    public static func redacted(url: String) -> String {
        guard var components = URLComponents(string: url) else { return "<unparseable URL>" }
        if components.password != nil { components.password = "****" }
        return components.string ?? "<unparseable URL>"
    }
}

/// Thrown when the database did not answer within the instance's `databaseWaitMilliseconds`: the
/// request is answered `91` and nothing was committed by this request's caller.
public struct DatabaseUnavailable: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A statement the server refused, said in one line: its message and SQLSTATE, not the error's
/// dump (which holds the whole statement); a refused privilege also says which role does what.
public struct DatabaseRefusal: Error, CustomStringConvertible {
    public let sqlState: String
    public let description: String

    /// Nil unless `error` (or the failing step of a transaction) carries the server's answer.
    public init?(_ error: any Error) {
        let transaction = error as? PostgresTransactionError
        let inner = transaction.flatMap { $0.beginError ?? $0.closureError ?? $0.commitError } ?? error
        guard let psql = inner as? PSQLError, let state = psql.serverInfo?[.sqlState],
              let message = psql.serverInfo?[.message] else { return nil }
        sqlState = state
        var text = "PostgreSQL refused: \(message) (SQLSTATE \(state))"
        if state == "42501" {
            text += "; the switch and staff commands connect as the application role (`scripts/pg app-url`), "
                + "`sasando db migrate` as the schema's owner (`scripts/pg url`)"
        }
        description = text
    }
}

/// The PostgreSQL connection pool, run as a Service in the ServiceGroup.
public final class SasandoDatabase: Service, Sendable {
    public let client: PostgresClient
    public let logger: Logger
    /// `withDeadline`'s bound unless a call gives its own: the instance's `databaseWaitMilliseconds`.
    public let waitMilliseconds: Int
    /// The pool's settings (its bound on opening a connection is `waitMilliseconds` too).
    public let configuration: PostgresClient.Configuration

    /// - Parameter connectionsKeptOpen: open even when idle (the switch keeps
    ///   `Limits.databaseConnectionsKeptOpen`, so the posting lanes' plans and caches stay warm; a
    ///   one-shot command keeps none).
    public init(url: String, connectionsMax: Int = Limits.databaseConnectionsMax, connectionsKeptOpen: Int = 0,
                waitMilliseconds: Int = Limits.databaseWaitMillisecondsDefault, logger: Logger) throws {
        precondition((1...Limits.databaseWaitMillisecondsMax).contains(waitMilliseconds))
        self.waitMilliseconds = waitMilliseconds
        // PostgresNIO's trace level prints every message from the server, data rows included:
        // terminals' MAC keys and customer IDs. Never below debug, whatever SASANDO_LOG_LEVEL says.
        var logger = logger
        logger.logLevel = max(logger.logLevel, .debug)
        self.configuration = try DatabaseConfiguration.client(url: url, connectionsMax: connectionsMax,
                                                              connectionsKeptOpen: connectionsKeptOpen,
                                                              connectWaitMilliseconds: waitMilliseconds)
        self.client = PostgresClient(configuration: configuration, eventLoopGroup: Self.eventLoopGroup, backgroundLogger: logger)
        self.logger = logger
    }

    public func run() async throws {
        await client.run()
    }

    /// Opens one connection and closes it, failing within `milliseconds` with what went wrong:
    /// refused, unreachable, no such database, wrong password. The pool itself retries for ever and
    /// never fails a waiting query, so a one-shot command checks first (without this, a stopped
    /// server or a typo in the URL looked like a command that hung).
    public static func probe(url: String, milliseconds: Int, logger: Logger) async throws {
        let where_ = DatabaseConfiguration.redacted(url: url)
        do {
            try await withOwnConnection(url: url, milliseconds: milliseconds, logger: logger) { _ in }
        } catch let error as DatabaseUnavailable {
            throw DatabaseUnavailable("cannot connect to PostgreSQL at \(where_): \(error.description)")
        } catch let error as PSQLError {
            if let message = error.serverInfo?[.message] {
                throw DatabaseUnavailable("PostgreSQL at \(where_) refused the connection: \(message)")
            }
            let cause = error.underlying.map { "\($0)" } ?? "\(error.code)"
            throw DatabaseUnavailable("cannot connect to PostgreSQL at \(where_) within \(milliseconds) ms: \(cause)")
        } catch {
            throw DatabaseUnavailable("cannot connect to PostgreSQL at \(where_) within \(milliseconds) ms: \(error)")
        }
    }

    /// The database's own I/O thread, apart from the terminal connections' event loops: a batch's
    /// round trips then never wait behind a thousand connections' TLS work (measured: a bare BEGIN
    /// took about 1 ms on the shared loops at 2,000 requests/s). Lives as long as the process.
    static let eventLoopGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    /// That thread as a task executor, for the posting engine's dispatcher and batches.
    static let taskExecutor = EventLoopTaskExecutor(eventLoop: eventLoopGroup.next())

    /// Applies a schema script statement by statement, in one transaction (all or nothing).
    /// A script identical to the last one applied (same fingerprint in `schema_info`) is skipped:
    /// its DDL would take exclusive locks on a database that is serving traffic for nothing.
    public func migrate(schemaSQL: String) async throws {
        let statements = Self.splitStatements(schemaSQL)
        let fingerprint = Self.fingerprint(schemaSQL)
        let logger = self.logger
        if try await appliedFingerprint() == fingerprint { return }
        try await client.withTransaction(logger: logger) { connection in
            // Two instances (or test suites) migrating at once would deadlock on the triggers.
            try await connection.query("SELECT pg_advisory_xact_lock(7277263)", logger: logger)
            for statement in statements {
                try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
            }
            try await connection.query("UPDATE schema_info SET checksum = \(fingerprint), applied_at = now() WHERE id = 1", logger: logger)
        }
    }

    /// Whether `url` logs in as a superuser, who can disable the ledger's triggers and read the
    /// host's files (the switch should run as the application role; README, "Database roles").
    /// Asked on a connection of its own, within `milliseconds`: `serve` asks before its pool runs
    /// (a pool queried before it runs logs a warning and waits).
    public static func connectsAsSuperuser(url: String, milliseconds: Int, logger: Logger) async throws -> Bool {
        try await withOwnConnection(url: url, milliseconds: milliseconds, logger: logger) { connection in
            let rows = try await connection.query("SELECT rolsuper FROM pg_roles WHERE rolname = current_user", logger: logger)
            var superuser = false
            for try await value in rows.decode(Bool.self) { superuser = value }
            return superuser
        }
    }

    /// One connection of its own for `body`, closed afterwards whatever `body` did; the whole of it
    /// bounded by `milliseconds` (a server that accepts TCP but never answers the startup would
    /// outlast the connect timeout).
    private static func withOwnConnection<T: Sendable>(url: String, milliseconds: Int, logger: Logger,
                                                       _ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let configuration = try DatabaseConfiguration.connection(url: url, connectWaitMilliseconds: milliseconds)
        return try await answerWithin(milliseconds: milliseconds) {
            let connection = try await PostgresConnection.connect(on: eventLoopGroup.next(), configuration: configuration, id: 0, logger: logger)
            let answer: Result<T, any Error>
            do { answer = .success(try await body(connection)) } catch { answer = .failure(error) }
            try? await connection.close()
            return try answer.get()
        }
    }

    private func appliedFingerprint() async throws -> String? {
        let exists = try await client.query("SELECT to_regclass('public.schema_info') IS NOT NULL")
        for try await present in exists.decode(Bool.self) where !present { return nil }
        let hasColumn = try await client.query("""
            SELECT count(*) FROM information_schema.columns WHERE table_name = 'schema_info' AND column_name = 'checksum'
            """)
        for try await n in hasColumn.decode(Int.self) where n == 0 { return nil }
        let rows = try await client.query("SELECT checksum FROM schema_info WHERE id = 1")
        for try await checksum in rows.decode(String?.self) { return checksum }
        return nil
    }

    /// FNV-1a 64 of the script: stable across processes and releases.
    static func fingerprint(_ text: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return String(hash, radix: 16)
    }

    /// Splits a script at `;` ending a line, except inside `$$` function bodies; drops comments.
    static func splitStatements(_ script: String) -> [String] {
        var statements: [String] = []
        var current = ""
        var inDollarQuote = false
        for rawLine in script.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = String(rawLine)
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if !inDollarQuote && (trimmed.hasPrefix("--") || trimmed.isEmpty) { continue }
            current += line + "\n"
            if line.components(separatedBy: "$$").count % 2 == 0 { inDollarQuote.toggle() }
            if !inDollarQuote && trimmed.hasSuffix(";") {
                statements.append(current)
                current = ""
            }
        }
        if !current.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { statements.append(current) }
        return statements
    }

    /// Runs `body` on one connection in a read-only REPEATABLE READ transaction: every statement
    /// reads one snapshot, so a report's parts tie to the sen even while payments post. Rolled back
    /// when `body` throws. With `statementTimeoutMilliseconds` each statement that runs longer is
    /// cancelled by the server (a `PSQLError`; the console answers its 503 page).
    public func withReadOnlySnapshot<T>(statementTimeoutMilliseconds: Int? = nil,
                                        _ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await client.withConnection { connection in
            try await connection.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: logger)
            do {
                if let statementTimeoutMilliseconds {
                    try await connection.query("SELECT set_config('statement_timeout', \(String(statementTimeoutMilliseconds)), true)", logger: logger)
                }
                let result = try await body(connection)
                try await connection.query("COMMIT", logger: logger)
                return result
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
        }
    }

    /// Runs `body`, failing with `DatabaseUnavailable` if it takes longer than `milliseconds`
    /// (default: `waitMilliseconds`). Used on request paths so that a dead database gives a prompt
    /// `91`, never a hang.
    ///
    /// `body` runs in a task of its own, not a task group's child: a group waits for its children,
    /// and PostgresNIO 1.33 never answers a query written to a connection that has just closed (see
    /// `batchQuery`), so a group would wait for such a body forever. Here the caller gets its answer
    /// at the deadline, and a body still running then is cancelled and left to end by itself.
    public func withDeadline<T: Sendable>(milliseconds: Int? = nil,
                                          _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await Self.answerWithin(milliseconds: milliseconds ?? waitMilliseconds, body)
    }

    /// `withDeadline` for any body, with or without a pool.
    static func answerWithin<T: Sendable>(milliseconds: Int, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let work = Task { try await body() }
        let answer = FirstAnswer<T>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                answer.wait(continuation)
                let timer = Task {
                    try? await Task.sleep(for: .milliseconds(milliseconds))
                    guard !Task.isCancelled else { return }
                    work.cancel()
                    answer.give(.failure(DatabaseUnavailable("no answer from PostgreSQL within \(milliseconds) ms")))
                }
                Task {
                    let result: Result<T, any Error>
                    do { result = .success(try await work.value) } catch { result = .failure(error) }
                    timer.cancel()
                    answer.give(result)
                }
            }
        } onCancel: {
            work.cancel()
        }
    }
}

/// Statements on the pool that answer within a bound, or fail with `DatabaseUnavailable`: for the
/// staff console, whose pages must answer (a 503) rather than hang on a query PostgresNIO never
/// answers (see `withDeadline`).
public struct BoundedQueries: Sendable {
    public let database: SasandoDatabase
    public let milliseconds: Int

    public init(database: SasandoDatabase, milliseconds: Int) {
        self.database = database
        self.milliseconds = milliseconds
    }

    public func query(_ query: PostgresQuery) async throws -> PostgresRowSequence {
        try await database.withDeadline(milliseconds: milliseconds) { [client = database.client] in try await client.query(query) }
    }
}

/// The first of several answers resumes the waiting continuation; the others are dropped.
private final class FirstAnswer<T: Sendable>: Sendable {
    private let waiting = Mutex<CheckedContinuation<T, any Error>?>(nil)
    func wait(_ continuation: CheckedContinuation<T, any Error>) { waiting.withLock { $0 = continuation } }
    func give(_ result: Result<T, any Error>) {
        waiting.withLock { c -> CheckedContinuation<T, any Error>? in defer { c = nil }; return c }?.resume(with: result)
    }
}
