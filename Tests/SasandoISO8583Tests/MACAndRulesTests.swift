import SasandoISO8583
import Testing

@Suite struct MACTests {
    @Test func validWrongMissing() throws {
        let body = Fixtures.payment
        let message = try ISO8583Codec.decode(body)
        #expect(ISOMAC.verify(body: body, message: message, key: Fixtures.key) == .valid)
        #expect(ISOMAC.verify(body: body[...], message: message, key: Fixtures.key) == .valid)

        var otherKey = Fixtures.key
        otherKey[0] ^= 1
        #expect(ISOMAC.verify(body: body, message: message, key: otherKey) == .wrong)

        // A changed STAN digit still decodes, but no longer matches the MAC.
        let tampered = Fixtures.replacing(body, at: Fixtures.paymentEndOfField11 - 1, with: "4")
        let tamperedMessage = try ISO8583Codec.decode(tampered)
        #expect(ISOMAC.verify(body: tampered, message: tamperedMessage, key: Fixtures.key) == .wrong)

        // Lower-case hex is accepted on input.
        let lower = Fixtures.replacing(body, at: body.count - 16, with: "3c3c745c4b73a779")
        #expect(ISOMAC.verify(body: lower, message: try ISO8583Codec.decode(lower), key: Fixtures.key) == .valid)

        var unsigned = Fixtures.paymentMessage
        unsigned[64] = nil
        let unsignedBody = try ISO8583Codec.encode(unsigned)
        #expect(ISOMAC.verify(body: unsignedBody, message: unsigned, key: Fixtures.key) == .missing)

        // Body and message that do not belong together.
        #expect(ISOMAC.verify(body: Fixtures.echo, message: message, key: Fixtures.key) == .wrong)
        #expect(ISOMAC.verify(body: [], message: message, key: Fixtures.key) == .wrong)
    }

    @Test func secondaryBitmapUsesField128() throws {
        let message = ISOMessage(mti: "0400", fields: [
            3: "180000", 4: "000025825000", 7: "1029083100", 11: "000125", 32: "129", 37: "251029000123",
            41: "TRM00001", 42: "PP0000000000001", 49: "360",
            // original MTI 4, STAN 6, field 7 10, field 32 11, field 33 11
            90: "0200" + "000123" + "1029083015" + "00000000129" + "00000000000",
        ])
        let body = try ISO8583Codec.encodeWithMAC(message, key: Fixtures.key)
        let decoded = try ISO8583Codec.decode(body)
        #expect(decoded[128] != nil)
        #expect(decoded[64] == nil)
        #expect(ISOMAC.verify(body: body, message: decoded, key: Fixtures.key) == .valid)

        // A field 64 in a message with a secondary bitmap is not the MAC.
        var wrongPlace = message
        wrongPlace[64] = "0000000000000000"
        let misplaced = try ISO8583Codec.encode(wrongPlace)
        #expect(ISOMAC.verify(body: misplaced, message: try ISO8583Codec.decode(misplaced), key: Fixtures.key) == .missing)
        // encodeWithMAC replaces it with field 128.
        let fixed = try ISO8583Codec.decode(try ISO8583Codec.encodeWithMAC(wrongPlace, key: Fixtures.key))
        #expect(fixed[64] == nil && fixed[128] != nil)
    }
}

@Suite struct RulesTests {
    @Test func mandatoryFields() {
        #expect(ISOMessageRules.mandatoryFields(mti: "0800", processingCode: nil) == [7, 11, 41, 70])
        #expect(ISOMessageRules.mandatoryFields(mti: "0200", processingCode: "380000") == [3, 4, 7, 11, 12, 13, 18, 32, 37, 41, 42, 48, 49])
        #expect(ISOMessageRules.mandatoryFields(mti: "0200", processingCode: "180000").contains(28))
        #expect(ISOMessageRules.mandatoryFields(mti: "0200", processingCode: "990000") == ISOMessageRules.mandatoryFields(mti: "0200", processingCode: "380000"))
        #expect(ISOMessageRules.mandatoryFields(mti: "0401", processingCode: "180000") == [3, 4, 7, 11, 32, 37, 41, 42, 49, 90])
        #expect(ISOMessageRules.mandatoryFields(mti: "0500", processingCode: nil) == [7, 11, 15, 41, 42, 76, 77, 88, 89, 97])
        #expect(ISOMessageRules.mandatoryFields(mti: "0210", processingCode: "180000") == [])
        #expect(ISOMessageRules.missingMandatoryField(in: Fixtures.paymentMessage) == nil)
    }

    @Test func macAndResponses() {
        for mti in ["0200", "0400", "0401", "0500"] { #expect(ISOMessageRules.requiresMAC(mti: mti)) }
        for mti in ["0800", "0810", "0210"] { #expect(!ISOMessageRules.requiresMAC(mti: mti)) }
        #expect(ISOMessageRules.responseMTI(for: "0200") == "0210")
        #expect(ISOMessageRules.responseMTI(for: "0400") == "0410")
        #expect(ISOMessageRules.responseMTI(for: "0401") == "0410")
        #expect(ISOMessageRules.responseMTI(for: "0500") == "0510")
        #expect(ISOMessageRules.responseMTI(for: "0800") == "0810")
        #expect(ISOMessageRules.responseMTI(for: "0210") == nil)
    }

    @Test func impossibleDatesAndTimesAreFound() {
        func message(_ fields: [Int: String]) -> ISOMessage { ISOMessage(mti: "0200", fields: fields) }
        #expect(ISOMessageRules.impossibleDateOrTime(in: message([7: "1130235959", 12: "000000", 13: "0229"])) == nil)
        #expect(ISOMessageRules.impossibleDateOrTime(in: message([7: "1131000000"])) == 7)
        #expect(ISOMessageRules.impossibleDateOrTime(in: message([7: "0001120000"])) == 7)
        #expect(ISOMessageRules.impossibleDateOrTime(in: message([7: "1130240000"])) == 7)
        #expect(ISOMessageRules.impossibleDateOrTime(in: message([12: "126000"])) == 12)
        #expect(ISOMessageRules.impossibleDateOrTime(in: message([13: "0230"])) == 13)
        #expect(ISOMessageRules.impossibleDateOrTime(in: message([13: "1301"])) == 13)
    }
}
