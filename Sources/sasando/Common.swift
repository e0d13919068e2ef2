import ArgumentParser
import SasandoCore
import Foundation
import Logging
import SasandoConsole
import SasandoLedger
import SasandoSettlement

/// A command that could not do its work: printed as `Error: ...`, exit status 1 (not 64, which
/// says the command line itself was wrong).
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// `--actor`, as the audit log records it: a staff username's shape (a-z 0-9 . _ -, 3-32), so an
/// empty, overlong or free-text actor cannot muddy the trail. Default "cli".
func validateActor(_ actor: String) throws {
    guard StaffStore.isValidUsername(actor) else {
        throw ValidationError("--actor must be a staff username (3-32 characters of a-z 0-9 . _ -), got \"\(actor.prefix(40))\"")
    }
}

/// Who an action is recorded as, in the audit log and (settlement) the batch. The CLI has no
/// login, so a typed name proves nothing; it must at least be what the console would let act:
/// `--actor NAME` is refused unless NAME is an enabled supervisor. Without `--actor`, the record
/// says `cli:` and the operating-system user and host that ran the command, rather than a name
/// nobody checked (a review recorded an operator, and a user who does not exist, as the staff
/// member who settled a date).
func recordedActor(_ actor: String, on database: SasandoDatabase) async throws -> String {
    guard actor != defaultActor else {
        let account = getpwuid(getuid()).flatMap { $0.pointee.pw_name.map { String(cString: $0) } } ?? "uid\(getuid())"
        // SUDO_USER is only an environment variable: believed only when running as root (what sudo
        // gives), and, like the account and host names, kept to a plain name's characters.
        let sudoUser = getuid() == 0 ? ProcessInfo.processInfo.environment["SUDO_USER"].map(plainName) : nil
        let user = sudoUser.map { "\($0) via sudo as \(plainName(account))" } ?? plainName(account)
        return "cli:\(user)@\(plainName(ProcessInfo.processInfo.hostName))"
    }
    guard try await StaffStore(database: database).activeRole(username: actor) == .supervisor else {
        throw CommandFailure("--actor \(actor) is not an enabled supervisor (`sasando staff list`); nothing was done. Leave --actor out to be recorded as cli:USER@HOST")
    }
    return actor
}

let defaultActor = "cli"

/// A user or host name for the audit log: letters, digits and `. _ -` only, at most 64.
func plainName(_ text: String) -> String {
    let kept = text.unicodeScalars.filter { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || ".-_".unicodeScalars.contains($0)) }
    let name = String(String.UnicodeScalarView(kept.prefix(64)))
    return name.isEmpty ? "?" : name
}

/// Options every database command shares.
struct DatabaseOptions: ParsableArguments {
    @Option(name: .customLong("database-url"), help: "PostgreSQL URL (default: $SASANDO_DATABASE_URL). A password in it is visible to every local user (ps); prefer the environment.")
    var databaseURL: String?

    func validate() throws {
        // Arguments are world-readable (/proc/PID/cmdline): a password there is disclosed.
        if let databaseURL, URLComponents(string: databaseURL)?.password != nil {
            throw ValidationError("--database-url holds a password, which every local user can read in the process list; "
                                  + "set SASANDO_DATABASE_URL instead (scripts/pg url prints it)")
        }
    }

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
    let url = try options.resolvedURL()
    do {
        try await SasandoDatabase.probe(url: url, milliseconds: Limits.commandConnectMilliseconds, logger: quiet)
    } catch let error as DatabaseUnavailable {
        throw CommandFailure("\(error.description) (is it running? `scripts/pg status`; the URL comes from --database-url or SASANDO_DATABASE_URL)")
    }
    let database = try SasandoDatabase(url: url, connectionsMax: 4, logger: quiet)
    return try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await database.run(); return nil }
        defer { group.cancelAll() }
        do {
            return try await body(database)
        } catch let refused as SettlementError {
            // A refusal with its reason (a date not closed, a range too long): exit 1 and say why.
            throw CommandFailure(refused.description)
        } catch {
            // The server's own refusal (a privilege, a constraint) in one line, not a dump of the statement.
            if let refused = DatabaseRefusal(error) { throw CommandFailure(refused.description) }
            throw error
        }
    }
}

/// An amount in whole rupiah as typed (`50000`, `50.000`, `Rp 50.000,00`) into sen: the console's
/// strict rules (`Sen.parseTypedRupiah`). Never floating point.
func parseRupiah(_ text: String) throws -> Int64 {
    do {
        return try Sen.parseTypedRupiah(text).value
    } catch {
        throw ValidationError("amount: \(error.description)")
    }
}
