import Foundation

/// CPU time of this machine and of the generator, read from Linux's `/proc`. A report then shows
/// whether the machine was busy: on loopback the switch and PostgreSQL share it with the generator,
/// and a latency measured on a machine that is 190% busy out of 200% is queueing for a core.
public struct CPUTimes: Sendable, Equatable {
    /// Clock ticks since boot over all cores: busy (user, nice, system, irq, softirq, steal) and in all.
    public var machineBusyTicks: UInt64
    public var machineTotalTicks: UInt64
    /// The generator's own user and system ticks.
    public var processTicks: UInt64

    /// From the `cpu` line of `/proc/stat` and from `/proc/self/stat`; nil unless both read as Linux
    /// writes them.
    static func parse(procStat: String, processStat: String) -> CPUTimes? {
        guard let line = procStat.split(separator: "\n").first, line.hasPrefix("cpu ") else { return nil }
        let ticks = line.split(separator: " ").dropFirst().compactMap { UInt64($0) }
        guard ticks.count >= 8 else { return nil }
        // user nice system idle iowait irq softirq steal (guest time is already in user).
        let busy = ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6] + ticks[7]
        let total = busy + ticks[3] + ticks[4]
        // The command name (field 2) may hold spaces and parentheses: fields resume after the last ')'.
        guard let close = processStat.lastIndex(of: ")") else { return nil }
        let fields = processStat[processStat.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
        guard fields.count > 12, let user = UInt64(fields[11]), let system = UInt64(fields[12]) else { return nil }
        return CPUTimes(machineBusyTicks: busy, machineTotalTicks: total, processTicks: user + system)
    }

    /// Now; nil where `/proc` is not Linux's.
    static func read() -> CPUTimes? {
        guard let machine = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
              let process = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8) else { return nil }
        return parse(procStat: machine, processStat: process)
    }
}

/// CPU use between two readings, in percent of one core (so a 2-core machine fully busy is 200%).
public struct CPUUse: Codable, Sendable, Equatable {
    public var cores: Int
    public var machineBusyPercent: Double
    public var generatorPercent: Double

    /// Nil when no tick passed between the readings.
    public static func between(_ earlier: CPUTimes, _ later: CPUTimes, cores: Int) -> CPUUse? {
        guard later.machineTotalTicks > earlier.machineTotalTicks, cores > 0 else { return nil }
        let total = Double(later.machineTotalTicks - earlier.machineTotalTicks)
        let busy = Double(later.machineBusyTicks &- earlier.machineBusyTicks)
        let process = Double(later.processTicks &- earlier.processTicks)
        // `total` counts every core's ticks; one core's worth of the interval is total / cores.
        return CPUUse(cores: cores, machineBusyPercent: busy / total * Double(cores) * 100,
                      generatorPercent: process / (total / Double(cores)) * 100)
    }

    public var summary: String {
        String(format: "machine busy %.0f%% of %d%% (%d cores), generator %.0f%%", machineBusyPercent, cores * 100, cores, generatorPercent)
    }
}
