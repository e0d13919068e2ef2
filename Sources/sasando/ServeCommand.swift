import ArgumentParser
import Foundation
import Logging
import SasandoConsole
import SasandoCore
import SasandoLedger
import SasandoSettlement
import SasandoSwitch
import ServiceLifecycle

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the switch in the foreground (SIGINT/SIGTERM drain and stop it).")
    @OptionGroup var database: DatabaseOptions
    @Option(help: "Terminal port (spec default 8583).") var port: Int?
    @Option(help: "Listen address.") var host: String?
    @Option(name: .customLong("console-port"), help: "Staff console HTTPS port (default 8443).") var consolePort: Int?
    @Option(name: .customLong("console-host"), help: "Staff console listen address (default 127.0.0.1: this machine only); give the bank's internal interface for staff desks.") var consoleHost: String?
    @Option(help: "JSON configuration file (every key optional; see README).") var config: String?
    @Option(help: "Project data folder: the PKI is DATA/pki unless the config file sets pkiDirectory.") var data: String = ".data"
    @Flag(name: .customLong("no-batching"), help: "One database transaction per request (benchmark baseline only).") var noBatching = false

    func run() async throws {
        Limits.assertConsistent()
        var (configuration, fileSetsPKI) = try SwitchConfiguration.loadNotingPKI(path: config)
        if !fileSetsPKI { configuration.pkiDirectory = (data as NSString).appendingPathComponent("pki") }
        if let port { configuration.port = port }
        if let host { configuration.host = host }
        if let consolePort { configuration.consolePort = consolePort }
        if let consoleHost { configuration.consoleHost = consoleHost }
        if noBatching { configuration.batchingDisabled = true }
        try configuration.validate()
        let logger = makeLogger("sasando")
        let metrics = ConsoleMetrics.bootstrap()
        let url = try database.resolvedURL()
        logger.info("starting", metadata: ["database": "\(DatabaseConfiguration.redacted(url: url))", "port": "\(configuration.port)",
                                           "pki": "\(configuration.pkiDirectory)", "version": "\(SasandoVersion.release)",
                                           "batching": "\(!configuration.batchingDisabled)"])
        let db = try configuration.makeDatabase(url: url, logger: logger)
        let engine = PostingEngine(database: db, configuration: configuration.postingEngine, logger: logger)
        // One business-day service per instance: the flows, the console and the cut-over scheduler share its cache.
        let businessDay = BusinessDayService(database: db, cutoverHourWITA: configuration.cutoverHourWITA)
        let flows = LedgerFlows(engine: engine, businessDay: businessDay, configuration: configuration, logger: logger)
        // Staff console (HTTPS on consolePort, /metrics) in the same ServiceGroup: drained before the database closes.
        let console = try await buildApplication(configuration: configuration, dependencies: ConsoleDependencies(
            database: db, businessDay: businessDay,
            settlement: SettlementService(database: db), metrics: metrics, logger: logger))
        let app = SwitchApplication(configuration: configuration, database: db, flows: flows,
                                    macKeySealer: try Provisioning.keyEncryptionKey(pkiDirectory: configuration.pkiDirectory),
                                    extraServices: [engine, console],
                                    sslContext: try SwitchApplication.loadServerTLS(pkiDirectory: configuration.pkiDirectory),
                                    logger: logger, businessDay: businessDay)
        // Said once at start, on a connection of its own: a warning, not a refusal, so a cluster
        // set up before the application role existed still serves; and the switch still starts
        // (answering 91) when the database is down.
        let roleCheck = Task {
            if (try? await SasandoDatabase.connectsAsSuperuser(url: url, milliseconds: configuration.databaseWaitMilliseconds, logger: logger)) == true {
                logger.warning("connected to PostgreSQL as a superuser, who can disable the ledger's triggers: connect as the application role sasando_app (`scripts/pg app-url`; README, \"Database roles\")")
            }
        }
        defer { roleCheck.cancel() }
        try await app.serviceGroup(logger: logger).run()
    }
}
