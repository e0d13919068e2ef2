import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import SasandoCore
import SasandoISO8583
import SasandoLedger
import SasandoPKI
import SasandoSettlement
import SasandoSwitch
import SasandoTransport
import ServiceLifecycle
import Synchronization
import Testing

/// Integration tests need the real PostgreSQL that scripts/test starts (SASANDO_DATABASE_URL).
enum IntegrationEnvironment {
    static var databaseURL: String? {
        let url = ProcessInfo.processInfo.environment["SASANDO_DATABASE_URL"]
        return (url?.isEmpty ?? true) ? nil : url
    }
    /// The switches and engines the tests start answer `91` only after this long a database wait,
    /// not the 2 s default: the tests check what is answered, not how fast (the benchmarks do), and a
    /// debug build sharing 2 cores with the whole parallel suite can stall past 2 s (CI on 7b45e2c
    /// got `91`s in five suites at once). Tests of the bound itself set their own.
    static let databaseWaitMilliseconds = 10_000

    /// Once per test process, before any harness serves traffic: DDL takes exclusive locks and
    /// would deadlock with another suite's running switch.
    static func migrateOnce(_ database: SasandoDatabase) async throws {
        let task = migration.withLock { existing -> Task<Void, any Error> in
            if let existing { return existing }
            let created = Task { try await database.migrate(schemaSQL: schemaSQL) }
            existing = created
            return created
        }
        try await task.value
    }
    private static let migration = Mutex<Task<Void, any Error>?>(nil)

    /// A payment point of the test's own (merchant `merchantPrefix` + 6 random digits, terminal
    /// `terminalPrefix` + the same digits) with `deposit` and one active terminal whose MAC key is
    /// 32 × `macKeyByte`: for tests that drive the flows and the posting engine without a switch.
    static func ownPaymentPoint(_ database: SasandoDatabase, merchantPrefix: String, terminalPrefix: String, name: String,
                                deposit: Sen, macKeyByte: UInt8) async throws -> TerminalRecord {
        let digits = String((0..<6).map { _ in "0123456789".randomElement()! })
        let merchant = merchantPrefix + digits, terminalID = terminalPrefix + digits
        let macKey = [UInt8](repeating: macKeyByte, count: 32)
        let directory = TerminalDirectory(database: database)
        try await directory.upsertPaymentPoint(merchantID: merchant, name: "\(name) \(digits)")
        try await LedgerAccounts(database: database).openPaymentPoint(merchantID: merchant, openingDeposit: deposit)
        try await directory.insertTerminal(terminalID: terminalID, merchantID: merchant, macKey: macKey)
        return TerminalRecord(terminalID: terminalID, merchantID: merchant, terminalStatus: .active, merchantStatus: .active, macKey: macKey)
    }

    /// The first column of the first row as an integer.
    static func int(_ database: SasandoDatabase, _ query: PostgresQuery) async throws -> Int64 {
        for try await v in try await database.client.query(query).decode(Int64.self) { return v }
        throw LedgerError("no row")
    }

    static var schemaSQL: String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return try! String(contentsOf: root.appendingPathComponent("schema.sql"), encoding: .utf8)
    }
}

/// The flows and a posting engine of the test's own, on a database of its own (dropped afterwards),
/// with one payment point and a payment request for it: for tests of one request's path through
/// the engine without a switch. These tests hold locks and change triggers on purpose; on the
/// shared database a stalled write holds the shared fee and payable accounts, and DROP TRIGGER
/// queues every other suite's batch behind it (a parallel CI run answered those 91).
struct OwnEngineFixture {
    let database: SasandoDatabase
    let terminal: TerminalRecord
    let flows: LedgerFlows
    let payment: ISOMessage
    /// At `critical`: for the test's own queries.
    let logger: Logger

    /// Runs `body` with a fixture; the engine, the client and the database are gone afterwards,
    /// whether `body` threw or not.
    static func run(merchantPrefix: String, terminalPrefix: String, name: String, macKeyByte: UInt8,
                    databaseWaitMilliseconds: Int = IntegrationEnvironment.databaseWaitMilliseconds,
                    label: String,
                    _ body: (OwnEngineFixture) async throws -> Void) async throws {
        var logger = Logger(label: label)
        logger.logLevel = .critical
        try await IsolatedDatabase.using { isolated in
            var tasks: [Task<Void, any Error>] = []
            defer { for task in tasks.reversed() { task.cancel() } }
            let database = try SasandoDatabase(url: isolated.url, connectionsMax: 4, waitMilliseconds: databaseWaitMilliseconds, logger: logger)
            tasks.append(Task { try await database.run() })
            try await database.migrate(schemaSQL: IntegrationEnvironment.schemaSQL)
            let terminal = try await IntegrationEnvironment.ownPaymentPoint(database, merchantPrefix: merchantPrefix, terminalPrefix: terminalPrefix,
                                                                            name: name, deposit: .rupiah(10_000_000), macKeyByte: macKeyByte)
            let (flows, day, engineTask) = instance(on: database, logger: logger)
            tasks.append(engineTask)
            var rng = SystemRandomNumberGenerator()
            let payment = BenchmarkWorkload.payment(requests: TerminalRequests(terminalID: terminal.terminalID, merchantID: terminal.merchantID),
                                                    product: .pdamKupang, businessDate: try await day.current().date, using: &rng)
            try await body(OwnEngineFixture(database: database, terminal: terminal, flows: flows, payment: payment, logger: logger))
        }
    }

    /// One switch instance's posting engine (running until its task is cancelled) and flows, on
    /// `database`: the fixture's own, or a second instance beside it.
    static func instance(on database: SasandoDatabase, logger: Logger)
        -> (flows: LedgerFlows, businessDay: BusinessDayService, engine: Task<Void, any Error>) {
        let engine = PostingEngine(database: database, configuration: PostingEngineConfiguration(), logger: logger)
        let day = BusinessDayService(database: database)
        return (LedgerFlows(engine: engine, businessDay: day, configuration: SwitchConfiguration(), logger: logger), day,
                Task { try await engine.run() })
    }
}

/// A real switch on 127.0.0.1, port chosen by the OS, with its own CA and freshly provisioned
/// terminals (unique prefixes per harness so tests do not share terminals or payment points).
final class SwitchHarness: @unchecked Sendable {
    let database: SasandoDatabase
    let directory: TerminalDirectory
    let ledger: LedgerAccounts
    let engine: PostingEngine
    let app: SwitchApplication
    /// The business day (the `business_day` row) the flows and the cut-over scheduler use.
    let businessDay: BusinessDayService
    var settlement: SettlementService { SettlementService(database: database) }
    let pkiDirectory: String
    let terminalsDirectory: String
    let port: Int
    let folders: [TerminalCredentialFolder]
    private let runTask: Task<Void, any Error>
    private let databaseTask: Task<Void, any Error>
    private let group: ServiceGroup

    /// - Parameters:
    ///   - terminals: how many terminals to provision (payment points: `paymentPoints`).
    ///   - prefix: 3-character terminal prefix; merchant prefix is derived from it.
    ///   - databaseURL: another database than SASANDO_DATABASE_URL (a fresh one: migrated here). Tests
    ///     that cut over or settle use their own database, so the shared business day never moves.
    ///   - migrated: `databaseURL`'s schema is applied already (by its owner: the application role,
    ///     which the harness then connects as, may not apply it).
    ///   - clock: the business day's clock (automatic cut-over tests).
    static func start(terminals: Int = 4, paymentPoints: Int = 1, openingDeposit: Sen = .rupiah(50_000_000),
                      databaseURL: String? = nil, migrated: Bool = false,
                      businessDayPollMilliseconds: Int = BusinessDayLimits.businessDayPollMilliseconds,
                      clock: @escaping @Sendable () -> Date = { Date() },
                      configure: (inout SwitchConfiguration) -> Void = { _ in }) async throws -> SwitchHarness {
        let sharedURL = try #require(IntegrationEnvironment.databaseURL, "SASANDO_DATABASE_URL is not set: run ./scripts/test")
        let url = databaseURL ?? sharedURL
        var logger = Logger(label: "test")
        logger.logLevel = ProcessInfo.processInfo.environment["SASANDO_TEST_LOG"] == nil ? .critical : .debug
        let databaseConnections = 8
        let database = try SasandoDatabase(url: url, connectionsMax: databaseConnections,
                                           waitMilliseconds: IntegrationEnvironment.databaseWaitMilliseconds, logger: logger)
        let databaseTask = Task { try await database.run() }
        if databaseURL == nil {
            try await IntegrationEnvironment.migrateOnce(database)
        } else if !migrated {
            try await database.migrate(schemaSQL: IntegrationEnvironment.schemaSQL)
        }

        let root = FileManager.default.temporaryDirectory.appendingPathComponent("sasando-test-\(UUID().uuidString)").path
        let pki = root + "/pki"
        let provisioning = Provisioning(pkiDirectory: pki)
        // Unique IDs per harness: T + 2 random letters and a digit, merchant M + the same + random
        // digits. Provisioning refuses a terminal ID the database already has (another run's, on
        // the shared database): then another tag, in a folder of its own.
        let directory = TerminalDirectory(database: database)
        let ledger = LedgerAccounts(database: database)
        var terminalsDirectory = ""
        for attempt in 1...8 {
            let tag = String((0..<2).map { _ in "ABCDEFGHJKLMNPQRSTUVWXYZ".randomElement()! }) + String(Int.random(in: 0...9))
            terminalsDirectory = root + "/terminals-\(attempt)"
            var plan = Provisioning.TerminalPlan(count: terminals, paymentPoints: paymentPoints, outputDirectory: terminalsDirectory)
            plan.terminalPrefix = "T" + tag                       // 4 chars + 4 digits
            plan.merchantPrefix = "M" + tag + String(Int.random(in: 100_000...999_999))  // 10 chars + 5 digits
            plan.openingDeposit = openingDeposit
            do {
                _ = try await provisioning.provisionTerminals(plan, directory: directory, ledger: ledger)
                break
            } catch let taken as ConfigurationError where taken.description.contains("already registered") && attempt < 8 {
                continue
            }
        }
        let folders = try FileManager.default.contentsOfDirectory(atPath: terminalsDirectory).sorted()
            .map { try TerminalCredentialFolder.load(from: terminalsDirectory + "/" + $0) }

        var configuration = SwitchConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.pkiDirectory = pki
        configure(&configuration)
        configuration.databaseConnectionsMax = databaseConnections  // the pool opened above
        let engine = PostingEngine(database: database, configuration: configuration.postingEngine, logger: logger)
        let businessDay = BusinessDayService(database: database, cutoverHourWITA: configuration.cutoverHourWITA,
                                             pollMilliseconds: businessDayPollMilliseconds, clock: clock)
        let flows = LedgerFlows(engine: engine, businessDay: businessDay, configuration: configuration, logger: logger)
        // The MAC keys provisioning sealed, opened with the key it made in the harness's PKI folder.
        let app = SwitchApplication(configuration: configuration, database: database, flows: flows,
                                    macKeySealer: try Provisioning.keyEncryptionKey(pkiDirectory: pki), extraServices: [engine],
                                    sslContext: try SwitchApplication.loadServerTLS(pkiDirectory: pki), logger: logger,
                                    businessDay: businessDay)
        // The database already runs in its own task; the group runs the engine, the cut-over scheduler and the listener.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: engine)]
        if let scheduler = app.scheduler { services.append(.init(service: scheduler)) }
        services.append(.init(service: app.listener))
        let group = ServiceGroup(configuration: .init(services: services, logger: logger))
        let runTask = Task { try await group.run() }
        var port = 0
        for await address in app.listener.boundAddress { port = address.port ?? 0 }
        return SwitchHarness(database: database, directory: directory, ledger: ledger, engine: engine, app: app,
                             businessDay: businessDay, pkiDirectory: pki,
                             terminalsDirectory: terminalsDirectory, port: port, folders: folders, runTask: runTask,
                             databaseTask: databaseTask, group: group)
    }

    private init(database: SasandoDatabase, directory: TerminalDirectory, ledger: LedgerAccounts, engine: PostingEngine,
                 app: SwitchApplication, businessDay: BusinessDayService, pkiDirectory: String, terminalsDirectory: String, port: Int,
                 folders: [TerminalCredentialFolder], runTask: Task<Void, any Error>, databaseTask: Task<Void, any Error>, group: ServiceGroup) {
        self.database = database
        self.directory = directory
        self.ledger = ledger
        self.engine = engine
        self.app = app
        self.businessDay = businessDay
        self.pkiDirectory = pkiDirectory
        self.terminalsDirectory = terminalsDirectory
        self.port = port
        self.folders = folders
        self.runTask = runTask
        self.databaseTask = databaseTask
        self.group = group
    }

    /// A connected (not yet signed-on) client for terminal `index`.
    func connect(_ index: Int = 0) async throws -> (TerminalClient, TerminalRequests, TerminalCredentialFolder) {
        let folder = folders[index]
        let ssl = try TLSSetup.clientContext(certificatePEM: folder.certificatePEM, privateKeyPEM: folder.privateKeyPEM,
                                             caPEM: folder.caCertificatePEM)
        let client = try await TerminalClient.connect(host: "127.0.0.1", port: port, sslContext: ssl,
                                                      group: MultiThreadedEventLoopGroup.singleton, responseTimeoutSeconds: 10)
        return (client, TerminalRequests(terminalID: folder.info.terminalID, merchantID: folder.info.merchantID), folder)
    }

    /// Connected and signed on.
    func signedOn(_ index: Int = 0) async throws -> (TerminalClient, TerminalRequests, TerminalCredentialFolder) {
        let (client, requests, folder) = try await connect(index)
        let response = try await client.send(requests.signOn())
        #expect(response[39] == "00")
        return (client, requests, folder)
    }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await runTask.value
        databaseTask.cancel()
        try? FileManager.default.removeItem(atPath: (pkiDirectory as NSString).deletingLastPathComponent)
    }
}

/// Runs the real `sasando` binary and returns its exit status and output, waiting off Swift's
/// cooperative pool: a test that blocked a pool thread on the child (as `Process.waitUntilExit`
/// does) while the switch it talks to needed that thread left two such tests' requests
/// unanswered for 30 s on a 2-core machine.
enum SasandoCLI {
    static func run(_ binary: String, _ arguments: [String], environment: [String: String] = [:]) async throws -> (status: Int32, output: String) {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                do { continuation.resume(returning: try CrashRecoveryTests.run(binary, arguments, environment: environment)) } catch { continuation.resume(throwing: error) }
            }
        }
    }
}
