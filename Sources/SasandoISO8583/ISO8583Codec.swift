/// The spec §2 ASCII codec. `body` is the message without its 2-byte length header (framing lives in
/// SasandoTransport). Decoding works on bytes and never traps on input: every index is checked first.
///
/// Bitmap decisions (spec §2 says the secondary bitmap is present exactly when bit 1 is set):
/// - bit 1 set: 16 more hex characters follow; if they announce no field at all the message is
///   rejected (`badBitmap`): a secondary bitmap for nothing is not canonical, the encoder never makes
///   one, and accepting it would break decode -> encode byte identity.
/// - bit 65 (or any other bit the table does not define) set: `undefinedField(n)`.
/// - a primary bitmap with no bits set is structurally fine; a request then fails its mandatory fields.
public enum ISO8583Codec {
    /// Decodes `body`. With `checkingMandatoryFields` (the default), a request MTI missing a field of
    /// spec §3 throws `missingMandatoryField` (the MAC is not checked here: see `ISOMAC.verify`).
    public static func decode(
        _ body: some Collection<UInt8>, checkingMandatoryFields: Bool = true
    ) throws(ISODecodeError) -> ISOMessage {
        let result =
            body.withContiguousStorageIfAvailable { decode(buffer: $0, checkingMandatoryFields: checkingMandatoryFields) }
            ?? Array(body).withUnsafeBufferPointer { decode(buffer: $0, checkingMandatoryFields: checkingMandatoryFields) }
        return try result.get()
    }

    static func decode(buffer: UnsafeBufferPointer<UInt8>, checkingMandatoryFields: Bool) -> Result<ISOMessage, ISODecodeError> {
        var decoder = ISOBodyDecoder(bytes: buffer)
        return Result { () throws(ISODecodeError) -> ISOMessage in
            try decoder.run(checkingMandatoryFields: checkingMandatoryFields)
        }
    }

    /// Encodes `message`, validating every field against the table.
    public static func encode(_ message: ISOMessage) throws(ISOEncodeError) -> [UInt8] {
        var out: [UInt8] = []
        try encode(message, into: &out)
        return out
    }

    /// Encodes with a MAC (spec §7): field 64 when no secondary bitmap is needed, else field 128. Any
    /// MAC already in `message` is replaced. The bitmap includes the MAC bit before the MAC is computed.
    public static func encodeWithMAC(_ message: ISOMessage, key: [UInt8]) throws(ISOEncodeError) -> [UInt8] {
        var unsigned = message
        unsigned.fields[ISO8583Spec.macFieldPrimary] = nil
        unsigned.fields[ISO8583Spec.macFieldSecondary] = nil
        let macField = unsigned.fields.keys.contains { $0 > 64 } ? ISO8583Spec.macFieldSecondary : ISO8583Spec.macFieldPrimary
        unsigned.fields[macField] = ISOMAC.placeholder
        var bytes = try encode(unsigned)
        // The MAC field is the last field and has a fixed 16 characters: it is the body's tail.
        let macStart = bytes.count - ISOMAC.hexCount
        let mac = ISOMAC.macBytes(key: key, over: bytes[0..<macStart])
        for (i, byte) in mac.enumerated() {
            bytes[macStart + 2 * i] = ASCII.upperHexDigits[Int(byte >> 4)]
            bytes[macStart + 2 * i + 1] = ASCII.upperHexDigits[Int(byte & 0x0F)]
        }
        return bytes
    }

    /// Appends the encoding of `message` to `out` (lets callers reuse a buffer).
    public static func encode(_ message: ISOMessage, into out: inout [UInt8]) throws(ISOEncodeError) {
        guard isFourDigits(message.mti) else { throw .badMTI(message.mti) }

        var primary: UInt64 = 0
        var secondary: UInt64 = 0
        var badNumber: Int?   // smallest, so the error does not depend on dictionary order
        var dataBytes = 0
        for (number, value) in message.fields {
            guard number >= 2, ISO8583Spec.spec(for: number) != nil else {
                badNumber = min(badNumber ?? number, number)
                continue
            }
            if number <= 64 { primary |= 1 << UInt64(64 - number) } else { secondary |= 1 << UInt64(128 - number) }
            dataBytes += value.utf8.count + 3
        }
        if let badNumber { throw badNumber == 1 ? .bitmapFieldGiven : .undefinedField(badNumber) }
        if secondary != 0 { primary |= bit1 }

        out.reserveCapacity(out.count + 4 + 32 + dataBytes)
        out.append(contentsOf: message.mti.utf8)
        appendHex(primary, to: &out)
        if secondary != 0 { appendHex(secondary, to: &out) }
        try appendFields(of: message, bitmap: primary & ~bit1, offset: 0, to: &out)
        try appendFields(of: message, bitmap: secondary, offset: 64, to: &out)
    }

    static let bit1: UInt64 = 1 << 63

    static func appendFields(of message: ISOMessage, bitmap: UInt64, offset: Int, to out: inout [UInt8]) throws(ISOEncodeError) {
        var remaining = bitmap
        while remaining != 0 {
            let zeros = remaining.leadingZeroBitCount
            remaining &= ~(1 << UInt64(63 - zeros))
            let number = offset + zeros + 1
            guard let spec = ISO8583Spec.spec(for: number), let value = message.fields[number] else {
                throw .undefinedField(number)   // unreachable: bits come from the defined fields present
            }
            try appendField(value, spec: spec, to: &out)
        }
    }

    static func appendField(_ value: String, spec: ISOFieldSpec, to out: inout [UInt8]) throws(ISOEncodeError) {
        let utf8 = value.utf8
        let count = utf8.count
        let lengthOK = spec.prefix == .fixed ? count == spec.length : count <= spec.length
        guard lengthOK else { throw .wrongLength(field: spec.number, length: count) }
        let valid = utf8.withContiguousStorageIfAvailable { validate($0, spec) } ?? validate(Array(utf8), spec)
        guard valid else { throw .badCharacter(spec.number) }
        appendDecimal(count, width: spec.prefix.digitCount, to: &out)
        out.append(contentsOf: utf8)
    }

    static func validate(_ bytes: some Collection<UInt8>, _ spec: ISOFieldSpec) -> Bool {
        var index = 0
        for byte in bytes {
            guard spec.accepts(byte, at: index) else { return false }
            index += 1
        }
        return true
    }

    static func appendHex(_ value: UInt64, to out: inout [UInt8]) {
        for shift in stride(from: 60, through: 0, by: -4) {
            out.append(ASCII.upperHexDigits[Int((value >> UInt64(shift)) & 0xF)])
        }
    }

    static func appendDecimal(_ value: Int, width: Int, to out: inout [UInt8]) {
        guard width > 0 else { return }
        var divisor = 1
        for _ in 1..<width { divisor *= 10 }
        var rest = value
        for _ in 0..<width {
            out.append(UInt8(truncatingIfNeeded: 0x30 + (rest / divisor) % 10))
            rest %= divisor
            divisor /= 10
        }
    }

    static func isFourDigits(_ s: String) -> Bool {
        var count = 0
        for byte in s.utf8 {
            guard ASCII.isDigit(byte) else { return false }
            count += 1
        }
        return count == 4
    }
}

/// One decoding pass over a body.
struct ISOBodyDecoder {
    let bytes: UnsafeBufferPointer<UInt8>
    var position = 0
    var message = ISOMessage(mti: "")
    var mtiRead = false
    /// First error inside a field whose boundaries were still known (bad character, length over the
    /// maximum). Decoding goes on so fields 11 and 41 can be read for a `30` (spec §2); if the rest of the
    /// body then fails structurally, the positions were not trustworthy and only the fields before it count.
    var deferred: (kind: ISODecodeError.Kind, fieldsBefore: [Int: String])?

    init(bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
        message.fields.reserveCapacity(24)
    }

    var remaining: Int { bytes.count - position }

    mutating func run(checkingMandatoryFields: Bool) throws(ISODecodeError) -> ISOMessage {
        guard remaining >= 4 else { throw failure(.truncated) }
        for i in 0..<4 where !ASCII.isDigit(bytes[i]) { throw failure(.badMTI) }
        message.mti = string(at: 0, count: 4)
        mtiRead = true
        position = 4

        let primary = try readBitmap()
        var secondary: UInt64 = 0
        if primary & ISO8583Codec.bit1 != 0 {
            secondary = try readBitmap()
            guard secondary != 0 else { throw failure(.badBitmap) }
        }
        try readFields(primary & ~ISO8583Codec.bit1, offset: 0)
        try readFields(secondary, offset: 64)
        guard remaining == 0 else { throw failure(.trailingBytes) }

        if let deferred { throw error(deferred.kind, fields: message.fields) }
        if checkingMandatoryFields, let missing = ISOMessageRules.missingMandatoryField(in: message) {
            throw error(.missingMandatoryField(missing), fields: message.fields)
        }
        return message
    }

    mutating func readBitmap() throws(ISODecodeError) -> UInt64 {
        guard remaining >= 16 else { throw failure(.truncated) }
        var value: UInt64 = 0
        for i in 0..<16 {
            guard let nibble = ASCII.hexValue(bytes[position + i]) else { throw failure(.badBitmap) }
            value = value << 4 | UInt64(nibble)
        }
        position += 16
        return value
    }

    mutating func readFields(_ bitmap: UInt64, offset: Int) throws(ISODecodeError) {
        var bits = bitmap
        while bits != 0 {
            let zeros = bits.leadingZeroBitCount
            bits &= ~(1 << UInt64(63 - zeros))
            try readField(offset + zeros + 1)
        }
    }

    mutating func readField(_ number: Int) throws(ISODecodeError) {
        guard let spec = ISO8583Spec.spec(for: number) else { throw failure(.undefinedField(number)) }
        var length = spec.length
        let digits = spec.prefix.digitCount
        if digits > 0 {
            guard remaining >= digits else { throw failure(.truncated) }
            length = 0
            for i in 0..<digits {
                let byte = bytes[position + i]
                guard ASCII.isDigit(byte) else { throw failure(.badLengthPrefix(number)) }
                length = length * 10 + Int(byte &- 0x30)   // at most 999: no overflow
            }
            position += digits
        }
        guard remaining >= length else { throw failure(.truncated) }

        var problem: ISODecodeError.Kind?
        if length > spec.length {
            problem = .wrongLength(number)
        } else {
            for i in 0..<length where !spec.accepts(bytes[position + i], at: i) {
                problem = .badCharacter(number)
                break
            }
        }
        if let problem {
            if deferred == nil { deferred = (problem, message.fields) }
        } else {
            message.fields[number] = string(at: position, count: length)
        }
        position += length
    }

    /// Called only after every byte in the range was checked to be printable ASCII.
    @inline(__always)
    func string(at start: Int, count: Int) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<(start + count)]), as: UTF8.self)
    }

    /// A structural error: if an earlier field error was deferred, report it, with the fields before it.
    func failure(_ kind: ISODecodeError.Kind) -> ISODecodeError {
        if let deferred { return error(deferred.kind, fields: deferred.fieldsBefore) }
        return error(kind, fields: message.fields)
    }

    func error(_ kind: ISODecodeError.Kind, fields: [Int: String]) -> ISODecodeError {
        guard mtiRead else { return ISODecodeError(kind: kind) }
        return ISODecodeError(
            kind: kind, mti: message.mti, stan: fields[11], terminalID: fields[41],
            partial: ISOMessage(mti: message.mti, fields: fields))
    }
}
