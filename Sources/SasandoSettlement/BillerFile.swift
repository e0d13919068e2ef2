import Foundation
import SasandoCore

/// One line of a biller settlement file: one paid bill line (PLNPRE: one token purchase, empty period).
public struct BillerFileRow: Sendable, Equatable, Codable {
    public var rrn: String
    public var terminalID: String
    public var customerIDMasked: String
    public var period: String
    public var amountSen: Int64
    public var billerReference: String
    public var timestamp: String

    public init(rrn: String, terminalID: String, customerIDMasked: String, period: String, amountSen: Int64,
                billerReference: String, timestamp: String) {
        self.rrn = rrn
        self.terminalID = terminalID
        self.customerIDMasked = customerIDMasked
        self.period = period
        self.amountSen = amountSen
        self.billerReference = billerReference
        self.timestamp = timestamp
    }

    /// The match key: RRN + terminal + period. The RRN is the terminal's own reference (field 37),
    /// unique per terminal; the period tells apart the bills one payment paid. Customer IDs are
    /// masked in the file, so they cannot be part of the key.
    public var key: String { "\(rrn)|\(terminalID)|\(period)" }
}

public struct BillerFileError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// CSV of `BillerFileRow`s: header `rrn,terminal_id,customer_id_masked,period,amount_sen,biller_reference,timestamp`,
/// one row per line, `\n` line ends, fields quoted only when they contain `,` or `"`.
public enum BillerFile {
    public static let header = "rrn,terminal_id,customer_id_masked,period,amount_sen,biller_reference,timestamp"
    static let columns = header.split(separator: ",").map(String.init)

    public static func render(_ rows: [BillerFileRow]) -> String {
        var out = header + "\n"
        for r in rows {
            out += [r.rrn, r.terminalID, r.customerIDMasked, r.period, String(r.amountSen), r.billerReference, r.timestamp]
                .map(quote).joined(separator: ",") + "\n"
        }
        return out
    }

    static func quote(_ field: String) -> String {
        guard field.contains(",") || field.contains("\"") || field.contains("\n") else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// Parses a file with the header above (columns in that order; `\r\n` accepted; blank lines
    /// skipped). Throws naming the line of the first malformed row.
    public static func parse(_ text: String) throws -> [BillerFileRow] {
        var lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
            .map { $0.hasSuffix("\r") ? String($0.dropLast()) : String($0) }
        while let last = lines.last, last.trimmingCharacters(in: .whitespaces).isEmpty { lines.removeLast() }
        guard let first = lines.first else { throw BillerFileError("empty file: expected the header \(header)") }
        let head = try split(first, line: 1).map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard head == columns else { throw BillerFileError("line 1: header must be \(header)") }
        var rows: [BillerFileRow] = []
        for (index, line) in lines.enumerated().dropFirst() where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            let f = try split(line, line: index + 1)
            guard f.count == columns.count else {
                throw BillerFileError("line \(index + 1): \(f.count) fields, expected \(columns.count)")
            }
            guard let amount = Int64(f[4].trimmingCharacters(in: .whitespaces)), amount >= 0 else {
                throw BillerFileError("line \(index + 1): amount_sen '\(f[4])' is not a whole number of sen")
            }
            rows.append(BillerFileRow(rrn: f[0], terminalID: f[1], customerIDMasked: f[2], period: f[3], amountSen: amount,
                                      billerReference: f[5], timestamp: f[6]))
        }
        return rows
    }

    static func split(_ line: String, line number: Int) throws -> [String] {
        var fields: [String] = []
        var current = ""
        var quoted = false
        var chars = Array(line)[...]
        var atFieldStart = true
        while let c = chars.popFirst() {
            if quoted {
                if c == "\"" {
                    if chars.first == "\"" { chars.removeFirst(); current.append("\"") } else { quoted = false }
                } else {
                    current.append(c)
                }
            } else if c == "\"" && atFieldStart {
                quoted = true
                atFieldStart = false
            } else if c == "," {
                fields.append(current)
                current = ""
                atFieldStart = true
            } else {
                current.append(c)
                atFieldStart = false
            }
        }
        if quoted { throw BillerFileError("line \(number): unterminated quote") }
        fields.append(current)
        return fields
    }
}

/// The outcome of comparing a biller's file with the switch's record (`sasando biller reconcile`).
public struct BillerReconciliation: Sendable, Equatable, Codable {
    public struct AmountMismatch: Sendable, Equatable, Codable {
        public var key: String
        public var ours: BillerFileRow
        public var theirs: BillerFileRow
        public var differenceSen: Int64 { theirs.amountSen - ours.amountSen }
    }

    /// Rows present on both sides with the same amount.
    public var matched: Int
    /// In the switch's record, not in the biller's file.
    public var missingAtBiller: [BillerFileRow]
    /// In the biller's file, not in the switch's record.
    public var missingAtSwitch: [BillerFileRow]
    /// On both sides, amounts differ.
    public var amountMismatches: [AmountMismatch]
    /// Rows of the biller's file whose key appears more than once (all but the first).
    public var duplicatesInTheirs: [BillerFileRow]
    public var oursTotalSen: Int64
    public var theirsTotalSen: Int64

    public var isClean: Bool {
        missingAtBiller.isEmpty && missingAtSwitch.isEmpty && amountMismatches.isEmpty && duplicatesInTheirs.isEmpty
    }

    /// Pure: matches by `BillerFileRow.key`.
    public static func compare(ours: [BillerFileRow], theirs: [BillerFileRow]) -> BillerReconciliation {
        var theirsByKey: [String: BillerFileRow] = [:]
        var duplicates: [BillerFileRow] = []
        for row in theirs {
            if theirsByKey[row.key] == nil { theirsByKey[row.key] = row } else { duplicates.append(row) }
        }
        var matched = 0
        var missingAtBiller: [BillerFileRow] = []
        var mismatches: [AmountMismatch] = []
        var seen = Set<String>()
        for row in ours {
            seen.insert(row.key)
            guard let other = theirsByKey[row.key] else { missingAtBiller.append(row); continue }
            if other.amountSen == row.amountSen { matched += 1 } else { mismatches.append(.init(key: row.key, ours: row, theirs: other)) }
        }
        var missingAtSwitch: [BillerFileRow] = []
        var reported = Set<String>()
        for row in theirs where !seen.contains(row.key) && !reported.contains(row.key) {
            reported.insert(row.key)
            missingAtSwitch.append(row)
        }
        return BillerReconciliation(matched: matched, missingAtBiller: missingAtBiller, missingAtSwitch: missingAtSwitch,
                                    amountMismatches: mismatches, duplicatesInTheirs: duplicates,
                                    oursTotalSen: ours.reduce(0) { $0 + $1.amountSen }, theirsTotalSen: theirs.reduce(0) { $0 + $1.amountSen })
    }

    /// Lines for people (CLI, console).
    public func renderText() -> String {
        var out = "matched: \(matched)\n"
        out += "missing at the biller (in the switch's record only): \(missingAtBiller.count)\n"
        for r in missingAtBiller { out += "  rrn \(r.rrn) terminal \(r.terminalID) period \(r.period.isEmpty ? "-" : r.period) amount \(Sen(r.amountSen))\n" }
        out += "missing at the switch (in the biller's file only): \(missingAtSwitch.count)\n"
        for r in missingAtSwitch { out += "  rrn \(r.rrn) terminal \(r.terminalID) period \(r.period.isEmpty ? "-" : r.period) amount \(Sen(r.amountSen))\n" }
        out += "amount mismatches: \(amountMismatches.count)\n"
        for m in amountMismatches {
            out += "  rrn \(m.ours.rrn) terminal \(m.ours.terminalID) period \(m.ours.period.isEmpty ? "-" : m.ours.period): switch \(Sen(m.ours.amountSen)), biller \(Sen(m.theirs.amountSen)) (difference \(Sen(m.differenceSen)))\n"
        }
        if !duplicatesInTheirs.isEmpty {
            out += "duplicate rows in the biller's file: \(duplicatesInTheirs.count)\n"
            for r in duplicatesInTheirs { out += "  rrn \(r.rrn) terminal \(r.terminalID) period \(r.period.isEmpty ? "-" : r.period)\n" }
        }
        out += "totals: switch \(Sen(oursTotalSen)), biller \(Sen(theirsTotalSen))\n"
        out += isClean ? "CLEAN\n" : "NOT CLEAN\n"
        return out
    }
}
