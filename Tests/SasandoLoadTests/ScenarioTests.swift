import Foundation
@testable import SasandoLoad
import Testing

/// Scenario files as an integrator writes them: a typo, an empty product list, shares that do not
/// add up or a name that is not a file name are refused with the reason, never run as something else
/// (a review found each of these silently run or crash the generator).
@Suite struct ScenarioTests {
    static func decode(_ json: String) throws -> Scenario {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("scenario-\(UUID().uuidString).json").path
        try json.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let scenario = try Scenario.load(path: path)
        try scenario.validate()
        return scenario
    }

    static func refusal(_ json: String) -> String? {
        do { _ = try decode(json); return nil } catch { return "\(error)" }
    }

    @Test func theShippedScenariosLoad() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("loadtest/scenarios")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".json") }
        #expect(Set(files) == ["smoke.json", "steady.json", "peak.json", "reversal-storm.json", "hot-biller.json"])
        for file in files {
            let scenario = try Scenario.load(path: folder.appendingPathComponent(file).path)
            try scenario.validate()
            #expect(scenario.name + ".json" == file)
        }
    }

    @Test func aMistypedKeyIsRefusedWithTheKnownOnes() {
        let message = Self.refusal(#"{"name": "typo", "durationSecond": 2, "terminal": 3}"#)
        #expect(message?.contains("unknown key(s) in the scenario: durationSecond, terminal") == true, "\(message ?? "accepted")")
        #expect(message?.contains("known: name, description, terminals, durationSeconds") == true)
        let mix = Self.refusal(#"{"name": "typo", "mix": {"inquery": 0.3, "payment": 0.7, "reversal": 0}}"#)
        #expect(mix?.contains("unknown key(s) in mix: inquery") == true, "\(mix ?? "accepted")")
    }

    @Test func productsMustBeKnownAndNotEmpty() {
        #expect(Self.refusal(#"{"name": "p", "products": []}"#)?.contains("products must name at least one of PLNPOST") == true)
        #expect(Self.refusal(#"{"name": "p", "products": ["FOO"]}"#)?.contains("unknown product FOO; known: PLNPOST, PLNPRE") == true)
        #expect(Self.refusal(#"{"name": "p", "products": ["IPL"]}"#) == nil)
    }

    @Test func mixSharesMustAddUpToOne() {
        for mix in [#"{"inquiry": 0.3, "payment": 0.6, "reversal": 0.3}"#, #"{"inquiry": 3, "payment": 6, "reversal": 1}"#,
                    #"{"inquiry": 1e308, "payment": 1e308, "reversal": 1e308}"#, #"{"inquiry": -0.5, "payment": 1.5, "reversal": 0}"#] {
            #expect(Self.refusal(#"{"name": "m", "mix": \#(mix)}"#)?.contains("add up to 1") == true, "\(mix)")
        }
        #expect(Self.refusal(#"{"name": "m", "mix": {"inquiry": 0.3, "payment": 0.6, "reversal": 0.1}}"#) == nil)
    }

    @Test func theNameMustBeAFileName() {
        for name in ["../../../tmp/escaped", ".hidden", "a/b", "", String(repeating: "x", count: 65), "sp ace"] {
            #expect(Self.refusal(#"{"name": "\#(name)"}"#)?.contains("name must be") == true, "\(name)")
        }
        #expect(Self.refusal(#"{"name": "steady-2.night_run"}"#) == nil)
    }

    @Test func wrongTypesSayWhichKey() {
        #expect(Self.refusal(#"{"name": "t", "seed": "one"}"#)?.contains("key seed has the wrong type") == true)
        #expect(Self.refusal(#"{"name": "t", "terminals": 0}"#)?.contains("terminals must be 1...") == true)
        #expect(Self.refusal(#"{"name": "t""#)?.contains("not valid JSON") == true)
    }

    @Test func onlyLoopbackAddressesAreLoopback() {
        for host in ["127.0.0.1", "127.1.2.3", "localhost", "::1"] { #expect(LoadOptions.isLoopback(host), "\(host)") }
        for host in ["127.evil.example", "127.0.0.1.example.com", "127.0.0.256", "10.0.0.1", "1270.0.0.1", "127.0.0", "example.com", ""] {
            #expect(!LoadOptions.isLoopback(host), "\(host)")
        }
    }
}

/// `88` (already paid) is a correct answer now and then, but not for most payments of a run with
/// fresh customers: then the biller, or the ledger, is wrong, and the run must fail.
@Suite struct AlreadyPaidTests {
    static func report(_ codes: [String: Int]) -> LoadReport {
        var report = LoadReport(result: LoadResult(statistics: LoadStatistics(start: .now), elapsedSeconds: 1, loadSeconds: 1, rampUpSeconds: 0,
                                                   terminalIDs: [], startedAt: Date()), machine: "test")
        report.responseCodes = ["payment": codes]
        return report
    }

    @Test func mostlyAlreadyPaidFailsTheRun() {
        var few = Self.report(["00": 99, "88": 1])
        few.judgeAlreadyPaid(repeatCustomers: false)
        #expect(few.unexpected == 0)
        var most = Self.report(["00": 4, "88": 196])
        most.judgeAlreadyPaid(repeatCustomers: false)
        #expect(most.unexpected == 196 && most.errors.keys.contains { $0.contains("88 (already paid) for 196 of 200") })
        var asked = Self.report(["00": 4, "88": 196])
        asked.judgeAlreadyPaid(repeatCustomers: true)
        #expect(asked.unexpected == 0)
    }
}

@Suite struct STANTests {
    /// One seed, two runs (two nonces: the run's start in microseconds): other first STANs, so
    /// the runs' keys never meet; one run's own terminals differ too (their seeds differ).
    @Test func sameSeedOtherRunOtherSTANs() {
        let seed: UInt64 = 8583 &* 1_000_003
        let nonces: [UInt64] = [1_764_500_000_000_000, 1_764_500_000_470_000, 1_764_500_001_000_000]
        let stans = nonces.map { LoadRunner.firstSTAN(seed: seed, runNonce: $0) }
        #expect(Set(stans).count == stans.count, "\(stans)")
        #expect(stans.allSatisfy { (1...900_000).contains($0) })
        #expect(LoadRunner.firstSTAN(seed: seed, runNonce: nonces[0]) == stans[0])
        #expect(LoadRunner.firstSTAN(seed: seed, runNonce: nonces[0]) != LoadRunner.firstSTAN(seed: seed &+ 1, runNonce: nonces[0]))
    }
}
