/// One row of the spec's field table (§2). Encoding, length prefix, character class and padding are
/// separate axes, as in moov-io/iso8583 and jPOS, so the codec stays generic over the table.
public struct ISOFieldSpec: Sendable, Equatable {
    public enum LengthPrefix: Sendable, Equatable {
        /// No prefix: the data is always `length` characters.
        case fixed
        /// 2 ASCII digits giving the data length in characters, at most `length`.
        case llvar
        /// 3 ASCII digits giving the data length in characters, at most `length`.
        case lllvar

        /// Number of ASCII digits in front of the data.
        public var digitCount: Int {
            switch self {
            case .fixed: 0
            case .llvar: 2
            case .lllvar: 3
            }
        }
    }

    public enum CharacterClass: Sendable, Equatable {
        /// `n`: ASCII digits.
        case numeric
        /// `an` / `ans`: printable ASCII 0x20-0x7E (the spec allows nothing else in any field).
        case alphanumericSpecial
        /// `b` written as hex: 0-9 A-F; lower case accepted on input (spec §2, bitmaps and MAC).
        case hex
        /// `x+n`: `C` (credit) or `D` (debit) then digits.
        case signedAmount
    }

    public enum Padding: Sendable, Equatable {
        /// Variable fields, hex and `x+n`: the value already has its exact form.
        case none
        /// `n` fixed: right-justified, zero-filled.
        case leftZeros
        /// `an`/`ans` fixed: left-justified, space-filled.
        case rightSpaces
    }

    public let number: Int
    public let name: String
    /// Characters on the wire, without the length prefix: the exact length of a fixed field, the
    /// maximum of an LLVAR/LLLVAR one. For `x+n` this counts the sign too (`x+n 8` is 9 characters).
    public let length: Int
    public let prefix: LengthPrefix
    public let characterClass: CharacterClass
    public let padding: Padding

    public init(
        _ number: Int, _ name: String, _ characterClass: CharacterClass, _ length: Int, _ prefix: LengthPrefix,
        padding: Padding? = nil
    ) {
        self.number = number
        self.name = name
        self.characterClass = characterClass
        self.length = length
        self.prefix = prefix
        // Spec §2 padding rules follow from class and prefix unless a row says otherwise.
        self.padding = padding ?? {
            guard prefix == .fixed else { return .none }
            switch characterClass {
            case .numeric: return .leftZeros
            case .alphanumericSpecial: return .rightSpaces
            case .hex, .signedAmount: return .none
            }
        }()
    }

    /// `value` padded to this field's fixed length (zeros on the left for `n`, spaces on the right for
    /// `an`/`ans`). Values already long enough, and variable fields, are returned unchanged: the encoder
    /// still rejects what does not fit.
    public func padded(_ value: some StringProtocol) -> String {
        let count = value.utf8.count
        guard prefix == .fixed, count < length else { return String(value) }
        switch padding {
        case .none: return String(value)
        case .leftZeros: return String(repeating: "0", count: length - count) + value
        case .rightSpaces: return value + String(repeating: " ", count: length - count)
        }
    }

    /// Whether `byte` belongs to this field's character class at position `index` of the data.
    @inline(__always)
    func accepts(_ byte: UInt8, at index: Int) -> Bool {
        switch characterClass {
        case .numeric: return ASCII.isDigit(byte)
        case .alphanumericSpecial: return ASCII.isPrintable(byte)
        case .hex: return ASCII.hexValue(byte) != nil
        case .signedAmount: return index == 0 ? (byte == UInt8(ascii: "C") || byte == UInt8(ascii: "D")) : ASCII.isDigit(byte)
        }
    }
}

/// The spec's field table (§2), one line per field. Fields 64 and 128 are the MAC (§7).
public enum ISO8583Spec {
    public static let table: [ISOFieldSpec] = [
        .init(1, "Secondary bitmap", .hex, 16, .fixed),
        .init(3, "Processing code", .numeric, 6, .fixed),
        .init(4, "Amount, transaction", .numeric, 12, .fixed),
        .init(7, "Transmission date and time", .numeric, 10, .fixed),
        .init(11, "STAN", .numeric, 6, .fixed),
        .init(12, "Local time", .numeric, 6, .fixed),
        .init(13, "Local date", .numeric, 4, .fixed),
        .init(15, "Settlement date", .numeric, 4, .fixed),
        .init(18, "Merchant type", .numeric, 4, .fixed),
        .init(28, "Amount, transaction fee", .signedAmount, 9, .fixed),   // x+n 8: sign + 8 digits
        .init(32, "Acquiring institution ID", .numeric, 11, .llvar),
        .init(33, "Forwarding institution ID", .numeric, 11, .llvar),
        .init(37, "Retrieval reference number", .alphanumericSpecial, 12, .fixed),
        .init(38, "Approval code", .alphanumericSpecial, 6, .fixed),
        .init(39, "Response code", .alphanumericSpecial, 2, .fixed),
        .init(41, "Terminal ID", .alphanumericSpecial, 8, .fixed),
        .init(42, "Card acceptor ID", .alphanumericSpecial, 15, .fixed),
        .init(43, "Card acceptor name/location", .alphanumericSpecial, 40, .fixed),
        .init(48, "Bill data", .alphanumericSpecial, 999, .lllvar),
        .init(49, "Currency code", .numeric, 3, .fixed),
        .init(64, "MAC", .hex, 16, .fixed),
        .init(70, "Network management code", .numeric, 3, .fixed),
        .init(76, "Debits, number", .numeric, 10, .fixed),
        .init(77, "Debits, reversal number", .numeric, 10, .fixed),
        .init(88, "Debits, amount", .numeric, 16, .fixed),
        .init(89, "Debits, reversal amount", .numeric, 16, .fixed),
        .init(90, "Original data elements", .numeric, 42, .fixed),
        .init(97, "Amount, net settlement", .signedAmount, 17, .fixed),   // x+n 16: sign + 16 digits
        .init(100, "Receiving institution ID", .numeric, 11, .llvar),
        .init(128, "MAC", .hex, 16, .fixed),
    ]

    /// The table keyed by field number.
    public static let fields: [Int: ISOFieldSpec] = Dictionary(uniqueKeysWithValues: table.map { ($0.number, $0) })

    /// The table indexed by field number (0...128; nil where undefined): the decoder's hot path.
    public static let byNumber: [ISOFieldSpec?] = {
        var array = [ISOFieldSpec?](repeating: nil, count: fieldNumberMax + 1)
        for spec in table { array[spec.number] = spec }
        return array
    }()

    /// Highest field number a secondary bitmap can announce.
    public static let fieldNumberMax = 128
    /// The MAC field when the message has no secondary bitmap (§7).
    public static let macFieldPrimary = 64
    /// The MAC field when a secondary bitmap is present (§7).
    public static let macFieldSecondary = 128

    /// The spec for `number`, or nil when the table does not define it (or it is out of range).
    @inline(__always)
    public static func spec(for number: Int) -> ISOFieldSpec? {
        guard number >= 0, number <= fieldNumberMax else { return nil }
        return byNumber[number]
    }
}

/// Byte classification without Foundation or Character: the codec's hot paths work on UTF-8 bytes.
enum ASCII {
    @inline(__always) static func isDigit(_ b: UInt8) -> Bool { b &- 0x30 < 10 }
    @inline(__always) static func isPrintable(_ b: UInt8) -> Bool { b &- 0x20 < 0x5F }
    /// 0-15 for 0-9, A-F, a-f; nil otherwise.
    @inline(__always) static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case 0x30...0x39: b &- 0x30
        case 0x41...0x46: b &- 0x41 &+ 10
        case 0x61...0x66: b &- 0x61 &+ 10
        default: nil
        }
    }
    static let upperHexDigits: [UInt8] = Array("0123456789ABCDEF".utf8)
}
