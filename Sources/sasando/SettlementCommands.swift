import ArgumentParser
import Foundation
import SasandoCore
import SasandoLedger
import SasandoSettlement
import SasandoSwitch

extension CalendarDate: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
}

/// `sasando cutover`: close the current business date now (staff), as the 23:00 WITA scheduler would.
struct Cutover: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Cut over: close the current business date and open the next (terminals get 0800/201 from their switch).")
    @OptionGroup var database: DatabaseOptions
    @Option(help: "Staff user recorded in the audit log.") var actor: String = "cli"
    @Option(help: "Only if this is still the current date (YYYY-MM-DD): a repeat then changes nothing.") var from: CalendarDate?
    @Option(help: "Cut-over hour (WITA) for initialising the business day on first use.") var cutoverHour: Int = 23

    func validate() throws {
        guard (0...23).contains(cutoverHour) else { throw ValidationError("--cutover-hour must be 0...23 (WITA)") }
        try validateActor(actor)
    }

    func run() async throws {
        let logger = makeLogger("sasando.cutover", level: .warning)
        let actor = self.actor, from = self.from, hour = self.cutoverHour
        let (before, after, recorded) = try await withDatabase(database, logger: logger) { db in
            let actor = try await recordedActor(actor, on: db)
            let service = BusinessDayService(database: db, cutoverHourWITA: hour)
            let before = try await service.refresh().date
            // A retry after a "did it work?" moment would close the next date too and skip a
            // business day: without --from, a date already ahead of the calendar is not closed.
            let clock = service.clockBusinessDate()
            if from == nil, before > clock {
                throw CommandFailure("""
                    business date \(before) is already ahead of the calendar (by the clock it is \(clock)); nothing changed. \
                    To close it anyway: sasando cutover --from \(before)
                    """)
            }
            let after = try await service.cutover(actor: actor, from: from ?? before)
            return (before, after, actor)
        }
        if let from, from > before {
            // A date not reached yet is a mistake, not a repeat.
            throw CommandFailure("--from \(from) is after the current business date \(before); nothing changed")
        } else if let from, from != before {
            print("business date is already \(before) (not \(from)); nothing changed")
        } else {
            print("cut over by \(recorded): business date \(before) closed, \(after) open")
        }
    }
}

/// `sasando settle --date D`: settle a closed business date (idempotent).
struct Settle: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Settle a closed business date: biller payables to clearing, commissions to deposits, immutable batch (idempotent).")
    @OptionGroup var database: DatabaseOptions
    @Option(help: "Business date YYYY-MM-DD.") var date: CalendarDate
    @Option(help: "Staff user recorded in the batch and the audit log.") var actor: String = "cli"

    func validate() throws { try validateActor(actor) }

    func run() async throws {
        let logger = makeLogger("sasando.settle", level: .warning)
        let date = self.date, actor = self.actor
        let outcome = try await withDatabase(database, logger: logger) { db in
            try await SettlementService(database: db).settle(date: date, actor: try await recordedActor(actor, on: db))
        }
        switch outcome {
        case .settled(let report):
            print("settled \(date): \(report.totals.payments) payments, \(report.totals.reversals) reversals, net payable \(Sen(report.totals.netPayable)), commission \(Sen(report.totals.commission))")
        case .alreadySettled(let report):
            print("\(date) was already settled (\(report.settledAt ?? "?") by \(report.settledBy ?? "?")); nothing changed")
        }
    }
}

/// `--format` of the reports printed as a table: text for people, CSV for a spreadsheet.
enum TableFormat: String, ExpressibleByArgument, CaseIterable {
    case text, csv
}

struct Report: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Reports.", subcommands: [SettlementReportCommand.self, PeriodCommand.self, StatementCommand.self])

    struct PeriodCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "period",
            abstract: "Business dates at a glance (a month end): each date's totals and whether it is settled, then each biller's totals over the range.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "First business date YYYY-MM-DD.") var from: CalendarDate
        @Option(help: "Last business date YYYY-MM-DD (at most \(PeriodSummary.daysMax) days from --from; cut at the current business date).") var to: CalendarDate
        @Option(help: "text | csv") var format: TableFormat = .text

        func run() async throws {
            let from = self.from, to = self.to
            let summary = try await withDatabase(database, logger: makeLogger("sasando.report", level: .warning)) { db in
                try await SettlementService(database: db).periodSummary(from: from, to: to)
            }
            print(format == .csv ? summary.renderCSV() : summary.renderText(), terminator: "")
        }
    }

    struct StatementCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "statement",
            abstract: "A payment point's deposit statement: opening balance, each business date's payments, reversals, top-ups and commissions, closing balance.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Payment point (merchant) ID, field 42.") var merchant: String
        @Option(help: "First business date YYYY-MM-DD.") var from: CalendarDate
        @Option(help: "Last business date YYYY-MM-DD (default: --from).") var to: CalendarDate?
        @Option(help: "text | csv") var format: TableFormat = .text

        func validate() throws {
            try validateIdentifier(merchant, option: "--merchant", length: TerminalDirectory.merchantIDLength)
        }

        func run() async throws {
            let merchant = self.merchant, from = self.from, to = self.to ?? self.from
            let statement = try await withDatabase(database, logger: makeLogger("sasando.report", level: .warning)) { db in
                try await SettlementService(database: db).statement(merchantID: merchant, from: from, to: to)
            }
            print(format == .csv ? statement.renderCSV() : statement.renderText(), terminator: "")
        }
    }

    struct SettlementReportCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "settlement", abstract: "Settlement report of a business date.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Business date YYYY-MM-DD.") var date: CalendarDate
        @Option(help: "text | csv | json") var format: String = "text"

        func run() async throws {
            guard let format = SettlementReport.Format(rawValue: format) else { throw ValidationError("--format must be text, csv or json") }
            let logger = makeLogger("sasando.report", level: .warning)
            let date = self.date
            let report = try await withDatabase(database, logger: logger) { db in
                try await SettlementService(database: db).report(date: date)
            }
            print(try report.rendered(format), terminator: "")
            // Printed (an empty report is still a report), but a date not reached yet is a mistake.
            if report.isFutureDate { throw CommandFailure("\(date) is after the current business date: nothing has happened on it yet") }
        }
    }
}

struct Biller: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Biller settlement files and reconciliation.", subcommands: [File.self, Reconcile.self])

    struct File: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write the switch's settlement file (CSV) for a biller and date.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Biller: PLNPOST, PLNPRE, PDAMKPG, KINET, BPJSKS, or IPL:<estate> (one file per estate; the error lists them).") var biller: String
        @Option(help: "A settled business date, YYYY-MM-DD.") var date: CalendarDate
        @Option(help: "Output file, written with mode 0600: it holds customer IDs (default: standard output).") var out: String?
        @Option(help: "Who does this, for the audit log (an enabled supervisor; default: cli and the OS user).") var actor: String = "cli"

        func validate() throws { try validateActor(actor) }

        func run() async throws {
            let logger = makeLogger("sasando.biller", level: .warning)
            let biller = self.biller, date = self.date, actor = self.actor, out = self.out
            try await withDatabase(database, logger: logger) { db in
                let recorded = try await recordedActor(actor, on: db)
                let rows = try await SettlementService(database: db).billerRows(billerID: biller, date: date)
                let csv = BillerFile.render(rows), total = Sen(rows.reduce(0) { $0 + $1.amountSen })
                if let out {
                    try Self.writePrivately(csv, to: out)
                } else {
                    print(csv, terminator: "")
                }
                // Audited once the file exists: customer data left the switch (who, which biller and date, what it said).
                try await TerminalDirectory(database: db).record(AuditEvent(
                    actor: recorded, event: "biller_file_made", detail: "\(biller) \(date): \(rows.count) rows, \(total)\(out == nil ? " (to standard output)" : "")"))
                if let out { print("wrote \(rows.count) rows (\(total)) to \(out) (mode 0600: it holds customer IDs)") }
            }
        }

        /// Created (or truncated) with mode 0600 before a byte is written, so the customer IDs are
        /// never readable by others, not even for a moment; a symbolic link is not followed.
        static func writePrivately(_ text: String, to path: String) throws {
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw CommandFailure("cannot write \(path): \(String(cString: strerror(errno)))") }
            let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
            // An existing file keeps its old mode through O_TRUNC: set it before writing.
            guard fchmod(fd, 0o600) == 0 else { throw CommandFailure("cannot make \(path) private: \(String(cString: strerror(errno)))") }
            try handle.write(contentsOf: Data(text.utf8))
            try handle.close()
        }
    }

    struct Reconcile: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compare a biller's file with the switch's record (key: rrn + terminal + period); exit 1 unless clean.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Biller: PLNPOST, PLNPRE, PDAMKPG, KINET, BPJSKS, or IPL:<estate> (one file per estate).") var biller: String
        @Option(help: "A settled business date, YYYY-MM-DD.") var date: CalendarDate
        @Option(help: "The biller's CSV file (same columns as `sasando biller file`).") var file: String
        @Option(help: "Who does this, for the audit log (an enabled supervisor; default: cli and the OS user).") var actor: String = "cli"

        func validate() throws { try validateActor(actor) }

        func run() async throws {
            guard let theirs = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw CommandFailure("cannot read \(file)")
            }
            let logger = makeLogger("sasando.biller", level: .warning)
            let biller = self.biller, date = self.date, actor = self.actor
            let result: BillerReconciliation
            do {
                result = try await withDatabase(database, logger: logger) { db in
                    let recorded = try await recordedActor(actor, on: db)
                    let result = try await SettlementService(database: db).reconcileBiller(billerID: biller, date: date, theirCSV: theirs)
                    try await TerminalDirectory(database: db).record(AuditEvent(
                        actor: recorded, event: "biller_reconciled",
                        detail: "\(biller) \(date): \(result.isClean ? "clean" : "NOT clean"), \(result.matched) matched, switch \(Sen(result.oursTotalSen)), biller \(Sen(result.theirsTotalSen))"))
                    return result
                }
            } catch let error as BillerFileError {
                throw CommandFailure("\(file): \(error)")
            }
            print("biller \(biller), business date \(date)")
            print(result.renderText(), terminator: "")
            if !result.isClean { throw ExitCode(1) }
        }
    }
}
