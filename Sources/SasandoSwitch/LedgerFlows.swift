import Crypto
import Foundation
import Logging
import SasandoCore
import SasandoISO8583
import SasandoLedger
import SasandoSettlement

/// Inquiry, payment, reversal and reconciliation (spec §3-§5): validates what can be checked from the
/// message and the simulated biller, then lets the posting engine decide against the database and
/// record it. The business date comes from `BusinessDayService` (the `business_day` row).
public struct LedgerFlows: TransactionFlows {
    let engine: PostingEngine
    let configuration: SwitchConfiguration
    public let businessDay: BusinessDayService
    let settlement: SettlementService
    let logger: Logger

    /// The business day read from the engine's database (cached per this flows value).
    public init(engine: PostingEngine, configuration: SwitchConfiguration, logger: Logger, clock: @escaping @Sendable () -> Date = { Date() }) {
        self.init(engine: engine, businessDay: BusinessDayService(database: engine.database, cutoverHourWITA: configuration.cutoverHourWITA, clock: clock),
                  configuration: configuration, logger: logger)
    }

    public init(engine: PostingEngine, businessDay: BusinessDayService, configuration: SwitchConfiguration, logger: Logger) {
        self.engine = engine
        self.configuration = configuration
        self.logger = logger
        self.businessDay = businessDay
        self.settlement = SettlementService(database: businessDay.database)
    }

    public func process(_ request: ISOMessage, terminal: TerminalRecord) async -> ISOMessage? {
        let day: (date: CalendarDate, cuttingOver: Bool)
        do {
            day = try await currentDay()
        } catch {
            logger.warning("business day unavailable; answering 91", metadata: ["error": "\(error)"])
            return respond(to: request, code: .systemUnavailable, businessDate: businessDay.clockBusinessDate())
        }
        let businessDate = day.date
        if request.mti == "0500" {
            return await reconcile(request, terminal: terminal, businessDate: businessDate)
        }
        if day.cuttingOver {
            // Spec §3: financial requests during the cut-over get 90 (not recorded: a resend is decided afresh).
            return respond(to: request, code: .cutoverInProgress, businessDate: businessDate)
        }
        let posting: PostingRequest
        switch prepare(request, terminal: terminal, businessDate: businessDate) {
        case .answer(let code):
            // Recorded too: a duplicate gets the same answer, a reused key 94, a reversal of it 00.
            let kind: PostingRequest.Kind = request.mti != "0200" ? .reversal : request[3] == ISOMessageRules.inquiryProcessingCode ? .inquiry : .payment
            var declined = base(kind, request, terminal: terminal, businessDate: businessDate)
            declined.amount = max(0, declined.amount)
            declined.presetDecline = code
            posting = declined
        case .post(let prepared):
            posting = prepared
        }
        switch await engine.submit(posting) {
        case .answered(let response):
            return response
        case .unavailable(let reason):
            logger.warning("answering 91", metadata: ["reason": "\(reason)", "stan": "\(request[11] ?? "")"])
            return respond(to: request, code: .systemUnavailable, businessDate: businessDate)
        case .outcomeUnknown:
            // COMMIT was sent and its fate is unknown: no answer. The terminal times out and sends
            // 0400, which reverses the payment if it was committed and gets 25 if not.
            return nil
        }
    }

    enum Preparation {
        case answer(ResponseCode)
        case post(PostingRequest)
    }

    func prepare(_ request: ISOMessage, terminal: TerminalRecord, businessDate: CalendarDate) -> Preparation {
        // Field 42 names the payment point; a terminal may act only for its own.
        guard request[42] == terminal.merchantID else { return .answer(.notPermitted) }
        guard request[49] == "360" else { return .answer(.invalidTransaction) }
        // Spec §2: field 32 is Bank NTT's own code; 7, 12 and 13 real dates and times (else 30).
        guard request[32] == ISOMessageRules.acquiringInstitution else { return .answer(.invalidTransaction) }
        if ISOMessageRules.impossibleDateOrTime(in: request) != nil { return .answer(.formatError) }
        switch request.mti {
        case "0200":
            guard request[18] == "6021" else { return .answer(.invalidTransaction) }
            switch request[3] {
            case ISOMessageRules.inquiryProcessingCode: return prepareInquiry(request, terminal: terminal, businessDate: businessDate)
            case ISOMessageRules.paymentProcessingCode: return preparePayment(request, terminal: terminal, businessDate: businessDate)
            default: return .answer(.invalidTransaction)
            }
        case "0400", "0401":
            guard request[3] == ISOMessageRules.paymentProcessingCode else { return .answer(.invalidTransaction) }
            return prepareReversal(request, terminal: terminal, businessDate: businessDate)
        default:
            return .answer(.invalidTransaction)
        }
    }

    private func base(_ kind: PostingRequest.Kind, _ request: ISOMessage, terminal: TerminalRecord, businessDate: CalendarDate) -> PostingRequest {
        let respond: @Sendable (PostingDecision) -> ISOMessage = { [self] decision in
            self.response(to: request, decision: decision, businessDate: businessDate)
        }
        var p = PostingRequest(kind: kind, terminalID: terminal.terminalID, stan: request[11] ?? "", transmittedAt: request[7] ?? "",
                               digest: Self.digest(request), merchantID: terminal.merchantID, rrn: request[37] ?? "",
                               businessDate: businessDate, respond: respond)
        p.amount = Int64(request[4] ?? "") ?? 0
        if let field48 = request[48], let key = BillData.parseKey(field48) {
            p.product = key.product
            p.customerID = key.customerID
        }
        if let field28 = request[28], field28.count == 9, let fee = Int64(field28.dropFirst()) { p.fee = fee }
        return p
    }

    private func prepareInquiry(_ request: ISOMessage, terminal: TerminalRecord, businessDate: CalendarDate) -> Preparation {
        guard let field48 = request[48], field48.utf8.count == BillData.keyWidth, let key = BillData.parseKey(field48) else {
            return .answer(.formatError)
        }
        guard let product = Product(rawValue: key.product) else { return .answer(.productNotSupported) }
        var p = base(.inquiry, request, terminal: terminal, businessDate: businessDate)
        p.product = product.rawValue
        p.customerID = key.customerID
        switch SimulatedBiller.lookup(product: product, customerID: key.customerID, businessDate: businessDate) {
        case .declined(let code):
            return .answer(code)
        case .customer(_, let bills):
            p.prepaid = product.isPrepaid
            if product.isPrepaid, p.amount != 0, !Product.prepaidDenominations.contains(Sen(p.amount)) {
                return .answer(.invalidAmount)
            }
            p.billerBills = bills.map { BillLine(period: $0.period, amount: $0.amount.value) }
            return .post(p)
        }
    }

    private func preparePayment(_ request: ISOMessage, terminal: TerminalRecord, businessDate: CalendarDate) -> Preparation {
        guard let field48 = request[48], let bill = BillData.parse(field48) else { return .answer(.formatError) }
        guard let product = Product(rawValue: bill.product) else { return .answer(.productNotSupported) }
        guard let feeField = request[28], feeField.first == "D", let fee = Int64(feeField.dropFirst()) else { return .answer(.invalidAmount) }
        var p = base(.payment, request, terminal: terminal, businessDate: businessDate)
        p.product = product.rawValue
        p.customerID = bill.customerID
        p.fee = fee
        p.prepaid = product.isPrepaid
        switch SimulatedBiller.lookup(product: product, customerID: bill.customerID, businessDate: businessDate) {
        case .declined(let code):
            return .answer(code)
        case .customer(_, let bills):
            if product.isPrepaid {
                guard bill.bills.isEmpty, Product.prepaidDenominations.contains(Sen(p.amount)), fee == product.adminFee.value else {
                    return .answer(.invalidAmount)
                }
            } else {
                // Every bill paid must be one the biller issued, with its amount; totals must add up.
                let issued = Set(bills)
                guard !bill.bills.isEmpty, bill.bills.allSatisfy(issued.contains), Set(bill.bills).count == bill.bills.count,
                      p.amount == bill.total.value, fee == product.adminFee.value * Int64(bill.bills.count) else {
                    return .answer(.invalidAmount)
                }
                p.billerBills = bills.map { BillLine(period: $0.period, amount: $0.amount.value) }
                p.payingBills = bill.bills.map { BillLine(period: $0.period, amount: $0.amount.value) }
            }
        }
        p.payableCode = AccountCode.payable(product.payableKey(customerID: bill.customerID))
        p.payableBillerID = product.rawValue
        // Integer arithmetic only: the payment point's share rounds down, the bank keeps the rest.
        p.commission = fee * Int64(configuration.commissionBasisPoints) / 10_000
        return .post(p)
    }

    private func prepareReversal(_ request: ISOMessage, terminal: TerminalRecord, businessDate: CalendarDate) -> Preparation {
        guard let field90 = request[90], field90.utf8.count == 42 else { return .answer(.formatError) }
        let chars = Array(field90)
        let originalMTI = String(chars[0..<4])
        guard originalMTI == "0200" else { return .answer(.originalNotFound) }
        var p = base(.reversal, request, terminal: terminal, businessDate: businessDate)
        p.originalSTAN = String(chars[4..<10])
        p.originalTransmittedAt = String(chars[10..<20])
        return .post(p)
    }

    // MARK: Reconciliation (0500 -> 0510)

    /// Spec §3: the switch's totals for the terminal and business date (field 15, MMDD: the year is
    /// that of the latest such date not after the current business date) in 76, 77, 88, 89, 97;
    /// `00` when all five equal the terminal's, `95` otherwise. Read-only: nothing is recorded, a
    /// resend is answered afresh. Field 15 of the response echoes the reconciled date.
    func reconcile(_ request: ISOMessage, terminal: TerminalRecord, businessDate: CalendarDate) async -> ISOMessage {
        guard request[42] == terminal.merchantID else { return respond(to: request, code: .notPermitted, businessDate: businessDate) }
        guard let field15 = request[15], let date = inferBusinessDate(mmdd: field15, current: businessDate) else {
            return respond(to: request, code: .formatError, businessDate: businessDate)
        }
        let totals: TerminalTotals?
        do {
            totals = try await settlement.database.withDeadline { [settlement] in
                // Spec §3: a key another request already used is 94, whatever the message type.
                if try await settlement.isRecordedKey(terminalID: terminal.terminalID, stan: request[11] ?? "", transmittedAt: request[7] ?? "") {
                    return nil
                }
                return try await settlement.terminalTotals(terminalID: terminal.terminalID, date: date)
            }
        } catch {
            logger.warning("reconciliation totals unavailable; answering 91", metadata: ["error": "\(error)"])
            return respond(to: request, code: .systemUnavailable, businessDate: businessDate)
        }
        guard let totals else { return respond(to: request, code: .duplicateDifferentContent, businessDate: businessDate) }
        let ours = Self.reconciliationFields(totals)
        let matches = Self.reconciliationMatches(request: request, ours: ours)
        var response = respond(to: request, code: matches ? .approved : .reconciliationMismatch, businessDate: date)
        for (field, value) in ours { response[field] = value }
        return response
    }

    /// Fields 76, 77, 88, 89, 97 of the switch's totals.
    public static func reconciliationFields(_ t: TerminalTotals) -> [Int: String] {
        [76: zeroPadded(t.payments, width: 10), 77: zeroPadded(t.reversals, width: 10),
         88: zeroPadded(t.paymentAmount, width: 16), 89: zeroPadded(t.reversalAmount, width: 16),
         97: (t.net < 0 ? "C" : "D") + zeroPadded(abs(t.net), width: 16)]
    }

    /// Numeric comparison (leading zeros and the sign of a zero net do not matter); `C` is negative.
    public static func reconciliationMatches(request: ISOMessage, ours: [Int: String]) -> Bool {
        func value(_ text: String?, signed: Bool) -> Int64? {
            guard var t = text else { return nil }
            var sign: Int64 = 1
            if signed {
                guard let first = t.first, first == "D" || first == "C" else { return nil }
                sign = first == "C" ? -1 : 1
                t.removeFirst()
            }
            guard !t.isEmpty, t.allSatisfy({ $0.isASCII && $0.isNumber }), let v = Int64(t) else { return nil }
            return sign * v
        }
        for field in [76, 77, 88, 89, 97] {
            let theirs = value(request[field], signed: field == 97)
            guard let theirs, theirs == value(ours[field], signed: field == 97) else { return false }
        }
        return true
    }

    // MARK: Responses

    /// SHA-256 of the request as sent, MAC excluded; a 0401 counts as its 0400 (a repeat is the
    /// same request, spec §3).
    static func digest(_ request: ISOMessage) -> [UInt8] {
        var canonical = request
        canonical[64] = nil
        canonical[128] = nil
        if canonical.mti == "0401" { canonical.mti = "0400" }
        let body = (try? ISO8583Codec.encode(canonical)) ?? Array(canonical.redactedDescription.utf8)
        return Array(SHA256.hash(data: body))
    }

    func respond(to request: ISOMessage, code: ResponseCode, businessDate: CalendarDate) -> ISOMessage {
        var response = ISOMessageRules.answer(to: request, mti: ISOMessageRules.responseMTI(for: request.mti) ?? request.mti, code: code.rawValue)
        response[15] = businessDate.mmdd
        return response
    }

    /// The business day a request is decided on: the cached one (polled every
    /// `businessDayPollMilliseconds`), else read within the database wait bound.
    func currentDay() async throws -> (date: CalendarDate, cuttingOver: Bool) {
        if let cached = businessDay.fresh() { return cached }
        return try await businessDay.database.withDeadline { [businessDay] in try await businessDay.current() }
    }

    public func businessDateForAnswers() async -> CalendarDate {
        (try? await currentDay())?.date ?? businessDay.clockBusinessDate()
    }

    func response(to request: ISOMessage, decision: PostingDecision, businessDate: CalendarDate) -> ISOMessage {
        switch decision {
        case .declined(let code):
            return respond(to: request, code: code, businessDate: businessDate)
        case .approved(let transactionID, let outstanding):
            var response = respond(to: request, code: .approved, businessDate: businessDate)
            guard request.mti == "0200", let field48 = request[48], let key = BillData.parseKey(field48),
                  let product = Product(rawValue: key.product) else { return response }
            if request[3] == ISOMessageRules.inquiryProcessingCode {
                let name = SimulatedBiller.customerName(product: product, customerID: key.customerID)
                let bills = outstanding.map { Bill(period: $0.period, amount: Sen($0.amount)) }
                let data = BillData(product: product.rawValue, customerID: key.customerID, customerName: name, bills: bills)
                response[48] = data.encoded
                let amount = product.isPrepaid ? (Int64(request[4] ?? "") ?? 0) : data.total.value
                response[4] = zeroPadded(amount, width: 12)
                let fee = product.isPrepaid ? product.adminFee.value : product.adminFee.value * Int64(bills.count)
                response[28] = "D" + zeroPadded(fee, width: 8)
            } else {
                response[38] = zeroPadded(transactionID % 1_000_000, width: 6)
                let reference = product.isPrepaid
                    ? SimulatedBiller.prepaidToken(transactionID: transactionID, meter: key.customerID)
                    : "\(product.rawValue)-\(businessDate.mmdd)-\(transactionID)"
                response[48] = BillData.paymentResponse(request: field48, billerReference: reference)
            }
            return response
        }
    }
}
