import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import SasandoCore
import SasandoISO8583
import SasandoLedger
import SasandoPKI
import SasandoSwitch
import SasandoTransport
import Testing

/// The real `sasando serve` process, killed with SIGKILL while hundreds of payments are in flight
/// from many connections, then restarted. Needs SASANDO_BIN (set by scripts/test).
@Suite(.serialized)
struct CrashRecoveryTests {
    static var binary: String? { ProcessInfo.processInfo.environment["SASANDO_BIN"] }

    final class SwitchProcess {
        let process = Process()
        init(binary: String, port: Int, configPath: String, logPath: String) throws {
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = ["serve", "--config", configPath]
            let log = FileHandle(forWritingAtPath: logPath) ?? FileHandle.nullDevice
            process.standardOutput = log
            process.standardError = log
            try process.run()
        }
        func kill9() {
            Foundation.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        func terminate() {
            process.terminate()
            process.waitUntilExit()
        }
        /// A test that throws half-way (a send timed out) must not leave the switch running on its
        /// port and its database connections (a later run could not drop that database).
        deinit {
            if process.isRunning { kill9() }
        }
    }

    /// The binary's exit status and output; `environment` overrides this process's variables.
    static func run(_ binary: String, _ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = arguments
        if !environment.isEmpty {
            p.environment = ProcessInfo.processInfo.environment.merging(environment) { _, override in override }
        }
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    static func waitForPort(_ port: Int, seconds: Int = 60) async throws {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if let channel = try? await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.milliseconds(200)).connect(host: "127.0.0.1", port: port).get() {
                try? await channel.close()
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("switch did not listen on \(port) within \(seconds) s")
    }

    struct Sent: Sendable {
        let terminal: Int
        let request: ISOMessage
        var response: ISOMessage?
    }

    @Test func sigkillWithPaymentsInFlightLosesNothingApproved() async throws {
        let binary = try #require(Self.binary, "SASANDO_BIN is not set: run ./scripts/test")
        let url = try #require(IntegrationEnvironment.databaseURL)
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("sasando-crash-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let tag = String((0..<2).map { _ in "ABCDEFGHJKLMNPQRSTUVWXYZ".randomElement()! }) + String(Int.random(in: 0...9))
        let terminalCount = 16
        let port = Int.random(in: 20_000...40_000)
        // The binaries read the database from SASANDO_DATABASE_URL, inherited from this process
        // (`url` is that URL): never on their command line, where its password would be public.
        let provision = try Self.run(binary, ["provision", "terminals", "--count", "\(terminalCount)", "--payment-points", "4",
                                              "--out", root + "/terminals", "--pki", root + "/pki", "--port", "\(port)",
                                              "--terminal-prefix", "C" + tag, "--merchant-prefix", "K" + tag + String(Int.random(in: 100_000...999_999)),
                                              "--opening-deposit", "5000000000"])
        #expect(provision.status == 0, "\(provision.output)")
        let config = root + "/switch.json"
        try #"{"host": "127.0.0.1", "port": \#(port), "consolePort": 0, "pkiDirectory": "\#(root)/pki", "databaseWaitMilliseconds": \#(IntegrationEnvironment.databaseWaitMilliseconds)}"#.write(toFile: config, atomically: true, encoding: .utf8)
        _ = FileManager.default.createFile(atPath: root + "/switch.log", contents: nil)

        var server = try SwitchProcess(binary: binary, port: port, configPath: config, logPath: root + "/switch.log")
        try await Self.waitForPort(port)

        let folders = try (1...terminalCount).map { i in
            try TerminalCredentialFolder.load(from: root + "/terminals/" + "C\(tag)" + String(format: "%04d", i))
        }
        func connect(_ i: Int) async throws -> TerminalClient {
            let f = folders[i]
            let ssl = try TLSSetup.clientContext(certificatePEM: f.certificatePEM, privateKeyPEM: f.privateKeyPEM, caPEM: f.caCertificatePEM)
            let client = try await TerminalClient.connect(host: "127.0.0.1", port: port, sslContext: ssl,
                                                          group: MultiThreadedEventLoopGroup.singleton, responseTimeoutSeconds: 20)
            let requests = TerminalRequests(terminalID: f.info.terminalID, merchantID: f.info.merchantID)
            let on = try await client.send(requests.signOn())
            #expect(on[39] == "00")
            return client
        }

        // Phase 1: 16 connections x 8 in flight, 50 payments each; SIGKILL after 150 approvals.
        let paymentsPerTerminal = 50
        let businessDate = BusinessCalendar.businessDate(at: Date())
        let approvals = Counter()
        var sent: [Sent] = []
        var clients: [TerminalClient] = []
        for i in 0..<terminalCount { clients.append(try await connect(i)) }
        var planned: [[ISOMessage]] = []
        var logger = Logger(label: "crash-test")
        logger.logLevel = .critical
        let database = try SasandoDatabase(url: url, connectionsMax: 2, logger: logger)
        let dbTask = Task { try await database.run() }
        defer { dbTask.cancel() }
        for i in 0..<terminalCount {
            var rng = SystemRandomNumberGenerator()
            let requests = TerminalRequests(terminalID: folders[i].info.terminalID, merchantID: folders[i].info.merchantID,
                                            firstSTAN: 100_000 + i * 1_000)
            var mine: [ISOMessage] = []
            while mine.count < paymentsPerTerminal {
                let drawn = (mine.count..<paymentsPerTerminal).map { _ in
                    BenchmarkWorkload.payment(requests: requests, product: nil, businessDate: businessDate, using: &rng)
                }
                // Random customers: on a database that has seen many load runs one may have paid
                // already (`88`, a right answer, but not this test's subject). Draw again.
                let paid = try await Self.alreadyPaid(drawn, database: database)
                mine += drawn.filter { !paid.contains(Self.billKey($0)) }
            }
            planned.append(mine)
        }
        let killer = Task { [server] in
            while approvals.value < 150 { try await Task.sleep(for: .milliseconds(5)) }
            server.kill9()
        }
        sent = await withTaskGroup(of: [Sent].self) { group in
            for i in 0..<terminalCount {
                let client = clients[i], key = folders[i].macKey, mine = planned[i]
                group.addTask {
                    await withTaskGroup(of: Sent.self) { inner in
                        var results: [Sent] = []
                        var next = 0
                        func launch() {
                            let request = mine[next]
                            next += 1
                            inner.addTask {
                                let response = try? await client.send(request, macKey: key)
                                if response?[39] == "00" { approvals.increment() }
                                return Sent(terminal: i, request: request, response: response)
                            }
                        }
                        for _ in 0..<8 where next < mine.count { launch() }
                        while let done = await inner.next() {
                            results.append(done)
                            if next < mine.count { launch() }
                        }
                        return results
                    }
                }
            }
            var all: [Sent] = []
            for await part in group { all.append(contentsOf: part) }
            return all
        }
        try await killer.value
        for client in clients { await client.close() }
        let approvedBefore = sent.filter { $0.response?[39] == "00" }
        let unanswered = sent.filter { $0.response == nil }
        #expect(approvedBefore.count >= 150)
        #expect(!unanswered.isEmpty, "the kill should leave payments in flight")
        let otherCodes = sent.compactMap { $0.response?[39] }.filter { $0 != "00" }
        #expect(otherCodes.isEmpty, "only approvals or no answer expected, got \(Dictionary(grouping: otherCodes, by: { $0 }).mapValues(\.count))")

        // Phase 2: restart; resend every approved payment (identical response, nothing posted
        // twice); reverse every unanswered one, as a terminal would.
        server = try SwitchProcess(binary: binary, port: port, configPath: config, logPath: root + "/switch.log")
        try await Self.waitForPort(port)
        clients = []
        for i in 0..<terminalCount { clients.append(try await connect(i)) }
        for s in approvedBefore {
            let again = try await clients[s.terminal].send(s.request, macKey: folders[s.terminal].macKey)
            #expect(again == s.response, "a resent approved payment gets its original response")
        }
        var reversedCommitted = 0
        // One STAN counter per terminal, as a terminal keeps: a random STAN per reversal drew the
        // same one twice in the same second often enough (about 40 reversals a terminal) to be
        // answered 94, rightly (same key, different content).
        let reversalRequests = folders.indices.map { i in
            TerminalRequests(terminalID: folders[i].info.terminalID, merchantID: folders[i].info.merchantID, firstSTAN: 500_000 + i * 1_000)
        }
        for s in unanswered {
            let request = reversalRequests[s.terminal].reversal(of: s.request)
            let reversal = try await clients[s.terminal].send(request, macKey: folders[s.terminal].macKey)
            #expect(reversal[39] == "00" || reversal[39] == "25", "reversal after restart answered \(reversal[39] ?? "nothing"): \(request[41] ?? "") STAN \(request[11] ?? "") at \(request[7] ?? ""), original STAN \(s.request[11] ?? "") at \(s.request[7] ?? "")")
            if reversal[39] == "00" { reversedCommitted += 1 }
        }
        for client in clients { await client.close() }
        server.terminate()

        // The ledger: exactly the approved payments remain posted, once each.
        let terminalIDs = folders.map(\.info.terminalID)
        let rows = try await database.client.query("""
            SELECT count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM transactions r WHERE r.original_id = t.id AND r.kind = 'reversal' AND r.journal_id IS NOT NULL)),
                   count(DISTINCT t.journal_id), count(*)
            FROM transactions t WHERE t.kind = 'payment' AND t.response_code = '00' AND t.terminal_id = ANY(\(terminalIDs)::text[])
            """)
        var standing = -1, journals = -1, approvedRows = -1
        for try await (a, b, c) in rows.decode((Int, Int, Int).self) { standing = a; journals = b; approvedRows = c }
        #expect(standing == approvedBefore.count, "every payment a terminal saw approved is posted, and no other stands")
        #expect(journals == approvedRows, "one journal per approved payment")
        #expect(approvedRows == approvedBefore.count + reversedCommitted)
        let verify = try Self.run(binary, ["ledger", "verify"])
        #expect(verify.status == 0, "\(verify.output)")
    }
}

extension CrashRecoveryTests {
    /// "product:customer" of a payment's bill data (`BillData.parseKey`, spec §5).
    static func billKey(_ payment: ISOMessage) -> String {
        let key = BillData.parseKey(payment[48] ?? "")
        return (key?.product ?? "") + ":" + (key?.customerID ?? "")
    }

    /// The `billKey`s of `payments` whose customer already has a paid bill in the database.
    static func alreadyPaid(_ payments: [ISOMessage], database: SasandoDatabase) async throws -> Set<String> {
        let keys = payments.map { BillData.parseKey($0[48] ?? "") }
        let products = keys.map { $0?.product ?? "" }, customers = keys.map { $0?.customerID ?? "" }
        // A join on the primary key's (product, customer_id) prefix: index lookups, not a scan.
        let rows = try await database.client.query("""
            SELECT DISTINCT p.product || ':' || p.customer_id
              FROM unnest(\(products)::text[], \(customers)::text[]) AS k(product, customer_id)
              JOIN paid_bills p ON p.product = k.product AND p.customer_id = k.customer_id
            """)
        var paid = Set<String>()
        for try await key in rows.decode(String.self) { paid.insert(key) }
        return paid
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    var value: Int { lock.withLock { count } }
    func increment() { lock.withLock { count += 1 } }
}
