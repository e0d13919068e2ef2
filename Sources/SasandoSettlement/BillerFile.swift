import Foundation
import SasandoCore

/// One line of a biller settlement file: one paid bill line (PLNPRE: one token purchase, empty period).
///
/// The customer ID is whole: the file goes to the biller, who credits that customer's account with
/// it (a masked ID made the file useless for posting and hid a bill paid to the wrong customer from
/// reconciliation). It is customer data: `biller file --out` writes it with mode 0600, it is sent
/// over the bank's channel to that biller only, and it is masked everywhere else.
public struct BillerFileRow: Sendable, Equatable, Codable {
    public var rrn: String
    public var terminalID: String
    public var customerID: String
    public var period: String
    public var amountSen: Int64
    public var billerReference: String
    public var timestamp: String

    public init(rrn: String, terminalID: String, customerID: String, period: String, amountSen: Int64,
                billerReference: String, timestamp: String) {
        self.rrn = rrn
        self.terminalID = terminalID
        self.customerID = customerID
        self.period = period
        self.amountSen = amountSen
        self.billerReference = billerReference
        self.timestamp = timestamp
    }

    /// The match key: RRN + terminal + period. The RRN is the terminal's own reference (field 37),
    /// unique per terminal; the period tells apart the bills one payment paid. Digits-only RRNs
    /// compare as numbers: a file saved by a spreadsheet loses their leading zeros.
    public var key: String { "\(Self.numeric(rrn))|\(terminalID)|\(period)" }

    /// `000116721983` and `116721983` are one RRN (or customer ID) once a spreadsheet has had it.
    static func numeric(_ text: String) -> String {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty, trimmed.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else { return trimmed }
        let digits = trimmed.drop { $0 == "0" }
        return digits.isEmpty ? "0" : String(digits)
    }

    /// What else must agree besides the amount: the customer credited and the biller's reference.
    func detailDifferences(from other: BillerFileRow) -> [String] {
        var fields: [String] = []
        if Self.numeric(customerID) != Self.numeric(other.customerID) { fields.append("customer_id") }
        if billerReference.trimmingCharacters(in: .whitespaces) != other.billerReference.trimmingCharacters(in: .whitespaces) {
            fields.append("biller_reference")
        }
        return fields
    }
}

public struct BillerFileError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// CSV of `BillerFileRow`s: header `rrn,terminal_id,customer_id,period,amount_sen,biller_reference,timestamp`,
/// one row per line, `\n` line ends, fields quoted when they contain `,` `"` CR or LF (RFC 4180).
public enum BillerFile {
    public static let header = "rrn,terminal_id,customer_id,period,amount_sen,biller_reference,timestamp"
    static let columns = header.split(separator: ",").map(String.init)

    public static func render(_ rows: [BillerFileRow]) -> String {
        var out = header + "\n"
        for r in rows {
            // Machine-read by the biller: values as they are (no formula guard, which would change them).
            out += [r.rrn, r.terminalID, r.customerID, r.period, String(r.amountSen), r.billerReference, r.timestamp]
                .map { CSV.field($0, guardingFormulas: false) }.joined(separator: ",") + "\n"
        }
        return out
    }

    /// Parses a file with the header above (columns in that order; `\r\n` accepted; blank lines
    /// skipped). Throws naming the line of the first malformed row.
    public static func parse(_ text: String) throws -> [BillerFileRow] {
        var lines = records(text).map { $0.hasSuffix("\r") ? String($0.dropLast()) : $0 }
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
            rows.append(BillerFileRow(rrn: f[0], terminalID: f[1], customerID: f[2], period: f[3], amountSen: amount,
                                      billerReference: f[5], timestamp: f[6]))
        }
        return rows
    }

    /// The file's records: a line break inside a quoted field belongs to the field (RFC 4180,
    /// as `render` quotes it), not to the end of the record.
    static func records(_ text: String) -> [String] {
        var records: [String] = []
        var current = ""
        var quoted = false
        for c in text {
            if c == "\"" { quoted.toggle() }   // "" inside a quoted field toggles twice: still quoted
            if !quoted && (c == "\n" || c == "\r\n") {
                records.append(current)
                current = ""
            } else if c == "\r\n" {
                current.append("\n")   // a file whose line ends were converted: the field's own break is \n
            } else {
                current.append(c)
            }
        }
        records.append(current)
        return records
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

    public struct DetailMismatch: Sendable, Equatable, Codable {
        public var key: String
        public var ours: BillerFileRow
        public var theirs: BillerFileRow
        /// `customer_id`, `biller_reference`.
        public var fields: [String]
    }

    /// Rows present on both sides that agree (amount, customer, biller reference).
    public var matched: Int
    /// In the switch's record, not in the biller's file.
    public var missingAtBiller: [BillerFileRow]
    /// In the biller's file, not in the switch's record.
    public var missingAtSwitch: [BillerFileRow]
    /// On both sides, amounts differ.
    public var amountMismatches: [AmountMismatch]
    /// On both sides with the same amount, but another customer or biller reference: money for
    /// the right sum credited to the wrong account is a difference too.
    public var detailMismatches: [DetailMismatch]
    /// Rows of the biller's file whose key appears more than once (all but the first).
    public var duplicatesInTheirs: [BillerFileRow]
    public var oursTotalSen: Int64
    public var theirsTotalSen: Int64

    public var isClean: Bool {
        missingAtBiller.isEmpty && missingAtSwitch.isEmpty && amountMismatches.isEmpty && detailMismatches.isEmpty && duplicatesInTheirs.isEmpty
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
        var details: [DetailMismatch] = []
        var seen = Set<String>()
        for row in ours {
            seen.insert(row.key)
            guard let other = theirsByKey[row.key] else { missingAtBiller.append(row); continue }
            let differing = row.detailDifferences(from: other)
            if other.amountSen != row.amountSen {
                mismatches.append(.init(key: row.key, ours: row, theirs: other))
            } else if !differing.isEmpty {
                details.append(.init(key: row.key, ours: row, theirs: other, fields: differing))
            } else {
                matched += 1
            }
        }
        var missingAtSwitch: [BillerFileRow] = []
        var reported = Set<String>()
        for row in theirs where !seen.contains(row.key) && !reported.contains(row.key) {
            reported.insert(row.key)
            missingAtSwitch.append(row)
        }
        return BillerReconciliation(matched: matched, missingAtBiller: missingAtBiller, missingAtSwitch: missingAtSwitch,
                                    amountMismatches: mismatches, detailMismatches: details, duplicatesInTheirs: duplicates,
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
        if !detailMismatches.isEmpty {
            out += "same amount, other customer or biller reference: \(detailMismatches.count)\n"
            for m in detailMismatches {
                let what = m.fields.map { field in
                    field == "customer_id"
                        ? "customer switch \(Masking.maskCustomerID(m.ours.customerID)), biller \(Masking.maskCustomerID(m.theirs.customerID))"
                        : "biller reference switch \(m.ours.billerReference), biller \(m.theirs.billerReference)"
                }.joined(separator: "; ")
                out += "  rrn \(m.ours.rrn) terminal \(m.ours.terminalID) period \(m.ours.period.isEmpty ? "-" : m.ours.period): \(what)\n"
            }
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
