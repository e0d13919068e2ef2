import Foundation
import SasandoCore
import SasandoLedger
import SasandoSwitch
import Testing

/// `serve --config`: a partial file keeps the defaults, and the database wait bound reaches the
/// posting engine in both modes and is refused outside its range.
@Suite struct SwitchConfigurationTests {
    private func decode(_ json: String) throws -> SwitchConfiguration {
        try JSONDecoder().decode(SwitchConfiguration.self, from: Data(json.utf8))
    }

    @Test func aPartialFileKeepsTheDefaults() throws {
        let c = try decode(#"{"port": 9583}"#)
        #expect(c.port == 9583)
        #expect(c.databaseWaitMilliseconds == Limits.databaseWaitMillisecondsDefault)
        #expect(c.postingEngine.databaseWaitMilliseconds == 2_000)
        try c.validate()
    }

    @Test func theDatabaseWaitBoundReachesTheEngineBatchedOrNot() throws {
        let batched = try decode(#"{"databaseWaitMilliseconds": 7500}"#)
        #expect(batched.postingEngine.databaseWaitMilliseconds == 7_500)
        #expect(batched.postingEngine.batchRequestsMax == batched.batchRequestsMax)
        let unbatched = try decode(#"{"databaseWaitMilliseconds": 7500, "batchingDisabled": true}"#)
        #expect(unbatched.postingEngine.databaseWaitMilliseconds == 7_500)
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
