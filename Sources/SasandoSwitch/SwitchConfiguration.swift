import Foundation
import Logging
import SasandoCore
import SasandoLedger

/// Operational settings of one switch instance. Loaded from a JSON file (`serve --config`); every
/// key is optional and falls back to the defaults below. The database URL comes from
/// `SASANDO_DATABASE_URL` so that no password sits in a config file.
public struct SwitchConfiguration: Codable, Sendable, Equatable {
    public var host: String = "0.0.0.0"
    public var port: Int = 8583
    /// Staff console (HTTPS, same server certificate as the terminal listener). 0 picks a free port.
    public var consolePort: Int = 8443
    /// The console's listen address: this machine only unless set. Terminals come from the payment
    /// points' networks, staff from the bank's: the console (and its unauthenticated `/metrics`)
    /// belongs on an internal interface, named here, never on every interface by default.
    public var consoleHost: String = "127.0.0.1"
    /// Folder with `ca.pem` (terminal CA), `server.pem`, `server-key.pem`.
    public var pkiDirectory: String = ".data/pki"
    /// The console's own certificate chain and private key (PEM files; the key readable by its
    /// owner only), e.g. from the bank's web PKI, which staff browsers already trust. Both or
    /// neither; unset, the console shows the switch's server certificate (`server.pem`), which the
    /// terminal CA issued: right for the demo, but that CA has no name constraints, and a browser
    /// told to trust it would trust every certificate it ever signs.
    public var consoleCertificateFile: String?
    public var consoleKeyFile: String?
    /// Share of each admin fee credited to the payment point's commission account, in basis points
    /// (1/10,000). The rest is the bank's fee income. Default: half.
    public var commissionBasisPoints: Int = 5_000
    /// Business date rolls at this local (WITA) hour. Spec §3 default: 23.
    public var cutoverHourWITA: Int = 23
    /// Group commit: a batch closes at this many requests...
    public var batchRequestsMax: Int = 1_000
    /// ...or this long after its first request, whichever comes first.
    public var batchWaitMicroseconds: Int = 500
    /// Independent batch lanes (a payment point always uses the same lane). More than one lets one
    /// lane's Swift work overlap another's database work, but lanes still queue behind each other on
    /// the shared accounts (fee income, payables) that every payment credits.
    public var postingLanes: Int = 2
    /// Batches of one lane in the database at once: the next batch's BEGIN and reads overlap the
    /// previous one's writes and COMMIT (it waits for that COMMIT only on rows both lock).
    public var postingBatchesInFlightPerLane: Int = 1
    /// While at most this many requests wait for a batch, all lanes' requests go in one batch at a
    /// time (light load: fewer, larger batches, less CPU); above it lanes run side by side. 0: never merge.
    public var postingMergeRequestsMax: Int = 32
    /// Requests waiting for a batch; past it new requests get `91` at once (the switch is saturated).
    public var postingQueueRequestsMax: Int = 20_000
    /// How long a request's batch may wait for the database (a connection, locks, its statements
    /// before COMMIT) before its requests are answered `91` and rolled back.
    public var databaseWaitMilliseconds: Int = Limits.databaseWaitMillisecondsDefault
    /// One transaction per request (for comparison benchmarks); never for production.
    public var batchingDisabled: Bool = false
    public var connectionsMax: Int = Limits.connectionsMax
    /// Connections not yet through their TLS handshake, in all and per remote address (see `Limits`).
    public var tlsHandshakesInProgressMax: Int = Limits.tlsHandshakesInProgressMax
    public var tlsHandshakesInProgressPerAddressMax: Int = Limits.tlsHandshakesInProgressPerAddressMax
    public var databaseConnectionsMax: Int = Limits.databaseConnectionsMax

    public init() {}

    public static func load(path: String?) throws -> SwitchConfiguration {
        try loadNotingPKI(path: path).configuration
    }

    /// The configuration, and whether the file named a `pkiDirectory` (else `serve --data` decides it).
    public static func loadNotingPKI(path: String?) throws -> (configuration: SwitchConfiguration, setsPKIDirectory: Bool) {
        guard let path else { return (SwitchConfiguration(), false) }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError(description: "cannot read the configuration file \(path)")
        }
        struct PKIKey: Decodable { var pkiDirectory: String? }
        // A mistyped key ("consolPort") would otherwise be ignored and its default used, silently.
        if let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
            let known = Set(Mirror(reflecting: SwitchConfiguration()).children.compactMap(\.label))
            let unknown = object.keys.filter { !known.contains($0) }.sorted()
            guard unknown.isEmpty else {
                throw ConfigurationError(description: "configuration file \(path): unknown key(s) \(unknown.joined(separator: ", ")); known: \(known.sorted().joined(separator: ", "))")
            }
        }
        do {
            let configuration = try JSONDecoder().decode(SwitchConfiguration.self, from: data)
            return (configuration, try JSONDecoder().decode(PKIKey.self, from: data).pkiDirectory != nil)
        } catch let error as DecodingError {
            throw ConfigurationError(description: "configuration file \(path): \(explainDecodingError(error))")
        }
    }


    public func validate() throws {
        func require(_ ok: Bool, _ message: String) throws {
            if !ok { throw ConfigurationError(description: message) }
        }
        try require((1...65535).contains(port) || port == 0, "port must be 0...65535")
        try require((0...65535).contains(consolePort), "consolePort must be 0...65535")
        try require(consolePort == 0 || consolePort != port, "consolePort must differ from port")
        try require((consoleCertificateFile == nil) == (consoleKeyFile == nil), "consoleCertificateFile and consoleKeyFile go together")
        try require((0...10_000).contains(commissionBasisPoints), "commissionBasisPoints must be 0...10000")
        try require((0...23).contains(cutoverHourWITA), "cutoverHourWITA must be 0...23")
        try require((1...10_000).contains(batchRequestsMax), "batchRequestsMax must be 1...10000")
        try require((0...1_000_000).contains(batchWaitMicroseconds), "batchWaitMicroseconds must be 0...1000000")
        try require(postingQueueRequestsMax >= batchRequestsMax, "postingQueueRequestsMax must be >= batchRequestsMax")
        try require((1...16).contains(postingLanes), "postingLanes must be 1...16")
        try require((1...8).contains(postingBatchesInFlightPerLane), "postingBatchesInFlightPerLane must be 1...8")
        try require((0...batchRequestsMax).contains(postingMergeRequestsMax), "postingMergeRequestsMax must be 0...batchRequestsMax")
        try require(postingLanes * postingBatchesInFlightPerLane < databaseConnectionsMax,
                    "postingLanes x postingBatchesInFlightPerLane must leave a database connection for the rest")
        try require((100...Limits.databaseWaitMillisecondsMax).contains(databaseWaitMilliseconds),
                    "databaseWaitMilliseconds must be 100...\(Limits.databaseWaitMillisecondsMax)")
        try require(connectionsMax > 0 && databaseConnectionsMax > 0 && tlsHandshakesInProgressMax > 0 && tlsHandshakesInProgressPerAddressMax > 0,
                    "connection limits must be positive")
    }
}

extension SwitchConfiguration {
    // Custom decoding so a partial file keeps the defaults for missing keys.
    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        host = try c.decodeIfPresent(String.self, forKey: .host) ?? host
        port = try c.decodeIfPresent(Int.self, forKey: .port) ?? port
        consolePort = try c.decodeIfPresent(Int.self, forKey: .consolePort) ?? consolePort
        consoleHost = try c.decodeIfPresent(String.self, forKey: .consoleHost) ?? consoleHost
        pkiDirectory = try c.decodeIfPresent(String.self, forKey: .pkiDirectory) ?? pkiDirectory
        consoleCertificateFile = try c.decodeIfPresent(String.self, forKey: .consoleCertificateFile)
        consoleKeyFile = try c.decodeIfPresent(String.self, forKey: .consoleKeyFile)
        commissionBasisPoints = try c.decodeIfPresent(Int.self, forKey: .commissionBasisPoints) ?? commissionBasisPoints
        cutoverHourWITA = try c.decodeIfPresent(Int.self, forKey: .cutoverHourWITA) ?? cutoverHourWITA
        batchRequestsMax = try c.decodeIfPresent(Int.self, forKey: .batchRequestsMax) ?? batchRequestsMax
        batchWaitMicroseconds = try c.decodeIfPresent(Int.self, forKey: .batchWaitMicroseconds) ?? batchWaitMicroseconds
        postingQueueRequestsMax = try c.decodeIfPresent(Int.self, forKey: .postingQueueRequestsMax) ?? postingQueueRequestsMax
        postingLanes = try c.decodeIfPresent(Int.self, forKey: .postingLanes) ?? postingLanes
        postingBatchesInFlightPerLane = try c.decodeIfPresent(Int.self, forKey: .postingBatchesInFlightPerLane) ?? postingBatchesInFlightPerLane
        postingMergeRequestsMax = try c.decodeIfPresent(Int.self, forKey: .postingMergeRequestsMax) ?? postingMergeRequestsMax
        databaseWaitMilliseconds = try c.decodeIfPresent(Int.self, forKey: .databaseWaitMilliseconds) ?? databaseWaitMilliseconds
        batchingDisabled = try c.decodeIfPresent(Bool.self, forKey: .batchingDisabled) ?? batchingDisabled
        connectionsMax = try c.decodeIfPresent(Int.self, forKey: .connectionsMax) ?? connectionsMax
        tlsHandshakesInProgressMax = try c.decodeIfPresent(Int.self, forKey: .tlsHandshakesInProgressMax) ?? tlsHandshakesInProgressMax
        tlsHandshakesInProgressPerAddressMax = try c.decodeIfPresent(Int.self, forKey: .tlsHandshakesInProgressPerAddressMax)
            ?? tlsHandshakesInProgressPerAddressMax
        databaseConnectionsMax = try c.decodeIfPresent(Int.self, forKey: .databaseConnectionsMax) ?? databaseConnectionsMax
    }
}

public struct ConfigurationError: Error, CustomStringConvertible {
    public let description: String
    public init(description: String) { self.description = description }
}

extension SwitchConfiguration {
    /// The posting engine this configuration asks for: group commit with its lanes and limits, or
    /// (`batchingDisabled`) one transaction per request on every database connection.
    public var postingEngine: PostingEngineConfiguration {
        batchingDisabled
            ? .unbatched(connections: databaseConnectionsMax)
            : PostingEngineConfiguration(batchRequestsMax: batchRequestsMax, batchWaitMicroseconds: batchWaitMicroseconds,
                                         queueRequestsMax: postingQueueRequestsMax,
                                         concurrentBatchesMax: postingBatchesInFlightPerLane, lanes: postingLanes,
                                         mergeRequestsMax: postingMergeRequestsMax)
    }

    /// The switch's connection pool: `databaseConnectionsMax`, the lanes' connections kept open, and
    /// `databaseWaitMilliseconds`, the one bound the posting engine and `withDeadline` both read.
    public func makeDatabase(url: String, logger: Logger) throws -> SasandoDatabase {
        try SasandoDatabase(url: url, connectionsMax: databaseConnectionsMax, connectionsKeptOpen: Limits.databaseConnectionsKeptOpen,
                            waitMilliseconds: databaseWaitMilliseconds, logger: logger)
    }
}
