import ArgumentParser
import Foundation
import SasandoConsole
import SasandoLedger

struct Staff: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Staff console accounts.", subcommands: [Add.self])

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
            let password = try readPassword()
            let logger = makeLogger("sasando.staff", level: .warning)
            let user = self.user, role = StaffRole(rawValue: role)!
            do {
                try await withDatabase(database, logger: logger) { db in
                    try await StaffStore(database: db).addUser(username: user, password: password, role: role)
                }
            } catch let error as StaffError {
                throw ValidationError(error.description)
            }
            print("staff user \(user) added (\(role.rawValue))")
        }

        /// First line of the file or of stdin; when stdin is a terminal, asked for without echo.
        func readPassword() throws -> String {
            if let passwordFile {
                guard let text = try? String(contentsOfFile: passwordFile, encoding: .utf8) else {
                    throw ValidationError("cannot read \(passwordFile)")
                }
                // The first line, whatever the line ending ("\r\n" is one Character in Swift, so
                // splitting on "\n" alone kept a Windows file whole).
                return String(text.unicodeScalars.prefix { $0 != "\n" && $0 != "\r" })
            }
            if isatty(STDIN_FILENO) == 1 {
                let first = try promptHidden("Password for \(user): ")
                let second = try promptHidden("Repeat: ")
                guard first == second else { throw ValidationError("the passwords differ") }
                return first
            }
            guard let line = readLine(strippingNewline: true) else { throw ValidationError("no password on stdin") }
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
            guard let line = readLine(strippingNewline: true) else { throw ValidationError("no password entered") }
            return line
        }
    }
}
