import SasandoCore

/// The settlement report of one business date (spec §3, issue 5): what the console, the CLI
/// (`sasando report settlement`) and the CSV/PDF downloads all show. Every amount is sen.
public struct SettlementReport: Sendable, Codable, Equatable {
    public struct BillerLine: Sendable, Codable, Equatable {
        public var billerID: String          // product code, or IPL:<estate>
        public var payableAccount: String    // PAY:...
        public var payments: Int
        public var paymentAmount: Int64      // bills paid (field 4), sen
        public var reversals: Int
        public var reversalAmount: Int64
        public var netPayable: Int64         // paymentAmount - reversalAmount
    }

    public struct PaymentPointLine: Sendable, Codable, Equatable {
        public var merchantID: String
        public var name: String
        public var payments: Int
        public var debits: Int64             // amount + fee of approved payments, sen
        public var reversals: Int
        public var reversalDebits: Int64     // amount + fee of reversed payments
        public var commission: Int64         // commission earned net of reversals
        public var depositBalance: Int64     // now
    }

    public struct TrialBalanceLine: Sendable, Codable, Equatable {
        public var account: String
        public var kind: String
        public var balance: Int64            // credits - debits
    }

    public var businessDate: CalendarDate
    /// Nil until `sasando settle` has run for the date.
    public var settledAt: String?
    public var settledBy: String?
    public var billers: [BillerLine]
    public var paymentPoints: [PaymentPointLine]
    public var trialBalance: [TrialBalanceLine]
    /// Sum of trialBalance balances; always 0 for a sound ledger.
    public var trialBalanceTotal: Int64

    public init(businessDate: CalendarDate, settledAt: String?, settledBy: String?, billers: [BillerLine],
                paymentPoints: [PaymentPointLine], trialBalance: [TrialBalanceLine], trialBalanceTotal: Int64) {
        self.businessDate = businessDate
        self.settledAt = settledAt
        self.settledBy = settledBy
        self.billers = billers
        self.paymentPoints = paymentPoints
        self.trialBalance = trialBalance
        self.trialBalanceTotal = trialBalanceTotal
    }
}
