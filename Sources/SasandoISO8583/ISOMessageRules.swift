/// Spec §3 message rules: which fields a request must carry, which requests carry a MAC (§7), and
/// which MTI answers which.
public enum ISOMessageRules {
    /// Processing code of a bill payment (spec §4): the only request that must also carry field 28.
    public static let paymentProcessingCode = "180000"
    /// Processing code of a bill inquiry (spec §4).
    public static let inquiryProcessingCode = "380000"

    static let networkManagement = [7, 11, 41, 70]
    static let financial = [3, 4, 7, 11, 12, 13, 18, 32, 37, 41, 42, 48, 49]
    static let payment = [3, 4, 7, 11, 12, 13, 18, 28, 32, 37, 41, 42, 48, 49]
    static let reversal = [3, 4, 7, 11, 32, 37, 41, 42, 49, 90]
    static let reconciliation = [7, 11, 15, 41, 42, 76, 77, 88, 89, 97]

    /// Mandatory request fields, ascending, without the MAC (a missing MAC is `63`, not `30`).
    /// Empty for MTIs that are not requests of spec §3 (responses are not checked).
    public static func mandatoryFields(mti: String, processingCode: String?) -> [Int] {
        switch mti {
        case "0800": networkManagement
        case "0200": processingCode == paymentProcessingCode ? payment : financial
        case "0400", "0401": reversal
        case "0500": reconciliation
        default: []
        }
    }

    /// Requests that carry a MAC (spec §7). Their responses carry one too.
    public static func requiresMAC(mti: String) -> Bool {
        switch mti {
        case "0200", "0400", "0401", "0500": true
        default: false
        }
    }

    /// The first (lowest-numbered) missing mandatory field, or nil.
    public static func missingMandatoryField(in message: ISOMessage) -> Int? {
        mandatoryFields(mti: message.mti, processingCode: message.fields[3]).first { message.fields[$0] == nil }
    }

    /// Fields a response never echoes from its request: the MAC (recomputed on encoding), the
    /// approval code (spec §2: approved payments only, set by the switch) and the switch-to-biller
    /// fields 33 and 100 (§8).
    static let notEchoed = [33, 38, 64, 100, 128]

    /// Spec §3: a response echoes every request field it does not change, plus 39.
    public static func answer(to request: ISOMessage, mti: String, code: String) -> ISOMessage {
        var response = request
        response.mti = mti
        for field in notEchoed { response[field] = nil }
        response[39] = code
        return response
    }

    /// The first of fields 7 (MMDDhhmmss), 12 (hhmmss) and 13 (MMDD) that is present but no real
    /// date or time of day (month 13, 25 o'clock), or nil. Their format (digits) the codec checks.
    public static func impossibleDateOrTime(in message: ISOMessage) -> Int? {
        func number(_ s: Substring) -> Int { Int(s) ?? -1 }
        func isDay(_ mmdd: Substring) -> Bool {
            let month = number(mmdd.prefix(2)), day = number(mmdd.suffix(2))
            let days = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]  // any year: 29 February may be real
            return (1...12).contains(month) && (1...days[month - 1]).contains(day)
        }
        func isTime(_ hhmmss: Substring) -> Bool {
            let parts = [hhmmss.prefix(2), hhmmss.dropFirst(2).prefix(2), hhmmss.suffix(2)].map(number)
            return (0...23).contains(parts[0]) && (0...59).contains(parts[1]) && (0...59).contains(parts[2])
        }
        if let f7 = message.fields[7], f7.count == 10, !(isDay(Substring(f7).prefix(4)) && isTime(Substring(f7).suffix(6))) { return 7 }
        if let f12 = message.fields[12], f12.count == 6, !isTime(Substring(f12)) { return 12 }
        if let f13 = message.fields[13], f13.count == 4, !isDay(Substring(f13)) { return 13 }
        return nil
    }

    /// Spec §2, field 32: the acquiring institution, Bank NTT.
    public static let acquiringInstitution = "129"

    /// Financial and reconciliation responses carry field 15, the business date (spec §3).
    public static func carriesBusinessDate(responseMTI: String) -> Bool {
        responseMTI == "0210" || responseMTI == "0410" || responseMTI == "0510"
    }

    /// The MTI of the answer to a request, or nil for MTIs that are not requests here.
    public static func responseMTI(for requestMTI: String) -> String? {
        switch requestMTI {
        case "0200": "0210"
        case "0400", "0401": "0410"
        case "0500": "0510"
        case "0800": "0810"
        default: nil
        }
    }
}
