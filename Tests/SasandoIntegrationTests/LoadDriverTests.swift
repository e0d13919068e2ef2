import Foundation
import SasandoCore
import SasandoLoad
import Testing

/// The load generator's drivers against a real switch (TLS on loopback, real PostgreSQL). Open
/// loop keeps its schedule (the offered count is rate × duration), every request is answered as
/// expected, each one's send lag is recorded; closed loop keeps its connections busy for the
/// duration; in both, what the terminals saw approved is exactly what the ledger holds.
@Suite struct LoadDriverTests {
    @Test func openLoopKeepsItsScheduleAndTheLedgerAgrees() async throws {
        let harness = try await SwitchHarness.start(terminals: 4, paymentPoints: 2, openingDeposit: .rupiah(1_000_000_000))
        defer { Task { await harness.stop() } }
        var scenario = Scenario(name: "open-loop-test")
        scenario.terminals = 4
        scenario.mode = .open
        scenario.targetRatePerSecond = 150
        scenario.durationSeconds = 2
        scenario.mix = .init(inquiry: 0.3, payment: 0.6, reversal: 0.1)
        var options = LoadOptions(scenario: scenario, credentialsDirectory: harness.terminalsDirectory)
        options.host = "127.0.0.1"
        options.port = harness.port
        options.progress = false

        let result = try await LoadRunner(options: options, log: { _ in }).run()
        let report = LoadReport(result: result, machine: "test")
        let offered = 150 * 2
        let answered = report.latencies.filter { $0.type != RequestType.signOn.rawValue }.reduce(0) { $0 + Int($1.count) }
        // Each event loop rounds its share of the schedule: a request more or less per loop.
        #expect(abs(answered - offered) <= 4, "\(answered) answered of \(offered) scheduled")
        #expect(report.unexpected == 0, "\(report.errors) \(report.responseCodes)")
        #expect(Int(report.sendLag?.count ?? 0) == answered)
        #expect((report.sendLag?.maxMs ?? .infinity) < 1_000)

        let audit = try await LedgerAudit.run(database: harness.database, result: result)
        #expect(audit.approvedSeen > 0)
        #expect(audit.approvedSeen == audit.approvedInLedger && audit.amountSeenSen == audit.amountInLedgerSen)
        #expect(audit.reversedSeen == audit.reversedInLedger)
        #expect(audit.missingFromLedger.isEmpty && audit.postedButNotApproved.isEmpty && audit.mismatched.isEmpty)
    }

    @Test func closedLoopRunsForItsDurationAndTheLedgerAgrees() async throws {
        let harness = try await SwitchHarness.start(terminals: 4, paymentPoints: 2, openingDeposit: .rupiah(1_000_000_000))
        defer { Task { await harness.stop() } }
        var scenario = Scenario(name: "closed-loop-test")
        scenario.terminals = 4
        scenario.mode = .closed
        scenario.inFlightPerConnection = 2
        scenario.durationSeconds = 2
        scenario.mix = .init(inquiry: 0.3, payment: 0.6, reversal: 0.1)
        var options = LoadOptions(scenario: scenario, credentialsDirectory: harness.terminalsDirectory)
        options.host = "127.0.0.1"
        options.port = harness.port
        options.progress = false

        let result = try await LoadRunner(options: options, log: { _ in }).run()
        let report = LoadReport(result: result, machine: "test")
        let answered = report.latencies.filter { $0.type != RequestType.signOn.rawValue }.reduce(0) { $0 + Int($1.count) }
        // 8 requests always in flight for 2 s: far more than one round each, and none left over.
        #expect(answered > 8 * 5, "\(answered) answered")
        #expect(report.sent == report.completed)
        #expect(report.unexpected == 0, "\(report.errors) \(report.responseCodes)")
        #expect(report.sendLag == nil)
        #expect(result.loadSeconds >= 2 && result.loadSeconds < 10)

        let audit = try await LedgerAudit.run(database: harness.database, result: result)
        #expect(audit.approvedSeen > 0)
        #expect(audit.approvedSeen == audit.approvedInLedger && audit.amountSeenSen == audit.amountInLedgerSen)
        #expect(audit.reversedSeen == audit.reversedInLedger)
        #expect(audit.missingFromLedger.isEmpty && audit.postedButNotApproved.isEmpty && audit.mismatched.isEmpty)
    }
}
