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

        public init(billerID: String, payableAccount: String, payments: Int, paymentAmount: Int64, reversals: Int, reversalAmount: Int64, netPayable: Int64) {
            self.billerID = billerID; self.payableAccount = payableAccount; self.payments = payments
            self.paymentAmount = paymentAmount; self.reversals = reversals; self.reversalAmount = reversalAmount; self.netPayable = netPayable
        }
    }

    public struct PaymentPointLine: Sendable, Codable, Equatable {
        public var merchantID: String
        public var name: String
        public var payments: Int
        public var debits: Int64             // amount + fee of approved payments, sen
        public var reversals: Int
        public var reversalDebits: Int64     // amount + fee of reversed payments
        public var commission: Int64         // commission earned net of reversals
        public var depositBalance: Int64     // at the close of the date
        public var netDebits: Int64 { debits - reversalDebits }

        public init(merchantID: String, name: String, payments: Int, debits: Int64, reversals: Int, reversalDebits: Int64,
                    commission: Int64, depositBalance: Int64) {
            self.merchantID = merchantID; self.name = name; self.payments = payments; self.debits = debits
            self.reversals = reversals; self.reversalDebits = reversalDebits; self.commission = commission; self.depositBalance = depositBalance
        }
    }

    public struct TrialBalanceLine: Sendable, Codable, Equatable {
        public var account: String
        public var kind: String
        public var balance: Int64            // credits - debits

        public init(account: String, kind: String, balance: Int64) {
            self.account = account; self.kind = kind; self.balance = balance
        }
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
    /// Whole-date totals (sums of the lines above, plus the bank's net fee income).
    public var totals: Totals
    /// The settlement batch, once settled: its id and the totals it recorded (they equal `totals`).
    public var settlementBatchID: Int64?
    /// Whether the date may still change: true for the current (open) business date.
    public var isOpenDate: Bool
    /// A date the switch has not reached yet (after the current business date): nothing on it.
    public var isFutureDate: Bool = false
    /// Bills of this date's payments reversed by journals of later dates. The settlement took them
    /// out of this date's net payable, but their journals are dated later: the trial balance at
    /// this close still shows them on the payables, until those dates close.
    public var reversedLaterSen: Int64 = 0

    public struct Totals: Sendable, Codable, Equatable {
        public var payments: Int
        public var paymentAmount: Int64       // bills (field 4) of the date's approved payments
        public var reversals: Int
        public var reversalAmount: Int64      // bills of those of them reversed
        public var netPayable: Int64          // owed to billers: paymentAmount - reversalAmount
        public var debits: Int64              // taken from deposits: bills + fees
        public var reversalDebits: Int64
        public var commission: Int64          // net, to payment points
        public var feeIncome: Int64           // net, the bank's share of fees
        public init(payments: Int = 0, paymentAmount: Int64 = 0, reversals: Int = 0, reversalAmount: Int64 = 0, netPayable: Int64 = 0,
                    debits: Int64 = 0, reversalDebits: Int64 = 0, commission: Int64 = 0, feeIncome: Int64 = 0) {
            self.payments = payments; self.paymentAmount = paymentAmount; self.reversals = reversals
            self.reversalAmount = reversalAmount; self.netPayable = netPayable; self.debits = debits
            self.reversalDebits = reversalDebits; self.commission = commission; self.feeIncome = feeIncome
        }
    }

    public init(businessDate: CalendarDate, settledAt: String?, settledBy: String?, billers: [BillerLine],
                paymentPoints: [PaymentPointLine], trialBalance: [TrialBalanceLine], trialBalanceTotal: Int64) {
        self.businessDate = businessDate
        self.settledAt = settledAt
        self.settledBy = settledBy
        self.billers = billers
        self.paymentPoints = paymentPoints
        self.trialBalance = trialBalance
        self.trialBalanceTotal = trialBalanceTotal
        self.totals = Totals(
            payments: billers.reduce(0) { $0 + $1.payments }, paymentAmount: billers.reduce(0) { $0 + $1.paymentAmount },
            reversals: billers.reduce(0) { $0 + $1.reversals }, reversalAmount: billers.reduce(0) { $0 + $1.reversalAmount },
            netPayable: billers.reduce(0) { $0 + $1.netPayable },
            debits: paymentPoints.reduce(0) { $0 + $1.debits }, reversalDebits: paymentPoints.reduce(0) { $0 + $1.reversalDebits },
            commission: paymentPoints.reduce(0) { $0 + $1.commission }, feeIncome: 0)
        self.settlementBatchID = nil
        self.isOpenDate = false
    }
}

extension SettlementReport.Totals {
    /// Field by field: the totals of two sets of journals (dates of a period summary).
    public static func + (a: Self, b: Self) -> Self {
        .init(payments: a.payments + b.payments, paymentAmount: a.paymentAmount + b.paymentAmount, reversals: a.reversals + b.reversals,
              reversalAmount: a.reversalAmount + b.reversalAmount, netPayable: a.netPayable + b.netPayable, debits: a.debits + b.debits,
              reversalDebits: a.reversalDebits + b.reversalDebits, commission: a.commission + b.commission, feeIncome: a.feeIncome + b.feeIncome)
    }
}
