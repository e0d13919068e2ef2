/// Money is always Int64 sen (1 rupiah = 100 sen). Never floating point.
public struct Sen: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public var value: Int64
    public init(_ value: Int64) { self.value = value }
    public static func rupiah(_ rupiah: Int64) -> Sen { Sen(rupiah * 100) }
    public static let zero = Sen(0)
    public static func < (a: Sen, b: Sen) -> Bool { a.value < b.value }
    public static func + (a: Sen, b: Sen) -> Sen { Sen(a.value + b.value) }
    public static func - (a: Sen, b: Sen) -> Sen { Sen(a.value - b.value) }

    /// Indonesian notation: `Rp 1.525,00`.
    public var description: String {
        let negative = value < 0
        let magnitude = value.magnitude
        let rupiah = String(magnitude / 100)
        let sen = magnitude % 100
        var grouped = ""
        for (i, ch) in rupiah.reversed().enumerated() {
            if i > 0 && i % 3 == 0 { grouped.append(".") }
            grouped.append(ch)
        }
        let senText = sen < 10 ? "0\(sen)" : "\(sen)"
        return (negative ? "-" : "") + "Rp " + String(grouped.reversed()) + "," + senText
    }
}

/// Why a typed amount was refused; `description` is shown to the operator as is.
public struct RupiahInputError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
}

extension Sen {
    /// Digits of whole rupiah accepted (Rp 9.999.999.999.999): far above any limit, far below
    /// `Int64.max` sen, so the multiplication by 100 cannot overflow.
    public static let typedRupiahDigitsMax = 13

    /// An amount typed by staff, in whole rupiah, as Indonesians write it: `5000000`, `5.000.000`,
    /// `Rp 5.000.000`, or `Rp 5.000.000,00` (what Sasando itself prints, so a copied figure works).
    ///
    /// Strict on purpose: a top-up moves money at once, and reading `5000000.00` as 500.000.000
    /// (a dot is the thousands separator here) or `1 0 0` as 100 is a wrong credit. So dots must
    /// sit between groups of three digits, a comma may only end in zero sen, and anything else is
    /// refused with the reason.
    public static func parseTypedRupiah(_ text: String) throws(RupiahInputError) -> Sen {
        var rest = Substring(text.trimmingASCIIWhitespace)
        if rest.prefix(2).lowercased() == "rp" {
            rest = rest.dropFirst(2)
            while rest.first == " " { rest = rest.dropFirst() }
        }
        let example = "e.g. 5000000, 5.000.000 or Rp 5.000.000,00"
        guard !rest.isEmpty else { throw RupiahInputError(description: "Enter an amount in whole rupiah, \(example).") }
        guard rest.allSatisfy({ ("0"..."9").contains($0) || $0 == "." || $0 == "," }) else {
            throw RupiahInputError(description: "An amount is digits, with '.' between thousands and at most ',00' after them (\(example)); got \(Self.quoted(text)).")
        }
        var whole = rest
        if let comma = rest.firstIndex(of: ",") {
            let fraction = rest[rest.index(after: comma)...]
            guard !fraction.isEmpty, fraction.allSatisfy({ $0 == "0" }) else {
                throw RupiahInputError(description: "Whole rupiah only: ',' starts sen, so only ',00' may follow it (got \(Self.quoted(text))).")
            }
            whole = rest[..<comma]
        }
        let groups = whole.split(separator: ".", omittingEmptySubsequences: false)
        if groups.count > 1 {
            // `5000000.00` or `1.5`: an English decimal point, read here as a thousands separator.
            guard (1...3).contains(groups[0].count), groups.dropFirst().allSatisfy({ $0.count == 3 }) else {
                throw RupiahInputError(description: "'.' separates thousands in rupiah (5.000.000); it is not a decimal point (got \(Self.quoted(text))).")
            }
        }
        let digits = groups.joined()
        guard !digits.isEmpty, digits.allSatisfy({ ("0"..."9").contains($0) }) else {
            throw RupiahInputError(description: "An amount is digits, with '.' between thousands and at most ',00' after them (\(example)); got \(Self.quoted(text)).")
        }
        guard digits.count <= typedRupiahDigitsMax, let rupiah = Int64(digits) else {
            throw RupiahInputError(description: "The amount is too large: at most \(typedRupiahDigitsMax) digits of rupiah.")
        }
        return Sen.rupiah(rupiah)
    }

    /// The typed text, shortened, for an error message.
    private static func quoted(_ text: String) -> String {
        "\"\(text.prefix(40))\(text.count > 40 ? "…" : "")\""
    }
}

private extension String {
    var trimmingASCIIWhitespace: Substring {
        var s = Substring(self)
        while let c = s.first, c == " " || c == "\t" { s = s.dropFirst() }
        while let c = s.last, c == " " || c == "\t" { s = s.dropLast() }
        return s
    }
}
