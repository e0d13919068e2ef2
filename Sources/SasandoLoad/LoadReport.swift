import Foundation
import Histogram

/// The end-of-run report, written as JSON and as a self-contained HTML page.
public struct LoadReport: Codable, Sendable {
    public struct Latency: Codable, Sendable {
        public var type: String
        public var count: UInt64
        public var p50Ms: Double, p90Ms: Double, p99Ms: Double, p999Ms: Double, maxMs: Double
        /// (percentile, milliseconds) points for the percentile plot.
        public var curve: [[Double]]
    }

    public struct Audit: Codable, Sendable {
        public var approvedSeen: Int
        public var approvedInLedger: Int
        public var reversedSeen: Int
        public var reversedInLedger: Int
        public var amountSeenSen: Int64
        /// Amount + fee as the switch recorded them (`transactions`).
        public var amountInLedgerSen: Int64
        /// What the payments' journals debited from the payment points' deposits (`postings`).
        public var debitedInLedgerSen: Int64
        public var missingFromLedger: [String]
        public var postedButNotApproved: [String]
        public var mismatched: [String]
        public var ledgerVerify: [String]
        public var passed: Bool
    }

    public var scenario: Scenario
    public var startedAt: String
    public var elapsedSeconds: Double
    /// Ramp-up (connect and sign on every terminal), then the load phase; rates are per second of
    /// the load phase.
    public var rampUpSeconds: Double
    public var loadSeconds: Double
    /// Terminals that connected and signed on (the scenario asks for `scenario.terminals`).
    public var terminalsSignedOn: Int
    public var sent: Int
    public var completed: Int
    public var approved: Int
    public var throughputPerSecond: Double
    public var approvedPaymentsPerSecond: Double
    /// Of the approved payments, how many the run reversed later (their money went back).
    public var reversedPayments: Int
    public var responseCodes: [String: [String: Int]]
    public var errors: [String: Int]
    public var unexpected: Int
    public var latencies: [Latency]
    /// Open loop only: how late requests went out after their scheduled send time (type
    /// "send lag"). Large values mean the generator itself fell behind (latencies include it).
    public var sendLag: Latency?
    public var perSecond: [Int]
    /// CPU over the load phase: the whole machine (on loopback, switch and PostgreSQL too) and the generator.
    public var cpu: CPUUse?
    /// The machine's busy CPU in each second of the run (percent of one core), beside `perSecond`.
    public var machineBusyPercentPerSecond: [Double]
    public var audit: Audit?
    public var machine: String

    public init(result: LoadResult, machine: String) {
        let s = result.statistics.state.withLock { $0 }
        scenario = Scenario(name: "")
        startedAt = ISO8601DateFormatter().string(from: result.startedAt)
        elapsedSeconds = result.elapsedSeconds
        rampUpSeconds = result.rampUpSeconds
        loadSeconds = result.loadSeconds
        terminalsSignedOn = result.terminalIDs.count
        sent = s.sent
        completed = s.completed
        approved = s.approved
        // Sign-ons belong to the ramp-up (the business-date probe before the load is not recorded).
        let signOns = s.codes[.signOn]?.values.reduce(0, +) ?? 0
        throughputPerSecond = Double(s.completed - signOns) / max(result.loadSeconds, 0.001)
        let approvedPayments = s.codes[.payment]?["00"] ?? 0
        approvedPaymentsPerSecond = Double(approvedPayments) / max(result.loadSeconds, 0.001)
        reversedPayments = s.approvedPayments.reduce(0) { $0 + ($1.reversed ? 1 : 0) }
        responseCodes = Dictionary(uniqueKeysWithValues: s.codes.map { ($0.key.rawValue, $0.value) })
        errors = s.errors
        unexpected = s.unexpected
        perSecond = s.perSecond
        cpu = result.cpu
        machineBusyPercentPerSecond = s.machineBusyPercentPerSecond
        self.machine = machine
        latencies = RequestType.allCases.compactMap { type in
            s.histograms[type].flatMap { Self.latency(type.rawValue, $0) }
        }
        sendLag = s.sendLag.flatMap { Self.latency("send lag", $0) }
    }

    /// The latency table's rows: each message type, then the send lag (open loop).
    var tableRows: [Latency] { latencies + (sendLag.map { [$0] } ?? []) }

    static func latency(_ type: String, _ h: Histogram<UInt64>) -> Latency? {
        guard h.totalCount > 0 else { return nil }
        func ms(_ v: UInt64) -> Double { Double(v) / 1000 }
        let points: [Double] = [0, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 100]
        return Latency(type: type, count: h.totalCount,
                       p50Ms: ms(h.valueAtPercentile(50)), p90Ms: ms(h.valueAtPercentile(90)),
                       p99Ms: ms(h.valueAtPercentile(99)), p999Ms: ms(h.valueAtPercentile(99.9)), maxMs: ms(h.max),
                       curve: points.map { [$0, ms(h.valueAtPercentile($0))] })
    }

    /// Customers are fresh each run, so `88` (already paid) is rare: a customer drawn twice, or
    /// one an earlier run paid (paid bills persist). A run where more than `alreadyPaidShareMax`
    /// of the payments got `88` has a biller, or a ledger, that thinks bills are paid that are
    /// not: each of those answers then counts as unexpected (the run fails). Not with
    /// `--repeat-customers`, which asks for exactly that.
    public static let alreadyPaidShareMax = 0.05

    public mutating func judgeAlreadyPaid(repeatCustomers: Bool) {
        guard !repeatCustomers, let payments = responseCodes[RequestType.payment.rawValue] else { return }
        let total = payments.values.reduce(0, +), alreadyPaid = payments["88"] ?? 0
        guard total > 0, Double(alreadyPaid) > Self.alreadyPaidShareMax * Double(total) else { return }
        errors["payment: 88 (already paid) for \(alreadyPaid) of \(total) payments, over \(Int(Self.alreadyPaidShareMax * 100))% with fresh customers"] = alreadyPaid
        unexpected += alreadyPaid
    }

    public var summary: String {
        var lines: [String] = []
        lines.append("scenario \(scenario.name): \(String(format: "%.1f", elapsedSeconds)) s (ramp-up \(String(format: "%.1f", rampUpSeconds)) s, load \(String(format: "%.1f", loadSeconds)) s), \(terminalsSignedOn) of \(scenario.terminals) terminals signed on, sent \(sent), completed \(completed), approved \(approved) (all types)")
        lines.append(String(format: "throughput %.0f requests/s, approved payments %.0f/s (per second of the load phase)", throughputPerSecond, approvedPaymentsPerSecond)
                     + (reversedPayments > 0 ? ", \(reversedPayments) of them reversed later" : ""))
        lines.append("latency (ms)       count      p50      p90      p99    p99.9      max")
        for l in tableRows {
            lines.append(String(format: "  %-10@ %10llu %8.2f %8.2f %8.2f %8.2f %8.2f", l.type as NSString, l.count, l.p50Ms, l.p90Ms, l.p99Ms, l.p999Ms, l.maxMs))
        }
        if sendLag != nil {
            lines.append("  (send lag: how late requests went out after their scheduled time; the latencies above count from that time)")
        }
        for (type, codes) in responseCodes.sorted(by: { $0.key < $1.key }) {
            lines.append("  \(type): " + codes.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
        }
        if !errors.isEmpty {
            lines.append("errors: " + errors.sorted { $0.key < $1.key }.map { "\($0.key) x\($0.value)" }.joined(separator: "; "))
        }
        lines.append("unexpected responses: \(unexpected)")
        if let cpu { lines.append("CPU over the load phase: \(cpu.summary)") }
        if let audit {
            lines.append("audit: \(audit.passed ? "PASSED" : "FAILED") — approved payments seen \(audit.approvedSeen), in ledger \(audit.approvedInLedger); reversed seen \(audit.reversedSeen), in ledger \(audit.reversedInLedger); amount+fee seen \(audit.amountSeenSen) sen, recorded \(audit.amountInLedgerSen) sen, debited from deposits \(audit.debitedInLedgerSen) sen")
            for m in audit.missingFromLedger.prefix(5) { lines.append("  missing from ledger: \(m)") }
            for m in audit.postedButNotApproved.prefix(5) { lines.append("  posted but not approved: \(m)") }
            for m in audit.mismatched.prefix(5) { lines.append("  mismatch: \(m)") }
            for v in audit.ledgerVerify { lines.append("  ledger verify: \(v)") }
        }
        return lines.joined(separator: "\n")
    }

    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }

    // MARK: HTML

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static let colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]

    /// Latency by percentile, x on a "nines" scale (log of 1/(1-p)) as HDR plots do.
    func percentileSVG() -> String {
        let w = 640.0, h = 320.0, left = 56.0, bottom = 36.0, top = 12.0, right = 110.0
        func x(_ p: Double) -> Double { let n = log10(1 / max(1 - p / 100, 0.0001)); return left + n / 4 * (w - left - right) }
        let maxMs = max(latencies.flatMap { $0.curve.map { $0[1] } }.max() ?? 1, 0.001)
        func y(_ ms: Double) -> Double { h - bottom - ms / maxMs * (h - bottom - top) }
        var svg = "<svg viewBox='0 0 \(Int(w)) \(Int(h))' width='100%' role='img' aria-label='latency by percentile'>"
        svg += "<rect width='100%' height='100%' fill='white'/>"
        for (p, label) in [(0.0, "0%"), (90.0, "90%"), (99.0, "99%"), (99.9, "99.9%"), (99.99, "99.99%")] {
            svg += "<line x1='\(x(p))' y1='\(top)' x2='\(x(p))' y2='\(h - bottom)' stroke='#ddd'/><text x='\(x(p))' y='\(h - 18)' font-size='11' text-anchor='middle'>\(label)</text>"
        }
        for i in 0...4 {
            let v = maxMs * Double(i) / 4
            svg += "<line x1='\(left)' y1='\(y(v))' x2='\(w - right)' y2='\(y(v))' stroke='#eee'/><text x='\(left - 6)' y='\(y(v) + 4)' font-size='11' text-anchor='end'>\(String(format: "%.1f", v))</text>"
        }
        svg += "<text x='12' y='\(top + 10)' font-size='11'>ms</text>"
        for (i, l) in latencies.enumerated() {
            let points = l.curve.filter { $0[0] < 100 }.map { "\(x($0[0])),\(y($0[1]))" }.joined(separator: " ")
            let color = Self.colors[i % Self.colors.count]
            svg += "<polyline fill='none' stroke='\(color)' stroke-width='2' points='\(points)'/>"
            svg += "<text x='\(w - right + 8)' y='\(top + 14 + Double(i) * 16)' font-size='12' fill='\(color)'>\(Self.escape(l.type))</text>"
        }
        return svg + "</svg>"
    }

    func throughputSVG() -> String {
        perSecondSVG(perSecond.map(Double.init), scaleMax: Double(max(perSecond.max() ?? 1, 1)), label: "throughput per second")
    }

    /// The machine's busy CPU per second, on a scale up to all its cores.
    func cpuSVG() -> String {
        perSecondSVG(machineBusyPercentPerSecond, scaleMax: Double((cpu?.cores ?? 1) * 100), label: "machine CPU busy per second, percent of one core")
    }

    /// One value per second of the run as a line, y from 0 to `scaleMax`.
    func perSecondSVG(_ values: [Double], scaleMax maxV: Double, label: String) -> String {
        let w = 640.0, h = 220.0, left = 56.0, bottom = 30.0, top = 12.0, right = 20.0
        let n = max(values.count, 2)
        func x(_ i: Int) -> Double { left + Double(i) / Double(n - 1) * (w - left - right) }
        func y(_ v: Double) -> Double { h - bottom - v / maxV * (h - bottom - top) }
        var svg = "<svg viewBox='0 0 \(Int(w)) \(Int(h))' width='100%' role='img' aria-label='\(label)'><rect width='100%' height='100%' fill='white'/>"
        for i in 0...4 {
            let v = maxV * Double(i) / 4
            svg += "<line x1='\(left)' y1='\(y(v))' x2='\(w - right)' y2='\(y(v))' stroke='#eee'/><text x='\(left - 6)' y='\(y(v) + 4)' font-size='11' text-anchor='end'>\(Int(v))</text>"
        }
        svg += "<text x='\(w / 2)' y='\(h - 6)' font-size='11' text-anchor='middle'>seconds</text>"
        let points = values.enumerated().map { "\(x($0.offset)),\(y($0.element))" }.joined(separator: " ")
        svg += "<polyline fill='none' stroke='#1f77b4' stroke-width='2' points='\(points)'/>"
        return svg + "</svg>"
    }

    public func html() -> String {
        var rows = ""
        for l in tableRows {
            rows += "<tr><td>\(Self.escape(l.type))</td><td>\(l.count)</td>" + [l.p50Ms, l.p90Ms, l.p99Ms, l.p999Ms, l.maxMs].map { String(format: "<td>%.2f</td>", $0) }.joined() + "</tr>"
        }
        var codes = ""
        for (type, c) in responseCodes.sorted(by: { $0.key < $1.key }) {
            codes += "<tr><td>\(Self.escape(type))</td><td>" + c.sorted { $0.key < $1.key }.map { "\(Self.escape($0.key)): \($0.value)" }.joined(separator: ", ") + "</td></tr>"
        }
        let auditHTML: String
        if let audit {
            auditHTML = """
            <h2>Ledger audit: <span class='\(audit.passed ? "ok" : "bad")'>\(audit.passed ? "passed" : "FAILED")</span></h2>
            <table><tr><th></th><th>terminals saw</th><th>ledger has</th></tr>
            <tr><td>approved payments</td><td>\(audit.approvedSeen)</td><td>\(audit.approvedInLedger)</td></tr>
            <tr><td>reversed</td><td>\(audit.reversedSeen)</td><td>\(audit.reversedInLedger)</td></tr>
            <tr><td>amount + fee (sen), as recorded</td><td>\(audit.amountSeenSen)</td><td>\(audit.amountInLedgerSen)</td></tr>
            <tr><td>amount + fee (sen), debited from deposits</td><td>\(audit.amountSeenSen)</td><td>\(audit.debitedInLedgerSen)</td></tr></table>
            <p>missing from ledger: \(audit.missingFromLedger.count); posted but not approved: \(audit.postedButNotApproved.count); mismatched: \(audit.mismatched.count)</p>
            <pre>\(Self.escape(audit.ledgerVerify.joined(separator: "\n")))</pre>
            """
        } else {
            auditHTML = "<h2>Ledger audit</h2><p>not run</p>"
        }
        return """
        <!doctype html><html lang='en'><head><meta charset='utf-8'><meta name='viewport' content='width=device-width, initial-scale=1'>
        <title>Sasando load test: \(Self.escape(scenario.name))</title>
        <style>body{font-family:system-ui,sans-serif;max-width:900px;margin:1em auto;padding:0 1em;color:#222}
        table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
        td:first-child{text-align:left}.ok{color:#2a7a2a}.bad{color:#b00}</style></head><body>
        <h1>Load test: \(Self.escape(scenario.name))</h1>
        <p>\(Self.escape(scenario.description))</p>
        <p>Started \(Self.escape(startedAt)); \(String(format: "%.1f", elapsedSeconds)) s: ramp-up (connect, sign on) \(String(format: "%.1f", rampUpSeconds)) s, load \(String(format: "%.1f", loadSeconds)) s; \(terminalsSignedOn) of \(scenario.terminals) terminals signed on, \(scenario.mode.rawValue) loop.
        Sent \(sent), completed \(completed), approved \(approved); unexpected \(unexpected).<br>
        <b>\(String(format: "%.0f", throughputPerSecond)) requests/s, \(String(format: "%.0f", approvedPaymentsPerSecond)) approved payments/s</b> (per second of the load phase).<br>
        Machine: \(Self.escape(machine))</p>
        <h2>Latency (ms)</h2><table><tr><th>type</th><th>count</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>\(rows)</table>
        \(sendLag == nil ? "" : "<p>Send lag: how late requests went out after their scheduled time (open loop); the latencies count from that time, so they include it.</p>")
        \(percentileSVG())
        <h2>Throughput (completed requests per second)</h2>\(throughputSVG())
        \(cpu.map { "<h2>CPU</h2><p>Over the load phase: \(Self.escape($0.summary)). On loopback the switch and PostgreSQL share this machine with the generator; near all cores busy, latency is waiting for a core.</p>" + cpuSVG() } ?? "")
        <h2>Response codes</h2><table>\(codes)</table>
        \(errors.isEmpty ? "" : "<h2>Errors</h2><pre>" + Self.escape(errors.map { "\($0.key) x\($0.value)" }.joined(separator: "\n")) + "</pre>")
        \(auditHTML)
        </body></html>
        """
    }
}
