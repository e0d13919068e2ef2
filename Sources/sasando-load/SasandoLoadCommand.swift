import ArgumentParser
import Foundation
import Logging
import SasandoLedger
import SasandoLoad

/// The load generator: many terminals on their own mutual-TLS connections, a scenario's mix,
/// progress each second, HDR latency percentiles, JSON + HTML report, and a ledger audit.
/// Exits 1 when any response is unexpected or the audit fails.
@main
struct SasandoLoadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "sasando-load",
                                                    abstract: "Load-test the switch with a scenario (loadtest/scenarios/*.json).")

    @Option(help: "Scenario file.") var scenario: String
    @Option(help: "Folder of terminal credential folders.") var credentials: String = ".data/load-terminals"
    @Option(help: "Switch host (default: each terminal.json's host). Only loopback (127.x.x.x, ::1, localhost) unless --allow-remote.") var host: String?
    @Option(help: "Switch port (default: terminal.json).") var port: Int?
    @Option(help: "Override the scenario's duration, seconds.") var duration: Int?
    @Option(help: "Override: stop after this many requests.") var requests: Int?
    @Option(help: "Override the number of terminals.") var terminals: Int?
    @Option(help: "Override: open loop at this many requests/s.") var rate: Int?
    @Option(help: "Override: closed loop with this many in flight per connection.") var inFlight: Int?
    @Option(help: "Override the seed.") var seed: UInt64?
    @Option(name: .customLong("ramp-up"), help: "Override the ramp-up (connect and sign on), seconds.") var rampUp: Int?
    @Option(help: "Folder for the reports, NAME.json and NAME.html (NAME: the scenario's name).") var out: String = "loadtest/results"
    @Flag(help: "Skip the post-run ledger audit.") var noAudit = false
    @Flag(help: "Allow a non-loopback switch host.") var allowRemote = false
    @Flag(help: "No progress lines.") var quiet = false
    @Flag(help: "Draw the seed's own customers: the same on every run with this flag and seed (after the first, they mostly answer 88). Without it, customers are fresh each run.") var repeatCustomers = false

    func validate() throws {
        if rate != nil && inFlight != nil {
            throw ValidationError("--rate (open loop) and --in-flight (closed loop) cannot both be given")
        }
    }

    func run() async throws {
        var s = try Scenario.load(path: scenario)
        if let duration { s.durationSeconds = duration }
        if let requests { s.requests = requests; if duration == nil { s.durationSeconds = nil } }
        if let terminals { s.terminals = terminals }
        if let rate { s.mode = .open; s.targetRatePerSecond = rate }
        if let inFlight { s.mode = .closed; s.inFlightPerConnection = inFlight }
        if let seed { s.seed = seed }
        if let rampUp { s.rampUpSeconds = rampUp }
        try s.validate()
        // The file's description says what the file asks for; the report says what ran instead.
        let overridden = [duration.map { "\($0) s" }, requests.map { "\($0) requests" }, terminals.map { "\($0) terminals" },
                          rate.map { "open loop at \($0) requests/s" }, inFlight.map { "closed loop, \($0) in flight per connection" },
                          seed.map { "seed \($0)" }, rampUp.map { "ramp-up \($0) s" }].compactMap { $0 }
        if !overridden.isEmpty { s.description += " Run with: " + overridden.joined(separator: ", ") + "." }
        if let host, !allowRemote, !LoadOptions.isLoopback(host) {
            throw ValidationError("refusing to load a non-loopback host (\(host)) without --allow-remote")
        }
        var options = LoadOptions(scenario: s, credentialsDirectory: credentials)
        options.host = host
        options.allowRemote = allowRemote
        options.port = port
        options.progress = !quiet
        options.repeatCustomers = repeatCustomers
        let mode = s.mode == .open ? "open loop \(s.targetRatePerSecond ?? 0)/s" : "closed loop \(s.inFlightPerConnection) in flight"
        print("scenario \(s.name): \(s.terminals) terminals, \(mode), \(s.durationSeconds.map { "\($0) s" } ?? "\(s.requests ?? 0) requests"), mix \(s.mix.inquiry)/\(s.mix.payment)/\(s.mix.reversal), seed \(s.seed)")
        // The audit's database, opened first: its clock marks where this run's rows begin.
        var audit: (database: SasandoDatabase, task: Task<Void, any Error>, since: Date)?
        if !noAudit {
            guard let url = ProcessInfo.processInfo.environment["SASANDO_DATABASE_URL"], !url.isEmpty else {
                throw ValidationError("the audit needs SASANDO_DATABASE_URL (or pass --no-audit)")
            }
            var logger = Logger(label: "sasando-load")
            logger.logLevel = .error
            let database = try SasandoDatabase(url: url, connectionsMax: 2, logger: logger)
            let task = Task { try await database.run() }
            audit = (database, task, try await LedgerAudit.databaseNow(database))
        }
        defer { audit?.task.cancel() }
        let result = try await LoadRunner(options: options).run()
        var report = LoadReport(result: result, machine: Self.machine())
        report.scenario = s
        report.judgeAlreadyPaid(repeatCustomers: repeatCustomers)
        if let audit {
            report.audit = try await LedgerAudit.run(database: audit.database, result: result, since: audit.since)
        }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let base = (out as NSString).appendingPathComponent(s.name)
        try report.json().write(to: URL(fileURLWithPath: base + ".json"))
        try report.html().write(toFile: base + ".html", atomically: true, encoding: .utf8)
        print(report.summary)
        print("reports: \(base).json \(base).html")
        if report.unexpected > 0 || report.audit?.passed == false { throw ExitCode(1) }
    }

    static func machine() -> String {
        let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("model name") }?.split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "unknown CPU"
        return "\(ProcessInfo.processInfo.activeProcessorCount) cores, \(ProcessInfo.processInfo.physicalMemory / 1_073_741_824) GiB, \(cpu)"
    }
}
