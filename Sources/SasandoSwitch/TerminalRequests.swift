import Foundation
import SasandoCore
import SasandoISO8583
import SasandoSettlement
import Synchronization

/// Builds requests as a terminal sends them (used by the `sasando terminal` CLI, the tests and the
/// load generator). STANs are per terminal and wrap at 999999.
public final class TerminalRequests: Sendable {
    public let terminalID: String
    public let merchantID: String
    private let stanCounter: Mutex<Int>
    public static let acquirerID = "129"

    public init(terminalID: String, merchantID: String, firstSTAN: Int = Int.random(in: 1...900_000)) {
        self.terminalID = terminalID
        self.merchantID = merchantID
        self.stanCounter = Mutex(firstSTAN)
    }

    public func nextSTAN() -> String {
        let n = stanCounter.withLock { value -> Int in
            defer { value = value % 999_999 + 1 }
            return value
        }
        return zeroPadded(n, width: 6)
    }

    private func base(mti: String, now: Date) -> ISOMessage {
        var m = ISOMessage(mti: mti)
        m[7] = BusinessCalendar.transmissionDateTime(now)
        m[11] = nextSTAN()
        m[41] = terminalID
        return m
    }

    public func network(_ code: String, now: Date = Date()) -> ISOMessage {
        var m = base(mti: "0800", now: now)
        m[70] = code
        return m
    }

    public func signOn() -> ISOMessage { network("001") }
    public func signOff() -> ISOMessage { network("002") }
    public func echo() -> ISOMessage { network("301") }

    private func financial(mti: String, processingCode: String, amount: Int64, billData: String?, rrn: String?, now: Date) -> ISOMessage {
        var m = base(mti: mti, now: now)
        let local = BusinessCalendar.localTimeAndDate(now)
        m[3] = processingCode
        m[4] = zeroPadded(amount, width: 12)
        m[12] = local.time
        m[13] = local.date
        m[18] = "6021"
        m[32] = Self.acquirerID
        m[37] = rrn ?? String(terminalID.suffix(4)) + String(m[7]!.suffix(2)) + m[11]!
        m[42] = merchantID
        if let billData { m[48] = billData }
        m[49] = "360"
        return m
    }

    /// 0500 (spec §3): the terminal's own totals for business date `mmdd` (field 15).
    public func reconciliation(mmdd: String, totals: TerminalTotals, now: Date = Date()) -> ISOMessage {
        var m = base(mti: "0500", now: now)
        m[15] = mmdd
        m[42] = merchantID
        for (field, value) in LedgerFlows.reconciliationFields(totals) { m[field] = value }
        return m
    }

    /// 0200/380000: product an 8 + customer ID an 20.
    public func inquiry(product: String, customerID: String, amount: Int64 = 0, now: Date = Date()) -> ISOMessage {
        financial(mti: "0200", processingCode: ISOMessageRules.inquiryProcessingCode, amount: amount,
                  billData: BillData.inquiryKey(product: product, customerID: customerID), rrn: nil, now: now)
    }

    /// 0200/180000 from an inquiry response: field 48, 4 and 28 as the inquiry answered them.
    public func payment(from inquiryResponse: ISOMessage, now: Date = Date()) -> ISOMessage {
        var m = financial(mti: "0200", processingCode: ISOMessageRules.paymentProcessingCode,
                          amount: Int64(inquiryResponse[4] ?? "0") ?? 0, billData: inquiryResponse[48], rrn: nil, now: now)
        m[28] = inquiryResponse[28]
        return m
    }

    /// 0400 (or 0401 repeat) naming the original payment in field 90.
    public func reversal(of original: ISOMessage, repeat isRepeat: Bool = false, now: Date = Date()) -> ISOMessage {
        var m = base(mti: isRepeat ? "0401" : "0400", now: now)
        for field in [3, 4, 32, 37, 42, 49] { m[field] = original[field] }
        m[90] = Self.originalDataElements(of: original)
        return m
    }

    /// Field 90: original MTI 4, STAN 6, field 7 10, field 32 and 33 zero-filled to 11 each.
    public static func originalDataElements(of original: ISOMessage) -> String {
        func zeroFilled(_ value: String?, _ width: Int) -> String {
            let v = value ?? ""
            return String(repeating: "0", count: max(0, width - v.count)) + v
        }
        return original.mti + (original[11] ?? "000000") + (original[7] ?? "0000000000")
            + zeroFilled(original[32], 11) + zeroFilled(original[33], 11)
    }
}
