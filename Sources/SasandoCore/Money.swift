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
