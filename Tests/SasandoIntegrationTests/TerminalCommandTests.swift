import Foundation
import SasandoLedger
import Testing

/// `sasando terminal` (the real binary) as a payment point's operator uses it: a reversal answered
/// `90` (cut-over in progress) was recorded nowhere, so the command keeps it and `reverse --repeat`
/// sends it again; the payment is reversed once (a review found the files deleted and the payment
/// left settled).
@Suite struct TerminalCommandTests {
    @Test func aReversalAnswered90IsKeptAndRepeated() async throws {
        let binary = try #require(CrashRecoveryTests.binary, "SASANDO_BIN is not set: run ./scripts/test")
        try await IsolatedDatabase.using { isolated in
            let h = try await SwitchHarness.start(databaseURL: isolated.url, businessDayPollMilliseconds: 50)
            let folder = h.terminalsDirectory + "/" + h.folders[0].info.terminalID
            func terminal(_ arguments: [String]) async throws -> (status: Int32, output: String) {
                try await SasandoCLI.run(binary, ["terminal", "--credentials", folder, "--port", "\(h.port)"] + arguments)
            }
            func setState(_ state: String) async throws {
                try await h.database.client.query("UPDATE business_day SET state = \(state) WHERE id = 1")
                try await Task.sleep(for: .milliseconds(300))   // past the switch's business-day poll
            }
            func exists(_ file: String) -> Bool { FileManager.default.fileExists(atPath: folder + "/" + file) }

            let pay = try await terminal(["pay", "--product", "PLNPOST", "--customer", PaymentFlowTests.customer(12)])
            #expect(pay.status == 0, "\(pay.output)")
            #expect(exists("last-payment.json"))

            try await setState("cutting_over")
            let refused = try await terminal(["reverse"])
            #expect(refused.status == 1 && refused.output.contains("response 90"), "\(refused.output)")
            #expect(refused.output.contains("not recorded"), "\(refused.output)")
            #expect(exists("last-payment.json") && exists("unanswered-reversal.json"))

            try await setState("open")
            let repeated = try await terminal(["reverse", "--repeat"])
            #expect(repeated.status == 0 && repeated.output.contains("0410"), "\(repeated.output)")
            #expect(!exists("last-payment.json") && !exists("unanswered-reversal.json"))
            let reversals = try await IntegrationEnvironment.int(h.database, """
                SELECT count(*) FROM transactions WHERE kind = 'reversal' AND response_code = '00' AND terminal_id = \(h.folders[0].info.terminalID)
                """)
            #expect(reversals == 1)
            await h.stop()
        }
    }

    /// `terminal reconcile` (spec §3, 0500): the terminal's own totals from its journal agree with
    /// the switch (`00`); a journal missing a payment does not (`95`, exit 1). A review had to write
    /// its own client to send a 0500.
    @Test func reconcileSendsTheJournalsTotalsAndTheSwitchAgrees() async throws {
        let binary = try #require(CrashRecoveryTests.binary, "SASANDO_BIN is not set: run ./scripts/test")
        let h = try await SwitchHarness.start()
        let folder = h.terminalsDirectory + "/" + h.folders[3].info.terminalID
        func terminal(_ arguments: [String]) async throws -> (status: Int32, output: String) {
            try await SasandoCLI.run(binary, ["terminal", "--credentials", folder, "--port", "\(h.port)"] + arguments)
        }
        for product in [("PDAMKPG", 8), ("IPL", 10)] {
            let pay = try await terminal(["pay", "--product", product.0, "--customer", PaymentFlowTests.customer(product.1)])
            #expect(pay.status == 0, "\(pay.output)")
        }
        let reverse = try await terminal(["reverse"])
        #expect(reverse.status == 0, "\(reverse.output)")

        let reconcile = try await terminal(["reconcile"])
        #expect(reconcile.status == 0 && reconcile.output.contains("0510") && reconcile.output.contains("response 00"), "\(reconcile.output)")
        #expect(reconcile.output.contains("2 payments") && reconcile.output.contains("1 reversed"), "\(reconcile.output)")

        // A journal that lost its first payment: the totals differ.
        let journal = folder + "/journal.jsonl"
        let lines = try String(contentsOfFile: journal, encoding: .utf8).split(separator: "\n")
        try (lines.dropFirst().joined(separator: "\n") + "\n").write(toFile: journal, atomically: true, encoding: .utf8)
        let differs = try await terminal(["reconcile"])
        #expect(differs.status == 1 && differs.output.contains("response 95"), "\(differs.output)")
        #expect(try await terminal(["reconcile", "--date", "1399"]).status == 64)
        await h.stop()
    }
}
