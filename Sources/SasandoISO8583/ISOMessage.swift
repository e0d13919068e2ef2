import SasandoCore

/// A decoded (or to-be-encoded) ISO 8583 message. Values are the field data exactly as on the wire
/// without the LL/LLL prefix: fixed fields keep their padding. Field 1 (secondary bitmap) is never
/// stored: the encoder derives both bitmaps from which fields are present.
public struct ISOMessage: Sendable, Equatable {
    public var mti: String
    public var fields: [Int: String]

    public init(mti: String, fields: [Int: String] = [:]) {
        self.mti = mti
        self.fields = fields
    }

    public subscript(_ field: Int) -> String? {
        get { fields[field] }
        set { fields[field] = newValue }
    }

    /// Field numbers present, ascending.
    public var fieldNumbers: [Int] { fields.keys.sorted() }

    /// Field names and values, one per line, customer data masked: the customer ID inside field 48
    /// (characters 9...28, after the 8-character product code) and the MAC fields. For logs and the CLI.
    public var redactedDescription: String {
        var lines = ["MTI \(mti)"]
        lines.reserveCapacity(fields.count + 1)
        for number in fieldNumbers {
            guard let value = fields[number] else { continue }
            let name = ISO8583Spec.spec(for: number)?.name ?? "Undefined"
            lines.append("\(Self.pad3(number)) \(name): \(Self.redacted(number, value))")
        }
        return lines.joined(separator: "\n")
    }

    /// Bill data layout (spec §5): product code an 8, then customer ID an 20.
    static let customerIDOffset = 8
    static let customerIDLength = 20

    static func redacted(_ number: Int, _ value: String) -> String {
        switch number {
        case ISO8583Spec.macFieldPrimary, ISO8583Spec.macFieldSecondary:
            return "****"
        case 48:
            let chars = Array(value)
            guard chars.count > customerIDOffset else { return value }
            let end = min(chars.count, customerIDOffset + customerIDLength)
            let id = String(chars[customerIDOffset..<end])
            var masked = Masking.maskCustomerID(id)
            // Keep the segment's width so the rest of field 48 stays aligned in the log.
            if masked.count < id.count { masked += String(repeating: " ", count: id.count - masked.count) }
            return String(chars[..<customerIDOffset]) + masked + String(chars[end...])
        default:
            return value
        }
    }

    static func pad3(_ n: Int) -> String {
        let s = String(n)
        return String(repeating: " ", count: max(0, 3 - s.count)) + s
    }
}
