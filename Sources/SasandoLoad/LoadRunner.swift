import Foundation
import NIOCore
import NIOPosix
import SasandoCore
import SasandoISO8583
import SasandoPKI
import SasandoSwitch
import SasandoTransport
import Synchronization

public struct LoadOptions: Sendable {
    public var scenario: Scenario
    /// Folder of terminal credential folders (`sasando provision terminals --out`).
    public var credentialsDirectory: String
    /// Overrides terminal.json's host/port.
    public var host: String?
    public var port: Int?
    /// Hosts other than loopback (`isLoopback`), given or from terminal.json, are refused unless this is set.
    public var allowRemote: Bool = false
    public var responseTimeoutSeconds: Int = 30
    /// Print a progress line every second.
    public var progress: Bool = true
    /// Same customers as the last run with this seed (they will mostly answer 88: already paid).
    public var repeatCustomers: Bool = false
    public init(scenario: Scenario, credentialsDirectory: String) {
        self.scenario = scenario
        self.credentialsDirectory = credentialsDirectory
    }

    /// An address of this machine: an IPv4 literal in 127.0.0.0/8, `::1` or `localhost`. A name
    /// that merely starts with "127." (`127.example.com`) can resolve anywhere, so it is not.
    public static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" || host == "::1" || host == "[::1]" { return true }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4, octets.allSatisfy({ (1...3).contains($0.count) && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }) else {
            return false
        }
        let values = octets.compactMap { Int($0) }
        return values.count == 4 && values[0] == 127 && values.allSatisfy { (0...255).contains($0) }
    }
}

/// Connections opened at once during ramp-up (each is a full TLS handshake).
public enum LoadLimits {
    public static let concurrentHandshakesMax = 64
    /// Approved payments a terminal keeps as reversal candidates (the newest); a long payments-only
    /// run would otherwise hold every request it ever sent.
    public static let reversalCandidatesPerTerminalMax = 256
    /// Open loop: a request still waiting to go out when the load phase ends is dropped (and
    /// counted) only if it is this late; one scheduled a moment before the end is simply sent.
    public static let lateAtEndMillisecondsMax = 1_000
    /// Open loop: requests in flight or waiting for the window on one connection. Past it a
    /// request is not sent but counted at once, so an overloaded switch cannot make the generator
    /// pile up waiting requests (waiting tasks once took 78% of a core at 8,000/s and starved the
    /// switch).
    public static let openLoopQueuedPerConnectionMax = 2 * Limits.requestsInFlightPerConnectionMax
}

/// One terminal's connection during a run.
final class LoadTerminal: Sendable {
    let index: Int
    let folder: TerminalCredentialFolder
    let client: TerminalClient
    let requests: TerminalRequests
    /// Approved, not yet reversed payments of this terminal (reversal candidates).
    let reversible = Mutex<[ISOMessage]>([])
    let rng: Mutex<SeededGenerator>
    /// Customer IDs: seeded apart from the mix, so that a repeated run (paid bills persist) does
    /// not meet the customers the last run paid, unless customers are asked to repeat too.
    let customers: Mutex<SeededGenerator>

    init(index: Int, folder: TerminalCredentialFolder, client: TerminalClient, seed: UInt64, customerSeed: UInt64, firstSTAN: Int) {
        self.index = index
        self.folder = folder
        self.client = client
        self.requests = TerminalRequests(terminalID: folder.info.terminalID, merchantID: folder.info.merchantID, firstSTAN: firstSTAN)
        self.rng = Mutex(SeededGenerator(seed: seed))
        self.customers = Mutex(SeededGenerator(seed: customerSeed))
    }
}

public struct LoadResult: Sendable {
    public var statistics: LoadStatistics
    public var elapsedSeconds: Double
    /// The load phase: from the first request after every terminal signed on (ramp-up) until the
    /// last answer came back. Throughput is measured over this window, not over the ramp-up.
    public var loadSeconds: Double
    /// Connecting and signing on (the ramp-up) before the load phase.
    public var rampUpSeconds: Double
    public var terminalIDs: [String]
    public var startedAt: Date
    /// The machine's and the generator's CPU use over the load phase (nil where `/proc` is not Linux's).
    public var cpu: CPUUse? = nil
}

public final class LoadRunner: Sendable {
    let options: LoadOptions
    let products: [Product]
    let log: @Sendable (String) -> Void
    let runNonce = UInt64(Date().timeIntervalSince1970 * 1_000_000)

    public init(options: LoadOptions, log: @escaping @Sendable (String) -> Void = { print($0) }) throws {
        try options.scenario.validate()
        self.options = options
        // validate() refused an empty list and unknown names.
        self.products = options.scenario.products?.compactMap(Product.init(rawValue:)) ?? Product.allCases
        self.log = log
    }

    func loadFolders() throws -> [TerminalCredentialFolder] {
        let fm = FileManager.default
        let directory = options.credentialsDirectory
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ScenarioError(description: "no credentials folder \(directory): \(Self.provisioningHint(count: options.scenario.terminals, directory: directory, like: nil))")
        }
        let names = (try fm.contentsOfDirectory(atPath: directory)).sorted()
        var folders: [TerminalCredentialFolder] = []
        var unreadable: [String] = []
        for name in names {
            var isFolder: ObjCBool = false
            guard fm.fileExists(atPath: directory + "/" + name, isDirectory: &isFolder), isFolder.boolValue else { continue }
            do { folders.append(try TerminalCredentialFolder.load(from: directory + "/" + name)) } catch { unreadable.append("\(name) (\(error))") }
        }
        if !unreadable.isEmpty {
            log("warning: \(unreadable.count) folder(s) in \(directory) are not terminal credentials and were skipped, e.g. \(unreadable[0])")
        }
        guard folders.count >= options.scenario.terminals else {
            throw ScenarioError(description: "scenario \(options.scenario.name) needs \(options.scenario.terminals) terminals; \(directory) has \(folders.count): "
                                + Self.provisioningHint(count: options.scenario.terminals, directory: directory, like: folders))
        }
        let chosen = Array(folders.prefix(options.scenario.terminals))
        if !options.allowRemote, let remote = chosen.map({ options.host ?? $0.info.host }).first(where: { !LoadOptions.isLoopback($0) }) {
            throw ScenarioError(description: "refusing to load a non-loopback host (\(remote), from terminal.json) without --allow-remote; --host 127.0.0.1 loads this machine's switch")
        }
        return chosen
    }

    /// How to get `count` load terminals into `directory`: `loadtest/run` provisions them (and
    /// raises their payment points' daily limits); by hand, the same prefixes, port and payment
    /// points as the folders already there, so the existing ones are kept, not re-keyed.
    static func provisioningHint(count: Int, directory: String, like existing: [TerminalCredentialFolder]?) -> String {
        var command = "sasando provision terminals --count \(count) --out \(directory) --opening-deposit 100000000000"
        if let first = existing?.first {
            let terminalPrefix = String(first.info.terminalID.prefix { !$0.isNumber })
            let merchantPrefix = String(first.info.merchantID.prefix { !$0.isNumber })
            let points = Set(existing!.map(\.info.merchantID)).count
            command += " --terminal-prefix \(terminalPrefix) --merchant-prefix \(merchantPrefix) --port \(first.info.port) --payment-points \(max(points, 1))"
        } else {
            command += " --terminal-prefix L --merchant-prefix NTTLD --port 18583 --payment-points \(min(100, max(1, count / 2)))"
        }
        return "`SASANDO_LOAD_TERMINALS=\(count) loadtest/run smoke` provisions them into .data/load-terminals (and raises their daily limits); by hand: `\(command)`"
    }

    public func run() async throws -> LoadResult {
        let scenario = options.scenario
        let folders = try loadFolders()
        let startedAt = Date()
        let start = ContinuousClock.now
        let stats = LoadStatistics(start: start)
        let budget = scenario.requests.map { RequestBudget($0) }

        // Ramp-up: connection i signs on at i/n of the ramp-up time, then starts its load.
        let businessDate = Mutex<CalendarDate?>(nil)
        // Each second: the machine's CPU use (a sample for the report), then the progress line.
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let progressTask = Task { [stats, options] in
            var last = CPUTimes.read()
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                let now = CPUTimes.read()
                if let last, let now, let use = CPUUse.between(last, now, cores: cores) { stats.machineBusy(percent: use.machineBusyPercent) }
                last = now
                if options.progress, !Task.isCancelled { log(stats.progressLine()) }
            }
        }
        defer { progressTask.cancel() }

        let terminals = try await connectAll(folders, stats: stats, start: start)
        defer { Task { for t in terminals { await t.client.close() } } }
        guard !terminals.isEmpty else {
            // Why: the connect/TLS errors and the sign-on answers, most frequent first.
            let causes = stats.state.withLock { s in
                s.errors.sorted { $0.value > $1.value }.prefix(3).map { "\($0.key) ×\($0.value)" }
                    + (s.codes[.signOn] ?? [:]).map { "sign-on answered \($0.key) ×\($0.value)" }
            }
            let target = options.host ?? folders.first?.info.host ?? "?"
            throw ScenarioError(description: "no terminal could connect and sign on to \(target):\(options.port ?? folders.first?.info.port ?? 0): "
                                + (causes.isEmpty ? "no cause recorded" : causes.joined(separator: "; ")))
        }
        // The switch's business date (field 15 of an inquiry) decides bill periods for payments.
        let date = try await discoverBusinessDate(terminals[0])
        businessDate.withLock { $0 = date }
        // The load phase starts now; `durationSeconds` is its length (ramp-up not included).
        let loadStart = ContinuousClock.now
        let cpuAtLoadStart = CPUTimes.read()
        let deadline = scenario.durationSeconds.map { loadStart.advanced(by: .seconds($0)) }

        let shouldContinue: @Sendable () -> Bool = {
            if let deadline, ContinuousClock.now >= deadline { return false }
            if let budget, !budget.take() { return false }
            return true
        }

        switch scenario.mode {
        case .closed:
            let driver = ClosedLoopDriver(runner: self, terminals: terminals, date: date, stats: stats,
                                          inFlightPerConnection: scenario.inFlightPerConnection, shouldContinue: shouldContinue)
            await driver.run()
        case .open:
            let driver = OpenLoopDriver(runner: self, terminals: terminals, date: date, stats: stats,
                                        ratePerSecond: Double(scenario.targetRatePerSecond ?? 1), deadline: deadline, budget: budget)
            await driver.run()
        }
        let end = ContinuousClock.now
        let cpu = cpuAtLoadStart.flatMap { earlier in CPUTimes.read().flatMap { CPUUse.between(earlier, $0, cores: cores) } }
        return LoadResult(statistics: stats, elapsedSeconds: start.duration(to: end).inSeconds,
                          loadSeconds: loadStart.duration(to: end).inSeconds, rampUpSeconds: start.duration(to: loadStart).inSeconds,
                          terminalIDs: terminals.map(\.folder.info.terminalID), startedAt: startedAt, cpu: cpu)
    }

    private func connectAll(_ folders: [TerminalCredentialFolder], stats: LoadStatistics, start: ContinuousClock.Instant) async throws -> [LoadTerminal] {
        let scenario = options.scenario
        let permits = AsyncSemaphore(LoadLimits.concurrentHandshakesMax)
        return await withTaskGroup(of: LoadTerminal?.self) { group in
            for (i, folder) in folders.enumerated() {
                group.addTask {
                    let delay = scenario.rampUpSeconds > 0 ? Double(scenario.rampUpSeconds) * Double(i) / Double(folders.count) : 0
                    if delay > 0 { try? await Task.sleep(until: start.advanced(by: .milliseconds(Int64(delay * 1000))), clock: .continuous) }
                    await permits.acquire()
                    defer { permits.release() }
                    let began = ContinuousClock.now
                    do {
                        let ssl = try TLSSetup.clientContext(certificatePEM: folder.certificatePEM, privateKeyPEM: folder.privateKeyPEM,
                                                             caPEM: folder.caCertificatePEM)
                        let client = try await TerminalClient.connect(
                            host: self.options.host ?? folder.info.host, port: self.options.port ?? folder.info.port,
                            sslContext: ssl, group: MultiThreadedEventLoopGroup.singleton,
                            responseTimeoutSeconds: self.options.responseTimeoutSeconds)
                        let seed = scenario.seed &* 1_000_003 &+ UInt64(i)
                        let terminal = LoadTerminal(index: i, folder: folder, client: client, seed: seed,
                                                    customerSeed: self.options.repeatCustomers ? seed : seed ^ self.runNonce,
                                                    firstSTAN: Self.firstSTAN(seed: seed, runNonce: self.runNonce))
                        stats.sent()
                        let response = try await client.send(terminal.requests.signOn())
                        let code = response[39] ?? "--"
                        stats.record(.signOn, code: code, latencyMicroseconds: Self.micros(since: began), expected: code == "00")
                        return code == "00" ? terminal : nil
                    } catch {
                        stats.error(.signOn, "\(error)")
                        return nil
                    }
                }
            }
            var all: [LoadTerminal] = []
            for await t in group { if let t { all.append(t) } }
            return all.sorted { $0.index < $1.index }
        }
    }

    private func discoverBusinessDate(_ terminal: LoadTerminal) async throws -> CalendarDate {
        let probe = terminal.requests.inquiry(product: Product.plnPrepaid.rawValue, customerID: "12345678901")
        let response = try await terminal.client.send(probe, macKey: terminal.folder.macKey)
        let today = BusinessCalendar.businessDate(at: Date())
        guard let mmdd = response[15], mmdd.count == 4, let month = Int(mmdd.prefix(2)), let day = Int(mmdd.suffix(2)) else {
            log("warning: no business date in the probe's answer (\(response[39] ?? "--")); using the clock's \(today)")
            return today
        }
        // The year is the clock's, except across New Year.
        var year = today.year
        if month == 12 && today.month == 1 { year -= 1 }
        if month == 1 && today.month == 12 { year += 1 }
        return CalendarDate(year: year, month: month, day: day)
    }

    /// Customers are random, so one may already have been paid (earlier in the run, or by an
    /// earlier run: paid bills persist): `88` is the biller's correct answer then, not a fault.
    static func isExpected(_ code: String, for type: RequestType) -> Bool {
        switch type {
        case .inquiry, .payment: code == "00" || code == "88"
        case .signOn, .reversal: code == "00"
        }
    }

    /// A terminal's first STAN (1...900,000): never from the scenario's seed alone. Two runs of one
    /// scenario within the same second of field 7 would send the same (terminal, STAN, time) keys
    /// with other content, and the switch rightly answers `94`. The seed repeats the mix, not the keys.
    static func firstSTAN(seed: UInt64, runNonce: UInt64) -> Int {
        var generator = SeededGenerator(seed: seed ^ runNonce)
        return Int(generator.next() % 900_000) + 1
    }

    static func micros(since start: ContinuousClock.Instant) -> UInt64 {
        let d = start.duration(to: .now)
        return UInt64(max(0, d.components.seconds)) * 1_000_000 + UInt64(max(0, d.components.attoseconds / 1_000_000_000_000))
    }

    /// One request chosen by the scenario's mix, ready to send.
    struct Prepared: Sendable {
        var type: RequestType
        var request: ISOMessage
        /// For a reversal: the approved payment it reverses.
        var original: ISOMessage?
    }

    func prepare(_ terminal: LoadTerminal, date: CalendarDate) -> Prepared {
        let mix = options.scenario.mix
        let (roll, productIndex) = terminal.rng.withLock { rng in
            (Double.random(in: 0..<(mix.inquiry + mix.payment + mix.reversal), using: &rng), Int.random(in: 0..<products.count, using: &rng))
        }
        let product = products[productIndex]
        let type: RequestType = roll < mix.inquiry ? .inquiry : roll < mix.inquiry + mix.payment ? .payment : .reversal
        switch type {
        case .inquiry:
            let customer = terminal.customers.withLock { BenchmarkWorkload.randomCustomerID(for: product, using: &$0) }
            return Prepared(type: .inquiry, request: terminal.requests.inquiry(product: product.rawValue, customerID: customer))
        case .reversal:
            let original = terminal.reversible.withLock { pool -> ISOMessage? in
                guard !pool.isEmpty else { return nil }
                let i = terminal.rng.withLock { Int.random(in: 0..<pool.count, using: &$0) }
                return pool.remove(at: i)
            }
            if let original {
                return Prepared(type: .reversal, request: terminal.requests.reversal(of: original), original: original)
            }
            // Nothing to reverse yet: a payment instead.
            fallthrough
        default:
            let payment = terminal.customers.withLock { BenchmarkWorkload.payment(requests: terminal.requests, product: product, businessDate: date, using: &$0) }
            return Prepared(type: .payment, request: payment)
        }
    }

    /// Records the outcome of a prepared request; latency counts from `intended`.
    func finish(_ prepared: Prepared, _ result: Result<ISOMessage, any Error>, terminal: LoadTerminal,
                intended: ContinuousClock.Instant, stats: LoadStatistics) {
        let (type, request) = (prepared.type, prepared.request)
        switch result {
        case .failure(let error):
            stats.error(type, "\(error)")
        case .success(let response):
            let code = response[39] ?? "--"
            stats.record(type, code: code, latencyMicroseconds: Self.micros(since: intended), expected: Self.isExpected(code, for: type))
            guard code == "00" else { return }
            if type == .payment {
                terminal.reversible.withLock { pool in
                    if pool.count >= LoadLimits.reversalCandidatesPerTerminalMax { pool.removeFirst() }
                    pool.append(request)
                }
                stats.approvedPayment(ApprovedPayment(
                    terminalID: terminal.folder.info.terminalID, stan: request[11] ?? "", transmittedAt: request[7] ?? "",
                    rrn: request[37] ?? "", amount: Int64(request[4] ?? "") ?? 0, fee: Int64((request[28] ?? "D0").dropFirst()) ?? 0,
                    reversed: false))
            } else if type == .reversal, let original = prepared.original {
                stats.markReversed(terminalID: terminal.folder.info.terminalID, stan: original[11] ?? "", transmittedAt: original[7] ?? "")
            }
        }
    }
}

/// A fixed number of requests shared by all senders.
final class RequestBudget: Sendable {
    private let remaining: Mutex<Int>
    init(_ n: Int) { remaining = Mutex(n) }
    func take() -> Bool { remaining.withLock { r in if r > 0 { r -= 1; return true }; return false } }
}
