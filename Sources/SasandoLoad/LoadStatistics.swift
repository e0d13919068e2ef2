import Foundation
import Histogram
import Synchronization

public enum RequestType: String, Codable, Sendable, CaseIterable {
    case signOn = "sign-on"
    case inquiry
    case payment
    case reversal
}

/// An approved payment as the terminal saw it, for the ledger audit.
public struct ApprovedPayment: Sendable, Codable, Hashable {
    public var terminalID: String
    public var stan: String
    public var transmittedAt: String
    public var rrn: String
    public var amount: Int64
    public var fee: Int64
    public var reversed: Bool
}

/// Everything measured in a run. One lock; at 20,000 requests/s it is far from contended.
public final class LoadStatistics: Sendable {
    /// Latencies are recorded in microseconds, up to a minute.
    public static let latencyMicrosecondsMax: UInt64 = 60_000_000

    struct PaymentKey: Hashable {
        let terminalID: String
        let stan: String
        let transmittedAt: String
    }

    struct State {
        var histograms: [RequestType: Histogram<UInt64>] = [:]
        /// Open loop: how late each request went out after its scheduled time (the generator's own
        /// lag; latencies count from the scheduled time, so they include it).
        var sendLag: Histogram<UInt64>?
        var codes: [RequestType: [String: Int]] = [:]
        var errors: [String: Int] = [:]
        var sent = 0
        var completed = 0
        var approved = 0
        var perSecond: [Int] = []          // completed requests in each second of the run
        var approvedPayments: [ApprovedPayment] = []
        /// Where each approved payment is in `approvedPayments`, so a reversal finds it at once
        /// (a search from the end cost O(n) a reversal: a long reversal storm grew quadratic).
        var approvedPaymentIndex: [PaymentKey: Int] = [:]
        var unexpected = 0
        /// The machine's busy CPU in each second of the run, percent of one core.
        var machineBusyPercentPerSecond: [Double] = []
    }

    let state = Mutex(State())
    let start: ContinuousClock.Instant

    public init(start: ContinuousClock.Instant) { self.start = start }

    func histogram() -> Histogram<UInt64> {
        Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: Self.latencyMicrosecondsMax, numberOfSignificantValueDigits: .three)
    }

    func sent(_ count: Int = 1) { state.withLock { $0.sent += count } }

    /// An open-loop request sent `lagMicroseconds` after its scheduled time: counted, and its lag
    /// recorded, under one lock (this is per request, on the event loops).
    func sent(lagMicroseconds: UInt64) {
        state.withLock { s in
            s.sent += 1
            if s.sendLag == nil { s.sendLag = histogram() }
            _ = s.sendLag!.record(Self.clamped(lagMicroseconds))
        }
    }

    /// Histograms take 1 µs to `latencyMicrosecondsMax`.
    static func clamped(_ microseconds: UInt64) -> UInt64 { min(max(microseconds, 1), latencyMicrosecondsMax) }

    /// - Parameter expected: whether this answer is what the scenario expects (else the run fails).
    func record(_ type: RequestType, code: String, latencyMicroseconds: UInt64, expected: Bool) {
        let second = secondsSinceStart()
        state.withLock { s in
            if s.histograms[type] == nil { s.histograms[type] = histogram() }
            _ = s.histograms[type]!.record(Self.clamped(latencyMicroseconds))
            s.codes[type, default: [:]][code, default: 0] += 1
            s.completed += 1
            if code == "00" { s.approved += 1 }
            if !expected { s.unexpected += 1 }
            while s.perSecond.count <= second { s.perSecond.append(0) }
            s.perSecond[second] += 1
        }
    }

    func error(_ type: RequestType, _ description: String) {
        state.withLock { s in
            s.errors["\(type.rawValue): \(description)", default: 0] += 1
            s.unexpected += 1
        }
    }

    /// An open-loop request not sent (the connection's window and backlog full, or still unsent
    /// and late when the load phase ended), and why.
    func notSent(_ reason: String) {
        state.withLock { s in
            s.errors["not sent: \(reason)", default: 0] += 1
            s.unexpected += 1
        }
    }

    func machineBusy(percent: Double) {
        state.withLock { $0.machineBusyPercentPerSecond.append(percent) }
    }

    func approvedPayment(_ payment: ApprovedPayment) {
        state.withLock { s in
            s.approvedPaymentIndex[PaymentKey(terminalID: payment.terminalID, stan: payment.stan, transmittedAt: payment.transmittedAt)] =
                s.approvedPayments.count
            s.approvedPayments.append(payment)
        }
    }

    func markReversed(terminalID: String, stan: String, transmittedAt: String) {
        state.withLock { s in
            if let i = s.approvedPaymentIndex[PaymentKey(terminalID: terminalID, stan: stan, transmittedAt: transmittedAt)] {
                s.approvedPayments[i].reversed = true
            }
        }
    }

    func secondsSinceStart() -> Int {
        Int(start.duration(to: .now).components.seconds)
    }

    /// One progress line: elapsed, sent, approved, declines by code, TPS of the last second, p50/p99,
    /// and the machine's CPU in the last second.
    func progressLine() -> String {
        state.withLock { s in
            let elapsed = secondsSinceStart()
            let lastSecond = elapsed >= 1 && s.perSecond.count >= elapsed ? s.perSecond[elapsed - 1] : 0
            var all = histogram()
            for h in s.histograms.values { all.add(h) }
            var declines: [String: Int] = [:]
            for (_, codes) in s.codes { for (code, n) in codes where code != "00" { declines[code, default: 0] += n } }
            let declineText = declines.isEmpty ? "none" : declines.sorted { $0.key < $1.key }.map { "\($0.key)x\($0.value)" }.joined(separator: " ")
            let errors = s.errors.values.reduce(0, +)
            let cpu = s.machineBusyPercentPerSecond.last.map { String(format: "  cpu %.0f%%", $0) } ?? ""
            return String(format: "%4ds  sent %8d  approved %8d  declined %@  errors %d  tps %6d  p50 %.2f ms  p99 %.2f ms%@",
                          elapsed, s.sent, s.approved, declineText, errors, lastSecond,
                          Double(all.valueAtPercentile(50)) / 1000, Double(all.valueAtPercentile(99)) / 1000, cpu)
        }
    }
}
