import ArgumentParser
import Foundation
import Logging
import SasandoCore
import SasandoLedger
import SasandoSwitch
import ServiceLifecycle

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the switch in the foreground (SIGINT/SIGTERM drain and stop it).")
    @OptionGroup var database: DatabaseOptions
    @Option(help: "Terminal port (spec default 8583).") var port: Int?
    @Option(help: "Listen address.") var host: String?
    @Option(help: "JSON configuration file (every key optional; see README).") var config: String?
    @Option(help: "Project data folder (PKI under DATA/pki unless the config says otherwise).") var data: String = ".data"
    @Flag(name: .customLong("no-batching"), help: "One database transaction per request (benchmark baseline only).") var noBatching = false

    func run() async throws {
        Limits.assertConsistent()
        var configuration = try SwitchConfiguration.load(path: config)
        if config == nil { configuration.pkiDirectory = (data as NSString).appendingPathComponent("pki") }
        if let port { configuration.port = port }
        if let host { configuration.host = host }
        if noBatching { configuration.batchingDisabled = true }
        try configuration.validate()
        let logger = makeLogger("sasando")
        let url = try database.resolvedURL()
        logger.info("starting", metadata: ["database": "\(DatabaseConfiguration.redacted(url: url))", "port": "\(configuration.port)",
                                           "batching": "\(!configuration.batchingDisabled)"])
        let db = try SasandoDatabase(url: url, connectionsMax: configuration.databaseConnectionsMax, logger: logger)
        let engineConfiguration = configuration.batchingDisabled
            ? PostingEngineConfiguration.unbatched(connections: configuration.databaseConnectionsMax)
            : PostingEngineConfiguration(batchRequestsMax: configuration.batchRequestsMax,
                                         batchWaitMicroseconds: configuration.batchWaitMicroseconds,
                                         queueRequestsMax: configuration.postingQueueRequestsMax)
        let engine = PostingEngine(database: db, configuration: engineConfiguration, logger: logger)
        let flows = LedgerFlows(engine: engine, configuration: configuration, logger: logger)
        let app = SwitchApplication(configuration: configuration, database: db, flows: flows, extraServices: [engine],
                                    sslContext: try SwitchApplication.loadServerTLS(pkiDirectory: configuration.pkiDirectory),
                                    logger: logger)
        try await app.serviceGroup(logger: logger).run()
    }
}
