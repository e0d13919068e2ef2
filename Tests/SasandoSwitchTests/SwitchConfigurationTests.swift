import Foundation
import Logging
import SasandoCore
import SasandoLedger
import SasandoSwitch
import Testing

/// `serve --config`: a partial file keeps the defaults, and the database wait bound reaches the
/// connection pool and, through it, the posting engine in both modes, and is refused outside its range.
@Suite struct SwitchConfigurationTests {
    private func decode(_ json: String) throws -> SwitchConfiguration {
        try JSONDecoder().decode(SwitchConfiguration.self, from: Data(json.utf8))
    }

    @Test func aPartialFileKeepsTheDefaults() throws {
        let c = try decode(#"{"port": 9583}"#)
        #expect(c.port == 9583)
        #expect(c.databaseWaitMilliseconds == Limits.databaseWaitMillisecondsDefault)
        let e = try engine(c)
        #expect(e.databaseWaitMilliseconds == 2_000)
        #expect(e.database.configuration.options.connectTimeout == .milliseconds(2_000))
        try c.validate()
    }

    /// The engine `serve` builds: its pool from the configuration (never connected here).
    private func engine(_ c: SwitchConfiguration) throws -> PostingEngine {
        let logger = Logger(label: "configuration-test")
        let database = try c.makeDatabase(url: "postgres://postgres@127.0.0.1:1/unused?sslmode=disable", logger: logger)
        return PostingEngine(database: database, configuration: c.postingEngine, logger: logger)
    }

    @Test func theDatabaseWaitBoundReachesTheEngineBatchedOrNot() throws {
        let batched = try decode(#"{"databaseWaitMilliseconds": 7500}"#)
        #expect(try engine(batched).databaseWaitMilliseconds == 7_500)
        // Opening a connection has the same bound, not the default.
        #expect(try engine(batched).database.configuration.options.connectTimeout == .milliseconds(7_500))
        #expect(batched.postingEngine.batchRequestsMax == batched.batchRequestsMax)
        let unbatched = try decode(#"{"databaseWaitMilliseconds": 7500, "batchingDisabled": true}"#)
        #expect(try engine(unbatched).databaseWaitMilliseconds == 7_500)
        #expect(unbatched.postingEngine.batchRequestsMax == 1)
    }

    @Test(arguments: [99, Limits.databaseWaitMillisecondsMax + 1, -1])
    func aWaitBoundOutsideItsRangeIsRefused(milliseconds: Int) throws {
        var c = SwitchConfiguration()
        c.databaseWaitMilliseconds = milliseconds
        #expect(throws: ConfigurationError.self) { try c.validate() }
        c.databaseWaitMilliseconds = 100
        try c.validate()
        c.databaseWaitMilliseconds = Limits.databaseWaitMillisecondsMax
        try c.validate()
    }
}
