import SasandoCore

/// What the database said, read (and locked) at the start of a batch's transaction.
struct BatchSnapshot: Sendable {
    struct Existing: Sendable { var digest: [UInt8]; var responseBody: [UInt8] }
    struct TerminalState: Sendable { var active: Bool; var merchantID: String; var dailyLimit: Int64 }
    struct Original: Sendable {
        var id: Int64
        var kind: String
        var responseCode: String
        var journalID: Int64?
        var amount: Int64
        var fee: Int64
        var merchantID: String
        var businessDate: String
        var reversed: Bool
        var postings: [(accountID: Int64, side: String, amount: Int64)]
    }

    var existing: [String: Existing] = [:]
    var terminals: [String: TerminalState] = [:]
    var dailyCollected: [String: Int64] = [:]
    /// Locked account rows: id by code, and balances of deposits.
    var accountIDs: [String: Int64] = [:]
    var depositBalances: [Int64: Int64] = [:]
    /// "product|customer|period"
    var paidBills: Set<String> = []
    /// Originals of reversals by key "terminal|stan|time".
    var originals: [String: Original] = [:]
    /// Keys "terminal|stan|time" that a recorded reversal already names: a payment arriving with one
    /// came after its own reversal (answered `25`), and is declined, never posted.
    var reversedBeforeArrival: Set<String> = []
    /// Business dates already settled (reversals of them get `12`).
    var settledDates: Set<String> = []
    /// Business dates being settled right now, by another session (`SettlementLock`): a reversal of
    /// one of their payments gets `91`, not recorded, and the terminal's repeat is decided afresh.
    var datesBeingSettled: Set<String> = []
    /// The `business_day` row (read FOR SHARE): date `YYYY-MM-DD` and whether it is open. Nil when
    /// the row does not exist yet (nothing is decided then: `90`).
    var businessDay: (date: String, open: Bool)?
    /// Ids taken from the sequences for this batch's rows: one per request (transactions) and one
    /// per payment or reversal (journals); those left unused are gaps.
    var transactionIDs: [Int64] = []
    var journalIDs: [Int64] = []
}

/// The decisions of one batch and the rows they write. Pure: built from requests and a snapshot.
struct BatchPlan: Sendable {
    enum Outcome: Sendable {
        /// A new transaction row with this decision (index into `rows`).
        case recorded(row: Int)
        /// Same key, same content, committed earlier: its stored response.
        case duplicate(responseBody: [UInt8])
        /// Same key as an earlier request of this batch with the same content.
        case sameAsInBatch(Int)
        /// Same key, other content: `94`, nothing recorded (the key is taken).
        case conflictingDuplicate
        /// Answered with this code and NOT recorded, so the same request sent again later is decided
        /// afresh: `90` while the business day is cutting over or has rolled past the request's date;
        /// `91` for a reversal of a payment whose date is being settled right now.
        case notRecorded(ResponseCode)
        /// A reversal whose original payment is in this same batch: decided in the next batch,
        /// once the original is committed (a terminal reverses only after a timeout, so rare).
        case nextBatch
    }

    struct Row: Sendable {
        var request: Int
        var decision: PostingDecision
        var journal: Int?          // index into journals
        var originalID: Int64?
        var payingBills: [BillLine] = []
    }

    struct Journal: Sendable {
        var kind: String
        var businessDate: String
        var reversesJournalID: Int64?
        var postings: [(accountID: Int64, side: String, amount: Int64)]
    }

    var outcomes: [Outcome] = []
    var rows: [Row] = []
    var journals: [Journal] = []
    var paidBillDeletes: [Int64] = []      // original transaction IDs whose bills become unpaid
    var dailyDeltas: [String: [String: Int64]] = [:]  // business date -> merchant -> delta
}

enum BatchDecider {
    static func billKey(_ product: String?, _ customer: String?, _ period: String) -> String {
        "\(product ?? "")|\(customer ?? "")|\(period)"
    }

    static func decide(_ requests: [PostingRequest], snapshot: BatchSnapshot) -> BatchPlan {
        var plan = BatchPlan()
        var s = snapshot
        var firstByKey: [String: Int] = [:]

        for (i, r) in requests.enumerated() {
            if let existing = s.existing[r.key] {
                plan.outcomes.append(existing.digest == r.digest ? .duplicate(responseBody: existing.responseBody) : .conflictingDuplicate)
                continue
            }
            if let first = firstByKey[r.key] {
                plan.outcomes.append(requests[first].digest == r.digest ? .sameAsInBatch(first) : .conflictingDuplicate)
                continue
            }
            if let day = s.businessDay, day.open, day.date == r.businessDate.description {
                // The business day is open with the date this request was prepared for.
            } else {
                plan.outcomes.append(.notRecorded(.cutoverInProgress))
                continue
            }
            firstByKey[r.key] = i
            var row = BatchPlan.Row(request: i, decision: .declined(.systemMalfunction), journal: nil)
            if let code = r.presetDecline {
                row.decision = .declined(code)
                plan.outcomes.append(.recorded(row: plan.rows.count))
                plan.rows.append(row)
                continue
            }
            switch r.kind {
            case .inquiry:
                row.decision = decideInquiry(r, s)
            case .payment:
                row.decision = decidePayment(r, &s, &plan, &row)
            case .reversal:
                let originalKey = "\(r.terminalID)|\(r.originalSTAN ?? "")|\(r.originalTransmittedAt ?? "")"
                if firstByKey[originalKey] != nil {
                    firstByKey[r.key] = nil
                    plan.outcomes.append(.nextBatch)
                    continue
                }
                if let original = s.originals[originalKey], original.kind == "payment", original.journalID != nil, !original.reversed,
                   s.datesBeingSettled.contains(original.businessDate) {
                    plan.outcomes.append(.notRecorded(.systemUnavailable))
                    continue
                }
                row.decision = decideReversal(r, &s, &plan, &row)
            }
            plan.outcomes.append(.recorded(row: plan.rows.count))
            plan.rows.append(row)
        }
        return plan
    }

    static func decideInquiry(_ r: PostingRequest, _ s: BatchSnapshot) -> PostingDecision {
        guard let terminal = s.terminals[r.terminalID], terminal.active, terminal.merchantID == r.merchantID else {
            return .declined(.doNotHonour)
        }
        if r.prepaid { return .approved(transactionID: 0, outstanding: []) }
        let outstanding = r.billerBills.filter { !s.paidBills.contains(billKey(r.product, r.customerID, $0.period)) }
        return outstanding.isEmpty ? .declined(.billAlreadyPaid) : .approved(transactionID: 0, outstanding: outstanding)
    }

    static func decidePayment(_ r: PostingRequest, _ s: inout BatchSnapshot, _ plan: inout BatchPlan, _ row: inout BatchPlan.Row) -> PostingDecision {
        guard let terminal = s.terminals[r.terminalID], terminal.active, terminal.merchantID == r.merchantID else {
            return .declined(.doNotHonour)
        }
        // The terminal was told its reversal found nothing (25): taking the money now would debit a
        // payment point whose customer got it back. 12, invalid transaction.
        if s.reversedBeforeArrival.contains(r.key) { return .declined(.invalidTransaction) }
        if !r.prepaid {
            let outstanding = r.billerBills.filter { !s.paidBills.contains(billKey(r.product, r.customerID, $0.period)) }
            if outstanding.isEmpty || r.payingBills.contains(where: { s.paidBills.contains(billKey(r.product, r.customerID, $0.period)) }) {
                return .declined(.billAlreadyPaid)
            }
            if Set(outstanding) != Set(r.payingBills) { return .declined(.invalidAmount) }
        }
        let total = r.amount + r.fee
        let depositCode = "DEP:\(r.merchantID)"
        guard let depositID = s.accountIDs[depositCode], let balance = s.depositBalances[depositID],
              let payableID = s.accountIDs[r.payableCode], let feeID = s.accountIDs["BANK:FEE"],
              let commissionID = s.accountIDs["COM:\(r.merchantID)"] else {
            return .declined(.systemMalfunction)
        }
        guard balance >= total else { return .declined(.insufficientDeposit) }
        let date = r.businessDate.description
        let collected = s.dailyCollected[r.merchantID + "|" + date] ?? 0
        guard collected + total <= terminal.dailyLimit else { return .declined(.exceedsDailyLimit) }

        s.depositBalances[depositID] = balance - total
        s.dailyCollected[r.merchantID + "|" + date] = collected + total
        plan.dailyDeltas[date, default: [:]][r.merchantID, default: 0] += total
        for bill in r.payingBills { s.paidBills.insert(billKey(r.product, r.customerID, bill.period)) }
        var postings: [(accountID: Int64, side: String, amount: Int64)] = [(depositID, "D", total)]
        if r.amount > 0 { postings.append((payableID, "C", r.amount)) }
        if r.fee - r.commission > 0 { postings.append((feeID, "C", r.fee - r.commission)) }
        if r.commission > 0 { postings.append((commissionID, "C", r.commission)) }
        row.journal = plan.journals.count
        row.payingBills = r.payingBills
        plan.journals.append(.init(kind: "payment", businessDate: date, reversesJournalID: nil, postings: postings))
        return .approved(transactionID: 0, outstanding: [])
    }

    static func decideReversal(_ r: PostingRequest, _ s: inout BatchSnapshot, _ plan: inout BatchPlan, _ row: inout BatchPlan.Row) -> PostingDecision {
        let originalKey = "\(r.terminalID)|\(r.originalSTAN ?? "")|\(r.originalTransmittedAt ?? "")"
        guard var original = s.originals[originalKey], original.kind == "payment" else {
            // Told 25: the payment, should it come later in this batch, must not be taken (12).
            s.reversedBeforeArrival.insert(originalKey)
            return .declined(.originalNotFound)
        }
        row.originalID = original.id
        guard original.responseCode == "00", let journalID = original.journalID else {
            // Declined original: nothing to reverse, accepted.
            return .approved(transactionID: 0, outstanding: [])
        }
        if original.reversed { return .approved(transactionID: 0, outstanding: []) }
        if s.settledDates.contains(original.businessDate) { return .declined(.invalidTransaction) }
        guard r.amount == original.amount else { return .declined(.invalidAmount) }
        let mirrored = original.postings.map { (accountID: $0.accountID, side: $0.side == "D" ? "C" : "D", amount: $0.amount) }
        // Mirror only if every account can take it (a deposit never goes below zero).
        for p in mirrored where p.side == "D" {
            if let balance = s.depositBalances[p.accountID], balance < p.amount { return .declined(.insufficientDeposit) }
        }
        for p in mirrored {
            if let balance = s.depositBalances[p.accountID] {
                s.depositBalances[p.accountID] = balance + (p.side == "C" ? p.amount : -p.amount)
            }
        }
        original.reversed = true
        s.originals[originalKey] = original
        let total = original.amount + original.fee
        plan.dailyDeltas[original.businessDate, default: [:]][original.merchantID, default: 0] -= total
        plan.paidBillDeletes.append(original.id)
        row.journal = plan.journals.count
        plan.journals.append(.init(kind: "reversal", businessDate: r.businessDate.description, reversesJournalID: journalID, postings: mirrored))
        return .approved(transactionID: 0, outstanding: [])
    }
}
