import ArgumentParser
import SasandoCore
import SasandoLedger

/// Bank staff: which terminals and payment points may transact, and a payment point's daily limit.
/// Every change is audited (actor and reason) in the statement that makes it, and holds for the
/// next request at every switch instance (the database is read per sign-on and per batch).
struct Terminals: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Bank staff: list terminals; block one (lost, stolen, suspected fraud) or unblock it. Not `terminal`, which acts as one.",
        subcommands: [List.self, Block.self, Unblock.self])

    struct Change: ParsableArguments {
        @Option(help: "Terminal ID, field 41 (8 characters).") var terminal: String
        @Option(help: "Why, for the audit log (up to \(TerminalDirectory.statusReasonCharactersMax) characters).") var reason: String
        @Option(help: "Who does this, for the audit log (a staff user's name).") var actor: String = "cli"

        func validate() throws {
            try validateIdentifier(terminal, option: "--terminal", length: TerminalDirectory.terminalIDLength)
            try validateReason(reason)
            try validateActor(actor)
        }
    }

    static func change(_ change: Change, to status: EntityStatus, _ database: DatabaseOptions) async throws {
        let (result, actor) = try await withDatabase(database, logger: makeLogger("sasando.terminals", level: .warning)) { db in
            let actor = try await recordedActor(change.actor, on: db)
            return (try await TerminalDirectory(database: db).changeTerminalStatus(change.terminal, to: status, actor: actor, reason: change.reason), actor)
        }
        try report(result.outcome, subject: "terminal \(change.terminal) (\(result.merchantID ?? "?"))", missing: "terminal \(change.terminal)",
                   list: "terminals", status: status, actor: actor,
                   blocked: "its sign-ons, inquiries and payments now get 05 at every switch instance; its payment point's other terminals go on")
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Terminals: ID, payment point, status (and the payment point's when blocked).")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Only this payment point's terminals (merchant ID, field 42).") var merchant: String?
        @Flag(help: "Only terminals that cannot transact (blocked, or their payment point is).") var blocked = false

        func validate() throws {
            if let merchant { try validateIdentifier(merchant, option: "--merchant", length: TerminalDirectory.merchantIDLength) }
        }

        func run() async throws {
            let merchant = self.merchant, blocked = self.blocked
            let listing = try await withDatabase(database, logger: makeLogger("sasando.terminals", level: .warning)) { db in
                try await TerminalDirectory(database: db).terminals(merchantID: merchant, blockedOnly: blocked)
            }
            for t in listing {
                let point = t.paymentPointStatus == .blocked ? "  (payment point blocked)" : ""
                print("\(t.terminalID)  \(t.merchantID)  \(t.status.rawValue)\(point)")
            }
            print("\(listing.count) terminal(s)")
        }
    }

    struct Block: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Block a terminal: its sign-ons, inquiries and payments get 05 from the next request on.")
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var change: Change
        func run() async throws { try await Terminals.change(change, to: .blocked, database) }
    }

    struct Unblock: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Let a blocked terminal transact again (it signs on afresh).")
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var change: Change
        func run() async throws { try await Terminals.change(change, to: .active, database) }
    }
}

struct PaymentPoints: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "payment-points",
        abstract: "Bank staff: list payment points; block or unblock one (all its terminals); set its daily limit (field 61).",
        subcommands: [List.self, Block.self, Unblock.self, Limit.self])

    struct Change: ParsableArguments {
        @Option(help: "Payment point (merchant) ID, field 42 (15 characters).") var merchant: String
        @Option(help: "Why, for the audit log (up to \(TerminalDirectory.statusReasonCharactersMax) characters).") var reason: String
        @Option(help: "Who does this, for the audit log (a staff user's name).") var actor: String = "cli"

        func validate() throws {
            try validateIdentifier(merchant, option: "--merchant", length: TerminalDirectory.merchantIDLength)
            try validateReason(reason)
            try validateActor(actor)
        }
    }

    static func change(_ change: Change, to status: EntityStatus, _ database: DatabaseOptions) async throws {
        let (result, actor) = try await withDatabase(database, logger: makeLogger("sasando.payment-points", level: .warning)) { db in
            let actor = try await recordedActor(change.actor, on: db)
            return (try await TerminalDirectory(database: db).changePaymentPointStatus(change.merchant, to: status, actor: actor, reason: change.reason), actor)
        }
        try report(result.outcome, subject: "payment point \(change.merchant)", missing: "payment point \(change.merchant)",
                   list: "payment-points", status: status, actor: actor,
                   blocked: "every terminal of it now gets 05 (sign-on, inquiry, payment) at every switch instance")
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Payment points: status, daily limit, collected on the current business date, deposit, commission, terminals.")
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            let listing = try await withDatabase(database, logger: makeLogger("sasando.payment-points", level: .warning)) { db in
                try await TerminalDirectory(database: db).paymentPoints()
            }
            for p in listing {
                let blocked = p.blockedTerminals > 0 ? " (\(p.blockedTerminals) blocked)" : ""
                print("\(p.merchantID)  \(p.status.rawValue)  limit \(p.dailyLimit)  collected today \(p.collectedToday)  deposit \(p.deposit)  commission \(p.commission)  \(p.terminals) terminal(s)\(blocked)  \(p.name)")
            }
            print("\(listing.count) payment point(s)")
        }
    }

    struct Block: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Block a payment point: all its terminals get 05 from the next request on.")
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var change: Change
        func run() async throws { try await PaymentPoints.change(change, to: .blocked, database) }
    }

    struct Unblock: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Let a blocked payment point's terminals transact again (those not blocked themselves).")
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var change: Change
        func run() async throws { try await PaymentPoints.change(change, to: .active, database) }
    }

    struct Limit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set a payment point's daily limit: the most it may collect (bills + fees) in one business date; past it, 61.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Payment point (merchant) ID, field 42 (15 characters).") var merchant: String
        @Option(name: .customLong("daily-limit"), parsing: .unconditional,
                help: "Whole rupiah: 50000000, 50.000.000 or Rp 50.000.000,00 ('.' groups thousands); 0 stops its payments.")
        var dailyLimit: String
        @Option(help: "Who does this, for the audit log (a staff user's name).") var actor: String = "cli"

        func validate() throws {
            try validateIdentifier(merchant, option: "--merchant", length: TerminalDirectory.merchantIDLength)
            try validateActor(actor)
            _ = try Self.limitSen(dailyLimit)
        }

        static func limitSen(_ text: String) throws -> Int64 {
            let sen = try parseRupiah(text)
            guard (0...TerminalDirectory.dailyLimitSenMax).contains(sen) else {
                throw ValidationError("--daily-limit: at most \(Sen(TerminalDirectory.dailyLimitSenMax))")
            }
            return sen
        }

        func run() async throws {
            let sen = try Self.limitSen(dailyLimit)
            let merchant = self.merchant, actor = self.actor
            let (result, recorded) = try await withDatabase(database, logger: makeLogger("sasando.payment-points", level: .warning)) { db in
                let recorded = try await recordedActor(actor, on: db)
                return (try await TerminalDirectory(database: db).setDailyLimit(merchant, sen: sen, actor: recorded), recorded)
            }
            guard let previous = result.previous else {
                throw CommandFailure("no payment point \(merchant): nothing changed (`sasando payment-points list` shows them)")
            }
            if result.changed {
                print("payment point \(merchant): daily limit \(Sen(previous)) -> \(Sen(sen)); audited as \(recorded)")
            } else {
                print("payment point \(merchant): daily limit was already \(Sen(sen)): nothing changed")
            }
        }
    }
}

/// Prints what a block or unblock did; an unknown ID is a failure (exit 1), a repeat is not.
func report(_ outcome: StatusChange.Outcome, subject: String, missing: String, list: String, status: EntityStatus, actor: String,
            blocked effect: String) throws {
    switch outcome {
    case .notFound:
        throw CommandFailure("no \(missing): nothing changed (`sasando \(list) list` shows them)")
    case .unchanged:
        print("\(subject) was already \(status.rawValue): nothing changed")
    case .changed:
        print("\(subject) \(status.rawValue); audited as \(actor)")
        if status == .blocked { print(effect) }
    }
}

/// `TerminalDirectory.isIdentifier`, as a usage error naming the option.
func validateIdentifier(_ value: String, option: String, length: Int) throws {
    guard TerminalDirectory.isIdentifier(value, length: length) else {
        throw ValidationError("\(option) must be \(length) printable characters without spaces, got \"\(value.prefix(40))\"")
    }
}

func validateReason(_ reason: String) throws {
    if let problem = TerminalDirectory.reasonProblem(reason) { throw ValidationError("--reason: \(problem)") }
}
