import SasandoCore
import SasandoISO8583
@testable import SasandoLedger
import Testing

/// A reversal's decision as a value: the original's date settled, being settled, or open.
@Suite("Batch decider: reversals and the settlement of their original's date")
struct BatchDeciderTests {
    static let paidOn = CalendarDate(year: 2026, month: 11, day: 30)
    static let today = CalendarDate(year: 2026, month: 12, day: 1)
    static let original = BatchSnapshot.Original(
        id: 41, kind: "payment", responseCode: "00", journalID: 7, amount: 250_000, fee: 2_500, merchantID: "NTT000000000001",
        businessDate: paidOn.description, reversed: false,
        postings: [(accountID: 10, side: "D", amount: 252_500), (accountID: 20, side: "C", amount: 250_000),
                   (accountID: 1, side: "C", amount: 2_500)])

    static func reversal() -> PostingRequest {
        var r = PostingRequest(kind: .reversal, terminalID: "TRM00001", stan: "000124", transmittedAt: "1201083015",
                               digest: [1], merchantID: "NTT000000000001", rrn: "251201000124", businessDate: today,
                               respond: { _ in ISOMessage(mti: "0410", fields: [:]) })
        r.amount = 250_000
        r.originalSTAN = "000123"
        r.originalTransmittedAt = "1130083015"
        return r
    }

    static func snapshot(original: BatchSnapshot.Original = original) -> BatchSnapshot {
        var s = BatchSnapshot()
        s.businessDay = (today.description, true)
        s.originals["TRM00001|000123|1130083015"] = original
        s.depositBalances[10] = 1_000_000
        return s
    }

    @Test func anOpenDatesPaymentIsReversedWithMirroredPostings() {
        let plan = BatchDecider.decide([Self.reversal()], snapshot: Self.snapshot())
        guard case .recorded(let row) = plan.outcomes.first else { Issue.record("\(plan.outcomes)"); return }
        #expect(plan.rows[row].decision == .approved(transactionID: 0, outstanding: []))
        #expect(plan.journals.count == 1)
        #expect(plan.journals.first?.reversesJournalID == 7)
        #expect(plan.journals.first?.postings.map(\.side) == ["C", "D", "D"])
    }

    @Test func aSettledDatesPaymentGets12AndNothingPosted() {
        var s = Self.snapshot()
        s.settledDates = [Self.paidOn.description]
        let plan = BatchDecider.decide([Self.reversal()], snapshot: s)
        guard case .recorded(let row) = plan.outcomes.first else { Issue.record("\(plan.outcomes)"); return }
        #expect(plan.rows[row].decision == .declined(.invalidTransaction))
        #expect(plan.journals.isEmpty)
    }

    /// Being settled right now: 91 and no row, so the terminal's repeat is decided afresh.
    @Test func aDateBeingSettledGets91NotRecorded() {
        var s = Self.snapshot()
        s.datesBeingSettled = [Self.paidOn.description]
        let plan = BatchDecider.decide([Self.reversal()], snapshot: s)
        guard case .notRecorded(let code) = plan.outcomes.first else { Issue.record("\(plan.outcomes)"); return }
        #expect(code == .systemUnavailable)
        #expect(plan.rows.isEmpty)
        #expect(plan.journals.isEmpty)
        #expect(plan.paidBillDeletes.isEmpty)
    }

    /// Nothing to reverse (a declined original) does not depend on the settlement: `00` at once.
    @Test func aDeclinedOriginalIsAnsweredEvenWhileItsDateIsBeingSettled() {
        var declined = Self.original
        declined.responseCode = "51"
        declined.journalID = nil
        var s = Self.snapshot(original: declined)
        s.datesBeingSettled = [Self.paidOn.description]
        let plan = BatchDecider.decide([Self.reversal()], snapshot: s)
        guard case .recorded(let row) = plan.outcomes.first else { Issue.record("\(plan.outcomes)"); return }
        #expect(plan.rows[row].decision == .approved(transactionID: 0, outstanding: []))
        #expect(plan.journals.isEmpty)
    }

    /// A reversal ahead of its own payment in one batch: the reversal finds nothing (25), so the
    /// payment behind it must not be taken (12); a review saw it approved and posted while its
    /// terminal had been told 25. In the other order the reversal waits for the next batch.
    @Test func aReversalAheadOfItsPaymentInOneBatchGets25AndThePayment12() {
        var payment = PostingRequest(kind: .payment, terminalID: "TRM00001", stan: "000123", transmittedAt: "1130083015",
                                     digest: [2], merchantID: "NTT000000000001", rrn: "251130000123", businessDate: Self.today,
                                     respond: { _ in ISOMessage(mti: "0210", fields: [:]) })
        payment.amount = 250_000
        payment.fee = 2_500
        payment.prepaid = true
        payment.payableCode = "PAY:PLNPRE"
        var s = BatchSnapshot()
        s.businessDay = (Self.today.description, true)
        s.terminals["TRM00001"] = .init(active: true, merchantID: "NTT000000000001", dailyLimit: 10_000_000)
        s.accountIDs = ["DEP:NTT000000000001": 10, "PAY:PLNPRE": 20, "BANK:FEE": 1, "COM:NTT000000000001": 30]
        s.depositBalances[10] = 1_000_000

        let reversalFirst = BatchDecider.decide([Self.reversal(), payment], snapshot: s)
        let decisions = reversalFirst.outcomes.map { outcome -> PostingDecision? in
            if case .recorded(let row) = outcome { return reversalFirst.rows[row].decision } else { return nil }
        }
        #expect(decisions == [.declined(.originalNotFound), .declined(.invalidTransaction)])
        #expect(reversalFirst.journals.isEmpty)

        let paymentFirst = BatchDecider.decide([payment, Self.reversal()], snapshot: s)
        guard case .recorded(let row) = paymentFirst.outcomes.first else { Issue.record("\(paymentFirst.outcomes)"); return }
        #expect(paymentFirst.rows[row].decision == .approved(transactionID: 0, outstanding: []))
        guard case .nextBatch = paymentFirst.outcomes.last else { Issue.record("\(paymentFirst.outcomes)"); return }
    }
}
