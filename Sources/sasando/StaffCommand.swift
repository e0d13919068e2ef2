import ArgumentParser
import Foundation
import SasandoConsole
import SasandoLedger

struct Staff: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Staff console accounts: add, list, disable/enable (someone left), password (a reset), logout (end every session).",
        subcommands: [Add.self, List.self, Disable.self, Enable.self, Password.self, Logout.self])

    /// The staff user a command acts on, and who does it (for the audit log).
    struct Target: ParsableArguments {
        @Option(help: "Username.") var user: String
        @Option(help: "Who does this, for the audit log (a staff user's name).") var actor: String = "cli"

        func validate() throws {
            guard StaffStore.isValidUsername(user) else { throw ValidationError("--user must be 3-32 characters of a-z 0-9 . _ -") }
            try validateActor(actor)
        }
    }

    /// Runs `body` on the staff store; its refusals (no such user, weak password) are printed as errors.
    static func withStore(_ database: DatabaseOptions, _ body: @escaping @Sendable (StaffStore) async throws -> Void) async throws {
        do {
            try await withDatabase(database, logger: makeLogger("sasando.staff", level: .warning)) { db in try await body(StaffStore(database: db)) }
        } catch let refused as StaffError {
            throw CommandFailure(refused.description)
        }
    }

    static func setDisabled(_ target: Target, _ disabled: Bool, _ database: DatabaseOptions) async throws {
        try await withStore(database) { try await $0.setDisabled(username: target.user, disabled, actor: try await recordedActor(target.actor, on: $0.database)) }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Staff users: role, disabled or not, open sessions.")
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            try await Staff.withStore(database) { store in
                for u in try await store.users() {
                    print("\(u.username)  \(u.role)  \(u.disabled ? "DISABLED" : "active")  \(u.openSessions) open session(s)")
                }
            }
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Disable a staff user (left the bank, suspected compromise): no login, every session ends at once.")
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var target: Target

        func run() async throws {
            try await Staff.setDisabled(target, true, database)
            print("staff user \(target.user) disabled; their sessions ended")
        }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Let a disabled staff user log in again.")
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var target: Target

        func run() async throws {
            try await Staff.setDisabled(target, false, database)
            print("staff user \(target.user) enabled")
        }
    }

    struct Password: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set a staff user's password (a reset): read like `staff add`'s; every session of the user ends.")
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var target: Target
        @Option(name: .customLong("password-file"), help: "File whose first line is the password (else stdin).") var passwordFile: String?

        func run() async throws {
            let password = try readPassword(for: target.user, file: passwordFile)
            let target = self.target
            try await Staff.withStore(database) { try await $0.setPassword(username: target.user, password: password, actor: try await recordedActor(target.actor, on: $0.database)) }
            print("password of \(target.user) set; their sessions ended")
        }
    }

    struct Logout: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "End every console session of a staff user (a lost phone, a shared screen).")
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var target: Target

        func run() async throws {
            let target = self.target
            try await Staff.withStore(database) { store in
                print("\(try await store.logOut(username: target.user, actor: try await recordedActor(target.actor, on: store.database))) session(s) of \(target.user) ended")
            }
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a staff user. The password is read from stdin (first line) or --password-file; never from the command line.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Username: 3-32 characters of a-z 0-9 . _ -") var user: String
        @Option(help: "operator (read only) or supervisor (also cut-over, settlement, deposit top-up).") var role: String
        @Option(name: .customLong("password-file"), help: "File whose first line is the password (else stdin).") var passwordFile: String?

        func validate() throws {
            guard StaffStore.isValidUsername(user) else { throw ValidationError("--user must be 3-32 characters of a-z 0-9 . _ -") }
            guard StaffRole(rawValue: role) != nil else { throw ValidationError("--role must be operator or supervisor") }
        }

        func run() async throws {
            let password = try readPassword(for: user, file: passwordFile)
            let user = self.user, role = StaffRole(rawValue: role)!
            // Adding staff has no --actor (the first supervisor is made this way): who ran it is recorded.
            try await Staff.withStore(database) { try await $0.addUser(username: user, password: password, role: role,
                                                                       actor: try await recordedActor(defaultActor, on: $0.database)) }
            print("staff user \(user) added (\(role.rawValue))")
        }
    }
}

/// First line of the file or of stdin; when stdin is a terminal, asked for without echo.
func readPassword(for user: String, file passwordFile: String?) throws -> String {
    if let passwordFile {
        guard let text = try? String(contentsOfFile: passwordFile, encoding: .utf8) else {
            throw CommandFailure("cannot read \(passwordFile)")
        }
        // The first line, whatever the line ending ("\r\n" is one Character in Swift, so
        // splitting on "\n" alone kept a Windows file whole).
        return String(text.unicodeScalars.prefix { $0 != "\n" && $0 != "\r" })
    }
    if isatty(STDIN_FILENO) == 1 {
        let first = try promptHidden("Password for \(user): ")
        let second = try promptHidden("Repeat: ")
        guard first == second else { throw CommandFailure("the passwords differ") }
        return first
    }
    guard let line = readLine(strippingNewline: true) else { throw CommandFailure("no password on stdin") }
    return line
}

func promptHidden(_ prompt: String) throws -> String {
    FileHandle.standardError.write(Data(prompt.utf8))
    var saved = termios()
    tcgetattr(STDIN_FILENO, &saved)
    var quiet = saved
    quiet.c_lflag &= ~tcflag_t(ECHO)
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet)
    defer {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved)
        FileHandle.standardError.write(Data("\n".utf8))
    }
    guard let line = readLine(strippingNewline: true) else { throw CommandFailure("no password entered") }
    return line
}
