import Foundation
@testable import SasandoLoad
import Testing

/// CPU readings from `/proc` as Linux writes them, and the percentages a report shows.
@Suite struct MachineCPUTests {
    // user nice system idle iowait irq softirq steal guest guest_nice
    static let procStat = "cpu  1000 10 300 5000 40 5 15 20 0 0\ncpu0 500 5 150 2500 20 2 7 10 0 0\nintr 1\n"
    // A command name with a space and a ')' inside; utime 70, stime 30 (fields 14 and 15).
    static let processStat = "4242 (sasando-load) x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 70 30 0 0 20 0 9 0 100 0 0\n"

    @Test func readsTheMachineAndTheProcessTicks() throws {
        let t = try #require(CPUTimes.parse(procStat: Self.procStat, processStat: Self.processStat))
        #expect(t.machineBusyTicks == 1000 + 10 + 300 + 5 + 15 + 20)
        #expect(t.machineTotalTicks == 1350 + 5000 + 40)
        #expect(t.processTicks == 100)
    }

    @Test func refusesWhatIsNotLinuxProc() {
        #expect(CPUTimes.parse(procStat: "intr 1\n", processStat: Self.processStat) == nil)
        #expect(CPUTimes.parse(procStat: "cpu  1 2 3\n", processStat: Self.processStat) == nil)
        #expect(CPUTimes.parse(procStat: Self.procStat, processStat: "4242 no parenthesis S 1") == nil)
        #expect(CPUTimes.parse(procStat: Self.procStat, processStat: "4242 (x) S 1 2 3") == nil)
    }

    @Test func percentagesAreOfOneCore() throws {
        // One second on 2 cores: 200 ticks in all, 150 of them busy, 40 the generator's.
        let a = CPUTimes(machineBusyTicks: 1_000, machineTotalTicks: 10_000, processTicks: 500)
        let b = CPUTimes(machineBusyTicks: 1_150, machineTotalTicks: 10_200, processTicks: 540)
        let use = try #require(CPUUse.between(a, b, cores: 2))
        #expect(use == CPUUse(cores: 2, machineBusyPercent: 150, generatorPercent: 40))
        #expect(use.summary == "machine busy 150% of 200% (2 cores), generator 40%")
        #expect(CPUUse.between(a, a, cores: 2) == nil)
    }

    @Test func thisMachineReadsOnLinux() throws {
        #if os(Linux)
        let t = try #require(CPUTimes.read())
        #expect(t.machineTotalTicks > t.machineBusyTicks && t.machineBusyTicks > 0)
        #endif
    }
}
