import SasandoISO8583
import Testing

@Suite struct MalformedTests {
    let payment = Fixtures.payment

    @Test func truncatedAtEveryByte() {
        for cut in 0..<payment.count {
            let error = Fixtures.decodeError(Array(payment[0..<cut]))
            #expect(error?.kind == .truncated, "cut at \(cut)")
            #expect((error?.mti != nil) == (cut >= 4), "cut at \(cut)")
            #expect((error?.stan != nil) == (cut >= Fixtures.paymentEndOfField11), "cut at \(cut)")
            // The 30-versus-close decision: 30 only once field 41 has been read.
            #expect(error?.canAnswerFormatError == (cut >= Fixtures.paymentEndOfField41), "cut at \(cut)")
        }
    }

    @Test func truncatedSecondaryMessageAtEveryByte() {
        let bytes = Fixtures.reconciliation
        for cut in 0..<bytes.count {
            #expect(Fixtures.decodeError(Array(bytes[0..<cut]))?.kind == .truncated, "cut at \(cut)")
        }
    }

    @Test func badMTI() {
        let error = Fixtures.decodeError(Fixtures.replacing(payment, at: 2, with: "A"))
        #expect(error?.kind == .badMTI)
        #expect(error?.mti == nil)
        #expect(error?.partial == nil)
    }

    @Test func badBitmapCharacters() {
        for bad in ["G", " ", "-", "\u{7F}"] {
            let error = Fixtures.decodeError(Fixtures.replacing(payment, at: 10, with: bad))
            #expect(error?.kind == .badBitmap)
            #expect(error?.mti == "0200")
            #expect(error?.canAnswerFormatError == false)
        }
    }

    @Test func lowerCaseBitmapAccepted() throws {
        let lower = Fixtures.replacing(payment, at: 4, with: "3238401108c18001")
        #expect(try ISO8583Codec.decode(lower) == Fixtures.paymentMessage)
        let reconciliation = Fixtures.replacing(Fixtures.reconciliation, at: 4, with: "8222000000c00000")
        #expect(try ISO8583Codec.decode(reconciliation) == ISO8583Codec.decode(Fixtures.reconciliation))
    }

    @Test func secondaryBitmapRules() {
        // Bit 1 set but the secondary bitmap announces nothing: rejected (documented in ISO8583Codec).
        let empty = Array(("0800" + "8220000000800000" + "0000000000000000" + "1029083015000124TRM00001").utf8)
        #expect(Fixtures.decodeError(empty)?.kind == .badBitmap)
        // Bit 1 set but the body ends inside the secondary bitmap.
        #expect(Fixtures.decodeError(Array("08008220000000800000040000".utf8))?.kind == .truncated)
        // Secondary bitmap with a non-hex character.
        #expect(Fixtures.decodeError(Fixtures.replacing(Fixtures.echo, at: 20, with: "Z"))?.kind == .badBitmap)
        // Bit 1 clear in front of a secondary bitmap: it is read as field data and the rest is trailing.
        let noBit1 = Fixtures.replacing(Fixtures.echo, at: 4, with: "0")
        #expect(Fixtures.decodeError(noBit1, checkingMandatoryFields: false)?.kind == .trailingBytes)
    }

    @Test func field65IsUndefinedButFieldsBeforeItAreKept() {
        // 0500 with bit 65 added: fields up to 42 decode, so the switch can answer 30.
        let bytes = Fixtures.replacing(Fixtures.reconciliation, at: 20, with: "8")
        let error = Fixtures.decodeError(bytes)
        #expect(error?.kind == .undefinedField(65))
        #expect(error?.stan == "000456")
        #expect(error?.terminalID == "TRM00001")
        #expect(error?.canAnswerFormatError == true)
        #expect(error?.partial?[42] == "PP0000000000001")
        #expect(error?.partial?[76] == nil)
    }

    @Test func undefinedFieldsBeforeTheKeyFields() {
        // Bit 2 (PAN, not in the table): nothing after it can be located.
        let two = Fixtures.decodeError(Fixtures.replacing(payment, at: 4, with: "7"))
        #expect(two?.kind == .undefinedField(2))
        #expect(two?.canAnswerFormatError == false)
        // Bit 5: fields 3 and 4 decoded, 11 not reached.
        let five = Fixtures.decodeError(Fixtures.replacing(payment, at: 5, with: "A"))
        #expect(five?.kind == .undefinedField(5))
        #expect(five?.partial?[4] == "000025825000")
        #expect(five?.stan == nil)
    }

    @Test func wrongFixedLength() {
        // 0800 whose last field (70) is one character short or long.
        let short = Array(Fixtures.echo.dropLast())
        #expect(Fixtures.decodeError(short)?.kind == .truncated)
        #expect(Fixtures.decodeError(short)?.canAnswerFormatError == true)
        #expect(Fixtures.decodeError(Fixtures.echo + Array("1".utf8))?.kind == .trailingBytes)
        // Field 4 one digit short: the next fields shift and the first impossible character is reported.
        var shifted = payment
        shifted.remove(at: 4 + 16 + 6)
        #expect(Fixtures.decodeError(shifted) != nil)
    }

    @Test func lengthPrefixes() throws {
        let field32 = 4 + 16 + 6 + 12 + 10 + 6 + 6 + 4 + 4 + 9
        #expect(Fixtures.decodeError(Fixtures.replacing(payment, at: field32, with: "0A"))?.kind == .badLengthPrefix(32))
        #expect(Fixtures.decodeError(Fixtures.replacing(payment, at: field32, with: " 3"))?.kind == .badLengthPrefix(32))
        let field48 = Fixtures.paymentEndOfField41 + 15
        #expect(Fixtures.decodeError(Fixtures.replacing(payment, at: field48, with: "09X"))?.kind == .badLengthPrefix(48))
        // LL over the maximum (11 for field 32), with the bytes to back it.
        let valid = try ISO8583Codec.encode(ISOMessage(mti: "0800", fields: [
            7: "1029083015", 11: "000124", 32: "12345678901", 41: "TRM00001", 70: "301",
        ]))
        let field32InEcho = 4 + 16 + 16 + 10 + 6
        var over = Fixtures.replacing(valid, at: field32InEcho, with: "12")
        over.insert(0x39, at: field32InEcho + 2)
        let error = Fixtures.decodeError(over, checkingMandatoryFields: false)
        #expect(error?.kind == .wrongLength(32))
        // The field's bounds were still known, so 41 was read after it.
        #expect(error?.terminalID == "TRM00001")
        #expect(error?.canAnswerFormatError == true)
        #expect(error?.partial?[32] == nil)
        #expect(error?.partial?[70] == "301")
    }

    @Test func nonASCIIBytesInFields() {
        let field48Data = Fixtures.paymentEndOfField41 + 15 + 3
        for bad: UInt8 in [0x80, 0x00, 0x7F, 0xFF, 0x1F] {
            var bytes = payment
            bytes[field48Data + 10] = bad
            let error = Fixtures.decodeError(bytes)
            #expect(error?.kind == .badCharacter(48))
            #expect(error?.canAnswerFormatError == true)
            #expect(error?.partial?[48] == nil)
            #expect(error?.partial?[49] == "360")   // structure intact: later fields still decoded
        }
    }

    @Test func badCharacterInATerminalIDMeansClose() {
        var bytes = payment
        bytes[Fixtures.paymentEndOfField41 - 3] = 0x80
        let error = Fixtures.decodeError(bytes)
        #expect(error?.kind == .badCharacter(41))
        #expect(error?.stan == "000123")
        #expect(error?.terminalID == nil)
        #expect(error?.canAnswerFormatError == false)
    }

    @Test func badCharacterBeforeTheKeyFieldsStillRecoversThem() {
        let error = Fixtures.decodeError(Fixtures.replacing(payment, at: 4 + 16 + 6 + 3, with: "X"))
        #expect(error?.kind == .badCharacter(4))
        #expect(error?.stan == "000123")
        #expect(error?.terminalID == "TRM00001")
        #expect(error?.partial?[4] == nil)
        #expect(error?.partial?[48] == Fixtures.billData)
    }

    @Test func recoveredFieldsAreDroppedWhenTheRestDoesNotFit() {
        // A bad character in field 4 and a body cut short: fields after 4 are not trusted.
        let bytes = Array(Fixtures.replacing(payment, at: 4 + 16 + 6 + 3, with: "X").dropLast(5))
        let error = Fixtures.decodeError(bytes)
        #expect(error?.kind == .badCharacter(4))
        #expect(error?.stan == nil)
        #expect(error?.partial?.fields == [3: "180000"])
    }

    @Test func characterClasses() throws {
        let field28 = 4 + 16 + 6 + 12 + 10 + 6 + 6 + 4 + 4
        #expect(Fixtures.decodeError(Fixtures.replacing(payment, at: field28, with: "X"))?.kind == .badCharacter(28))
        #expect(try ISO8583Codec.decode(Fixtures.replacing(payment, at: field28, with: "C")).fields[28] == "C00500000")
        #expect(Fixtures.decodeError(Fixtures.replacing(payment, at: field28 + 3, with: "D"))?.kind == .badCharacter(28))
        let mac = payment.count - 16
        #expect(Fixtures.decodeError(Fixtures.replacing(payment, at: mac, with: "G"))?.kind == .badCharacter(64))
        #expect(try ISO8583Codec.decode(Fixtures.replacing(payment, at: mac, with: "3c3c"))[64] == "3c3c745C4B73A779")
    }

    @Test func trailingBytes() {
        let error = Fixtures.decodeError(payment + [0x30])
        #expect(error?.kind == .trailingBytes)
        #expect(error?.canAnswerFormatError == true)
        #expect(error?.partial?[64] == "3C3C745C4B73A779")
    }

    @Test func missingMandatoryFields() throws {
        var message = Fixtures.paymentMessage
        message[48] = nil
        let error = Fixtures.decodeError(try ISO8583Codec.encodeWithMAC(message, key: Fixtures.key))
        #expect(error?.kind == .missingMandatoryField(48))
        #expect(error?.canAnswerFormatError == true)

        var noFee = Fixtures.paymentMessage
        noFee[28] = nil
        #expect(Fixtures.decodeError(try ISO8583Codec.encode(noFee))?.kind == .missingMandatoryField(28))
        noFee[3] = "380000"   // an inquiry carries no fee
        #expect(Fixtures.decodeError(try ISO8583Codec.encode(noFee)) == nil)

        var noMAC = Fixtures.paymentMessage
        noMAC[64] = nil   // a missing MAC is 63, found by ISOMAC.verify, not a format error
        #expect(Fixtures.decodeError(try ISO8583Codec.encode(noMAC)) == nil)

        let echoWithoutTerminal = ISOMessage(mti: "0800", fields: [7: "1029083015", 11: "000124", 70: "301"])
        let echoError = Fixtures.decodeError(try ISO8583Codec.encode(echoWithoutTerminal))
        #expect(echoError?.kind == .missingMandatoryField(41))
        #expect(echoError?.canAnswerFormatError == false)
    }

    @Test func emptyAndTinyBodies() {
        #expect(Fixtures.decodeError([])?.kind == .truncated)
        #expect(Fixtures.decodeError(Array("0200".utf8))?.kind == .truncated)
        #expect(Fixtures.decodeError(Array("02000000000000000000".utf8), checkingMandatoryFields: false) == nil)
        #expect(Fixtures.decodeError(Array("02000000000000000000".utf8))?.kind == .missingMandatoryField(3))
    }

    @Test func randomMutationsNeverCrash() throws {
        var rng = SeededGenerator(seed: 2025)
        let seeds = [Fixtures.payment, Fixtures.reconciliation, Fixtures.echo]
        var decodedCount = 0
        for i in 0..<20_000 {
            var bytes = seeds[i % seeds.count]
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let position = Int.random(in: 0..<bytes.count, using: &rng)
                switch Int.random(in: 0..<4, using: &rng) {
                case 0: bytes[position] = UInt8.random(in: 0...255, using: &rng)
                case 1: bytes[position] = UInt8.random(in: 0x20...0x7E, using: &rng)
                case 2: bytes.remove(at: position)
                default: bytes.insert(UInt8.random(in: 0x30...0x46, using: &rng), at: position)
                }
                if bytes.isEmpty { bytes = [0x30] }
            }
            do {
                let message = try ISO8583Codec.decode(bytes, checkingMandatoryFields: false)
                decodedCount += 1
                let again = try ISO8583Codec.decode(try ISO8583Codec.encode(message), checkingMandatoryFields: false)
                #expect(again == message)
            } catch let error as ISODecodeError {
                #expect(error.canAnswerFormatError == (error.mti != nil && error.stan != nil && error.terminalID != nil))
            }
        }
        #expect(decodedCount > 0)
    }

    @Test func decodesFromNonContiguousCollections() throws {
        let message = try ISO8583Codec.decode(Fixtures.payment.lazy.map { $0 })
        #expect(message == Fixtures.paymentMessage)
        #expect(try ISO8583Codec.decode(Fixtures.payment[...]) == Fixtures.paymentMessage)
    }
}

@Suite struct EncodeErrorTests {
    @Test func encoderRejectsBadData() {
        var message = Fixtures.paymentMessage
        #expect(throws: ISOEncodeError.badMTI("200")) { try ISO8583Codec.encode(ISOMessage(mti: "200")) }
        #expect(throws: ISOEncodeError.badMTI("02A0")) { try ISO8583Codec.encode(ISOMessage(mti: "02A0")) }
        message[1] = "0000000000000000"
        #expect(throws: ISOEncodeError.bitmapFieldGiven) { try ISO8583Codec.encode(message) }
        message[1] = nil
        message[65] = "x"
        message[2] = "x"
        #expect(throws: ISOEncodeError.undefinedField(2)) { try ISO8583Codec.encode(message) }
        message[2] = nil
        #expect(throws: ISOEncodeError.undefinedField(65)) { try ISO8583Codec.encode(message) }
        message[65] = nil
        message[200] = "x"
        #expect(throws: ISOEncodeError.undefinedField(200)) { try ISO8583Codec.encode(message) }
        message[200] = nil
        message[4] = "25825000"
        #expect(throws: ISOEncodeError.wrongLength(field: 4, length: 8)) { try ISO8583Codec.encode(message) }
        message[4] = "00002582500X"
        #expect(throws: ISOEncodeError.badCharacter(4)) { try ISO8583Codec.encode(message) }
        message[4] = "000025825000"
        message[48] = String(repeating: "A", count: 1000)
        #expect(throws: ISOEncodeError.wrongLength(field: 48, length: 1000)) { try ISO8583Codec.encode(message) }
        message[48] = "PLNPOST Café"
        #expect(throws: ISOEncodeError.badCharacter(48)) { try ISO8583Codec.encode(message) }
        message[48] = "tab\there"
        #expect(throws: ISOEncodeError.badCharacter(48)) { try ISO8583Codec.encode(message) }
        message[48] = Fixtures.billData
        message[28] = "X00500000"
        #expect(throws: ISOEncodeError.badCharacter(28)) { try ISO8583Codec.encodeWithMAC(message, key: Fixtures.key) }
    }

    @Test func longestLegalFieldsEncode() throws {
        var message = ISOMessage(mti: "0210")
        message[48] = String(repeating: "~", count: 999)
        message[32] = "12345678901"
        message[33] = ""
        let bytes = try ISO8583Codec.encode(message)
        #expect(try ISO8583Codec.decode(bytes) == message)
    }
}
