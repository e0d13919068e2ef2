import Foundation
import SasandoCore
import SasandoISO8583
import SasandoSettlement
import SasandoSwitch
import Testing

@Suite struct BusinessDateTests {
    @Test func field15YearIsTheLatestNotAfterTheBusinessDate() {
        let current = CalendarDate(year: 2025, month: 1, day: 2)
        #expect(inferBusinessDate(mmdd: "0102", current: current) == current)
        #expect(inferBusinessDate(mmdd: "0101", current: current) == CalendarDate(year: 2025, month: 1, day: 1))
        #expect(inferBusinessDate(mmdd: "1231", current: current) == CalendarDate(year: 2024, month: 12, day: 31))
        #expect(inferBusinessDate(mmdd: "0103", current: current) == CalendarDate(year: 2024, month: 1, day: 3))
        #expect(inferBusinessDate(mmdd: "0229", current: current) == CalendarDate(year: 2024, month: 2, day: 29))
        #expect(inferBusinessDate(mmdd: "0229", current: CalendarDate(year: 2024, month: 2, day: 28)) == CalendarDate(year: 2020, month: 2, day: 29))
        #expect(inferBusinessDate(mmdd: "1301", current: current) == nil)
        #expect(inferBusinessDate(mmdd: "0431", current: current) == nil)
        #expect(inferBusinessDate(mmdd: "12", current: current) == nil)
    }

    @Test func cutoverIsDueOnlyWhenTheClockRulePassedTheStoredDate() {
        let d = CalendarDate(year: 2025, month: 6, day: 10)
        #expect(!BusinessDayService.isCutoverDue(stored: d, clockDate: d))
        #expect(BusinessDayService.isCutoverDue(stored: d, clockDate: d.adding(days: 1)))
        // Staff cut over early: the stored date is ahead of the clock; nothing until the clock catches up.
        #expect(!BusinessDayService.isCutoverDue(stored: d.adding(days: 1), clockDate: d))
        // The clock rule itself: 22:59 WITA is still the day, 23:00 WITA the next.
        let before = ISO8601DateFormatter().date(from: "2025-06-10T14:59:59Z")!   // 22:59:59 WITA
        let after = ISO8601DateFormatter().date(from: "2025-06-10T15:00:00Z")!    // 23:00:00 WITA
        #expect(BusinessCalendar.businessDate(at: before) == d)
        #expect(BusinessCalendar.businessDate(at: after) == d.adding(days: 1))
    }

    @Test func cutoverNoticeIs0800With201AndTheNewDate() throws {
        let now = ISO8601DateFormatter().date(from: "2025-06-10T15:00:01Z")!
        let notice = BusinessDayScheduler.cutoverNotice(terminalID: "KPG00001", stan: 7, newDate: CalendarDate(year: 2025, month: 6, day: 11), now: now)
        let decoded = try ISO8583Codec.decode(try ISO8583Codec.encode(notice))
        #expect(decoded.mti == "0800")
        #expect(decoded[70] == "201")
        #expect(decoded[15] == "0611")
        #expect(decoded[11] == "000007")
        #expect(decoded[41] == "KPG00001")
        #expect(decoded[7] == "0610150001")
    }
}

@Suite struct ReconciliationFieldTests {
    @Test func fieldsAreFixedWidthAnd97IsTheNet() {
        let f = LedgerFlows.reconciliationFields(TerminalTotals(payments: 3, paymentAmount: 1_525_000, reversals: 1, reversalAmount: 250_000))
        #expect(f[76] == "0000000003")
        #expect(f[77] == "0000000001")
        #expect(f[88] == "0000000001525000")
        #expect(f[89] == "0000000000250000")
        #expect(f[97] == "D0000000001275000")
    }

    @Test func matchingIsNumericAndAnyDifferenceFails() {
        let ours = LedgerFlows.reconciliationFields(TerminalTotals(payments: 2, paymentAmount: 500, reversals: 0, reversalAmount: 0))
        var request = ISOMessage(mti: "0500")
        for (k, v) in ours { request[k] = v }
        #expect(LedgerFlows.reconciliationMatches(request: request, ours: ours))
        var off = request
        off[88] = "0000000000000501"
        #expect(!LedgerFlows.reconciliationMatches(request: off, ours: ours))
        off = request
        off[97] = "C0000000000000500"
        #expect(!LedgerFlows.reconciliationMatches(request: off, ours: ours))
        off = request
        off[76] = nil
        #expect(!LedgerFlows.reconciliationMatches(request: off, ours: ours))
        // A zero net matches with either sign.
        let zero = LedgerFlows.reconciliationFields(TerminalTotals(payments: 0, paymentAmount: 0, reversals: 0, reversalAmount: 0))
        var z = ISOMessage(mti: "0500")
        for (k, v) in zero { z[k] = v }
        z[97] = "C0000000000000000"
        #expect(LedgerFlows.reconciliationMatches(request: z, ours: zero))
    }
}

@Suite struct BillerFileTests {
    static func row(_ rrn: String, _ period: String, _ amount: Int64, terminal: String = "KPG00001") -> BillerFileRow {
        BillerFileRow(rrn: rrn, terminalID: terminal, customerID: "123456789012", period: period, amountSen: amount,
                      billerReference: "PLNPOST-0610-\(rrn)", timestamp: "2025-06-10T10:00:00+08:00")
    }

    @Test func renderAndParseRoundTrip() throws {
        var odd = Self.row("R1", "", 5_000_000)
        odd.billerReference = "has,comma \"and quote\"\nand a line break"
        let rows = [Self.row("R1", "202505", 12_500_000), Self.row("R1", "202504", 9_900_000), odd]
        let csv = BillerFile.render(rows)
        #expect(csv.hasPrefix("rrn,terminal_id,customer_id,period,amount_sen,biller_reference,timestamp\n"))
        #expect(try BillerFile.parse(csv) == rows)
        #expect(try BillerFile.parse(csv.replacingOccurrences(of: "\n", with: "\r\n")) == rows)
    }

    @Test func malformedFilesNameTheLine() {
        #expect(throws: BillerFileError.self) { try BillerFile.parse("") }
        #expect(throws: BillerFileError("line 1: header must be \(BillerFile.header)")) { try BillerFile.parse("a,b\n") }
        #expect(throws: BillerFileError("line 3: amount_sen 'x' is not a whole number of sen")) {
            try BillerFile.parse(BillerFile.header + "\nR1,T,C,202501,100,ref,ts\nR2,T,C,202501,x,ref,ts\n")
        }
        #expect(throws: BillerFileError("line 2: 3 fields, expected 7")) { try BillerFile.parse(BillerFile.header + "\na,b,c\n") }
    }

    @Test func compareReportsMissingOnEachSideAndMismatches() {
        let ours = [Self.row("R1", "202505", 100), Self.row("R1", "202504", 200), Self.row("R2", "", 300), Self.row("R3", "202505", 400)]
        var theirs = [Self.row("R1", "202505", 100), Self.row("R1", "202504", 250), Self.row("R3", "202505", 400), Self.row("R9", "202505", 50)]
        theirs.append(Self.row("R3", "202505", 400))   // duplicate
        let r = BillerReconciliation.compare(ours: ours, theirs: theirs)
        #expect(r.matched == 2)
        #expect(r.missingAtBiller.map(\.rrn) == ["R2"])
        #expect(r.missingAtSwitch.map(\.rrn) == ["R9"])
        #expect(r.amountMismatches.count == 1)
        #expect(r.amountMismatches.first?.key == "R1|KPG00001|202504")
        #expect(r.amountMismatches.first?.differenceSen == 50)
        #expect(r.duplicatesInTheirs.count == 1)
        #expect(!r.isClean)
        #expect(BillerReconciliation.compare(ours: ours, theirs: ours).isClean)
        // The right amount to the wrong customer, or under another biller reference, is a difference too.
        var wrongCustomer = Self.row("R1", "202505", 100)
        wrongCustomer.customerID = "999999999999"
        var wrongReference = Self.row("R1", "202504", 200)
        wrongReference.billerReference = "XXXX-OTHER"
        let details = BillerReconciliation.compare(ours: Array(ours.prefix(2)), theirs: [wrongCustomer, wrongReference])
        #expect(details.detailMismatches.map(\.fields) == [["customer_id"], ["biller_reference"]])
        #expect(details.matched == 0 && !details.isClean)
        #expect(details.renderText().contains("customer switch ********9012, biller ********9999"))
        // A spreadsheet drops leading zeros of digits-only RRNs and customer IDs: still the same rows.
        var zeros = Self.row("000116721983", "202505", 100)
        zeros.customerID = "012345678901"
        var excel = zeros
        excel.rrn = "116721983"
        excel.customerID = "12345678901"
        #expect(BillerReconciliation.compare(ours: [zeros], theirs: [excel]).isClean)
        // Same RRN on another terminal is another row.
        let other = BillerReconciliation.compare(ours: [Self.row("R1", "202505", 100)], theirs: [Self.row("R1", "202505", 100, terminal: "KPG00002")])
        #expect(other.missingAtBiller.count == 1 && other.missingAtSwitch.count == 1)
    }
}

@Suite struct SettlementReportRenderingTests {
    @Test func csvAndTotalsAddUp() throws {
        let report = SettlementReport(
            businessDate: CalendarDate(year: 2025, month: 6, day: 10), settledAt: nil, settledBy: nil,
            billers: [.init(billerID: "PLNPOST", payableAccount: "PAY:PLNPOST", payments: 2, paymentAmount: 1000, reversals: 1, reversalAmount: 400, netPayable: 600),
                      .init(billerID: "IPL:1234", payableAccount: "PAY:IPL:1234", payments: 1, paymentAmount: 300, reversals: 0, reversalAmount: 0, netPayable: 300)],
            paymentPoints: [.init(merchantID: "NTTPP0000000001", name: "Toko, Satu", payments: 3, debits: 1600, reversals: 1, reversalDebits: 650,
                                  commission: 75, depositBalance: 99)],
            trialBalance: [.init(account: "BANK:CLEARING", kind: "clearing", balance: -100), .init(account: "DEP:*", kind: "deposit", balance: 100)],
            trialBalanceTotal: 0)
        #expect(report.totals.netPayable == 900)
        #expect(report.totals.payments == 3)
        #expect(report.totals.commission == 75)
        let csv = report.renderCSV()
        #expect(csv.hasPrefix(SettlementReport.csvHeader + "\n"))
        #expect(csv.contains("biller,PLNPOST,PAY:PLNPOST,2,1000,1,400,600,,\n"))
        #expect(csv.contains("payment_point,NTTPP0000000001,\"Toko, Satu\",3,1600,1,650,950,75,99\n"))
        #expect(csv.contains("total_billers,2025-06-10,,3,1300,1,400,900,,\n"))
        let json = try report.renderJSON()
        let decoded = try JSONDecoder().decode(SettlementReport.self, from: Data(json.utf8))
        #expect(decoded == report)
        #expect(report.renderText().contains("Rp 9,00"))
    }

    /// A name a spreadsheet would run, or one with a line break, stays one harmless cell.
    @Test func csvQuotesLineBreaksAndGuardsFormulas() {
        let point: (String, String) -> SettlementReport.PaymentPointLine = { id, name in
            .init(merchantID: id, name: name, payments: 1, debits: 100, reversals: 0, reversalDebits: 0, commission: 0, depositBalance: -5)
        }
        let report = SettlementReport(
            businessDate: CalendarDate(year: 2025, month: 6, day: 10), settledAt: nil, settledBy: nil, billers: [],
            paymentPoints: [point("NTTPP0000000004", "Loket Oebobo\nsection"), point("NTTPP0000000005", "=1+2"),
                            point("NTTPP0000000006", "@SUM(A1)"), point("NTTPP0000000007", "=HYPERLINK(\"http://x\",\"y\")")],
            trialBalance: [], trialBalanceTotal: 0)
        let csv = report.renderCSV()
        #expect(csv.contains("payment_point,NTTPP0000000004,\"Loket Oebobo\nsection\",1,100,0,0,100,0,-5\n"))
        #expect(csv.contains("payment_point,NTTPP0000000005,'=1+2,"))
        #expect(csv.contains("payment_point,NTTPP0000000006,'@SUM(A1),"))
        #expect(csv.contains("payment_point,NTTPP0000000007,\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\","))
        // Numbers keep their sign.
        #expect(csv.contains(",-5\n"))
    }
}
