import SasandoCore
import SasandoISO8583

/// One bill line as the ledger sees it.
public struct BillLine: Sendable, Hashable {
    public var period: String
    public var amount: Int64
    public init(period: String, amount: Int64) {
        self.period = period
        self.amount = amount
    }
}

/// A terminal request, validated by the flows, that the posting engine decides and records in one
/// database transaction with its batch neighbours.
public struct PostingRequest: Sendable {
    public enum Kind: String, Sendable { case inquiry, payment, reversal }

    public var kind: Kind
    // Idempotency key (41, 11, 7) and what the content was.
    public var terminalID: String
    public var stan: String
    public var transmittedAt: String
    public var digest: [UInt8]
    public var merchantID: String
    public var rrn: String
    public var businessDate: CalendarDate
    public var product: String?
    public var customerID: String?
    /// Field 4 and the fee (field 28), sen.
    public var amount: Int64 = 0
    public var fee: Int64 = 0
    /// Postpaid: every bill the biller has for the customer as of the business date (paid or not).
    public var billerBills: [BillLine] = []
    /// Payment: the bills the terminal pays (field 48).
    public var payingBills: [BillLine] = []
    public var prepaid = false
    /// Payment postings: the payable credited and the commission share of the fee.
    public var payableCode: String = ""
    public var payableBillerID: String = ""
    public var commission: Int64 = 0
    /// Reversal: the original's STAN and field 7 (field 90).
    public var originalSTAN: String?
    public var originalTransmittedAt: String?
    /// Declined before posting (validation in the flows): recorded with this code, nothing posted,
    /// so duplicates and reversals of it are answered like any other transaction's.
    public var presetDecline: ResponseCode?
    /// Builds the response for a decision; the engine stores it (MAC excluded) before COMMIT.
    public var respond: @Sendable (PostingDecision) -> ISOMessage

    public init(kind: Kind, terminalID: String, stan: String, transmittedAt: String, digest: [UInt8], merchantID: String,
                rrn: String, businessDate: CalendarDate, respond: @escaping @Sendable (PostingDecision) -> ISOMessage) {
        self.kind = kind
        self.terminalID = terminalID
        self.stan = stan
        self.transmittedAt = transmittedAt
        self.digest = digest
        self.merchantID = merchantID
        self.rrn = rrn
        self.businessDate = businessDate
        self.respond = respond
    }

    var key: String { "\(terminalID)|\(stan)|\(transmittedAt)" }
}

public enum PostingDecision: Sendable, Equatable {
    /// Inquiry: `outstanding` bills; payment: posted; reversal: posted or nothing to post.
    case approved(transactionID: Int64, outstanding: [BillLine])
    case declined(ResponseCode)
}

public enum PostingResult: Sendable, Equatable {
    /// Committed (or found committed earlier): send this response.
    case answered(ISOMessage)
    /// Nothing was committed: answer `91` (database down or the switch saturated).
    case unavailable(String)
    /// COMMIT was sent but its outcome is unknown: do not answer. The terminal times out and
    /// reverses, and the reversal finds the payment if it was committed.
    case outcomeUnknown
}

public enum PostingLimits {
    /// Retries of a batch that lost a race with another switch instance (unique key taken, bill
    /// paid meanwhile); the database decides, the retry re-reads.
    public static let batchConflictRetriesMax = 3
    /// Account ids cached by code (payables, deposits, commissions: about 11,000 in the demo).
    public static let accountIDCacheEntriesMax = 100_000
}
