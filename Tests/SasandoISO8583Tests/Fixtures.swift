import SasandoISO8583

/// Shared sample messages. The byte strings are written out by hand from spec §2/§5, field by field,
/// not produced by the encoder under test.
enum Fixtures {
    /// 32-byte MAC key 00 01 02 ... 1F.
    static let key: [UInt8] = Array(0..<32)

    /// Field 48 of a PLNPOST payment request with two bills (96 characters, spec §5).
    static let billData =
        "PLNPOST " + "123456789012        " + "BUDI SANTOSO                  " + "02"
        + "202509" + "000012550000" + "202510" + "000013275000"

    /// A 0200 payment, MAC in field 64. The MAC was computed independently at authoring time with
    /// python3: hmac.new(bytes(range(32)), body_without_mac, hashlib.sha256).digest()[:8].hex().upper().
    static let paymentText =
        "0200" + "3238401108C18001"
        + "180000" + "000025825000" + "1029083015" + "000123" + "163015" + "1029" + "6021"
        + "D00500000" + "03" + "129" + "251029000123" + "TRM00001" + "PP0000000000001"
        + "096" + billData + "360" + "3C3C745C4B73A779"
    static var payment: [UInt8] { Array(paymentText.utf8) }
    /// Offset just after field 11 and just after field 41 in `payment`.
    static let paymentEndOfField11 = 4 + 16 + 6 + 12 + 10 + 6
    static let paymentEndOfField41 = paymentEndOfField11 + 6 + 4 + 4 + 9 + 5 + 12 + 8

    static let paymentMessage = ISOMessage(mti: "0200", fields: [
        3: "180000", 4: "000025825000", 7: "1029083015", 11: "000123", 12: "163015", 13: "1029",
        18: "6021", 28: "D00500000", 32: "129", 37: "251029000123", 41: "TRM00001", 42: "PP0000000000001",
        48: billData, 49: "360", 64: "3C3C745C4B73A779",
    ])

    /// A 0500 reconciliation: secondary bitmap, MAC in field 128 (computed with python3 as above).
    static let reconciliationText =
        "0500" + "8222000000C00000" + "0018018080000001"
        + "1029230501" + "000456" + "1029" + "TRM00001" + "PP0000000000001"
        + "0000000012" + "0000000001" + "0000000310000000" + "0000000025825000" + "D0000000284175000"
        + "0B7AFB8BFB5BDAA6"
    static var reconciliation: [UInt8] { Array(reconciliationText.utf8) }

    /// A 0800 echo, no MAC (spec §7).
    static let echoText = "0800" + "8220000000800000" + "0400000000000000" + "1029083015" + "000124" + "TRM00001" + "301"
    static var echo: [UInt8] { Array(echoText.utf8) }

    static func decodeError(_ bytes: [UInt8], checkingMandatoryFields: Bool = true) -> ISODecodeError? {
        do {
            _ = try ISO8583Codec.decode(bytes, checkingMandatoryFields: checkingMandatoryFields)
            return nil
        } catch {
            return error
        }
    }

    static func replacing(_ bytes: [UInt8], at offset: Int, with text: String) -> [UInt8] {
        var copy = bytes
        let new = Array(text.utf8)
        copy.replaceSubrange(offset..<(offset + new.count), with: new)
        return copy
    }
}

/// SplitMix64: a small seeded generator so property tests are reproducible.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Random valid messages drawn from the field table.
struct MessageGenerator {
    var rng: SeededGenerator

    mutating func value(for spec: ISOFieldSpec) -> String {
        let count = spec.prefix == .fixed ? spec.length : Int.random(in: 0...spec.length, using: &rng)
        var bytes: [UInt8] = []
        for i in 0..<count {
            switch spec.characterClass {
            case .numeric: bytes.append(UInt8.random(in: 0x30...0x39, using: &rng))
            case .alphanumericSpecial: bytes.append(UInt8.random(in: 0x20...0x7E, using: &rng))
            case .hex: bytes.append(Array("0123456789ABCDEF".utf8).randomElement(using: &rng)!)
            case .signedAmount:
                bytes.append(i == 0 ? (Bool.random(using: &rng) ? 0x43 : 0x44) : UInt8.random(in: 0x30...0x39, using: &rng))
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Any MTI (mandatory fields are not checked by the callers), any subset of defined fields.
    mutating func message() -> ISOMessage {
        let mti = String(decoding: (0..<4).map { _ in UInt8.random(in: 0x30...0x39, using: &rng) }, as: UTF8.self)
        var message = ISOMessage(mti: mti)
        let density = Double.random(in: 0.05...0.9, using: &rng)
        for spec in ISO8583Spec.table where spec.number != 1 && Double.random(in: 0..<1, using: &rng) < density {
            message[spec.number] = value(for: spec)
        }
        return message
    }
}
