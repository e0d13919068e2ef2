/// Why a received body is not a valid message. Spec §2: the switch answers `30` when MTI, field 11 and
/// field 41 could be read (`canAnswerFormatError`), otherwise it logs and closes the connection.
public struct ISODecodeError: Error, Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// The body ended inside the MTI, a bitmap, a length prefix or a field.
        case truncated
        /// The MTI is not 4 ASCII digits.
        case badMTI
        /// A bitmap is not 16 hex characters, or a secondary bitmap announces no field (bit 1 set for nothing).
        case badBitmap
        /// The bitmap announces a field the table does not define (its length is unknown, decoding stops).
        case undefinedField(Int)
        /// An LL/LLL length prefix is not all digits.
        case badLengthPrefix(Int)
        /// An LL/LLL length exceeds the field's maximum.
        case wrongLength(Int)
        /// A byte outside the field's character class (including anything outside 0x20-0x7E).
        case badCharacter(Int)
        /// Bytes left after the last field.
        case trailingBytes
        /// A mandatory field of spec §3 is absent (request MTIs only; the MAC is not checked here).
        case missingMandatoryField(Int)
    }

    public var kind: Kind
    public var mti: String?
    /// Field 11, when it could be read.
    public var stan: String?
    /// Field 41, when it could be read.
    public var terminalID: String?
    /// Every field decoded validly before the error, so a `30` response can echo what it can.
    /// Nil when not even the MTI could be read.
    public var partial: ISOMessage?

    public init(kind: Kind, mti: String? = nil, stan: String? = nil, terminalID: String? = nil, partial: ISOMessage? = nil) {
        self.kind = kind
        self.mti = mti
        self.stan = stan
        self.terminalID = terminalID
        self.partial = partial
    }

    public var canAnswerFormatError: Bool { mti != nil && stan != nil && terminalID != nil }
}

/// Why a message cannot be encoded: a programmer or data error, reported instead of crashing.
public enum ISOEncodeError: Error, Sendable, Equatable {
    /// The MTI is not 4 ASCII digits.
    case badMTI(String)
    /// Field 1 (the secondary bitmap) was given as data: the encoder derives it.
    case bitmapFieldGiven
    /// A field number the table does not define.
    case undefinedField(Int)
    /// A fixed field of the wrong length, or a variable one over its maximum.
    case wrongLength(field: Int, length: Int)
    /// A character outside the field's class (or outside printable ASCII).
    case badCharacter(Int)
}
