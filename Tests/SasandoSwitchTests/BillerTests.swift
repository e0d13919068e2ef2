import SasandoCore
import SasandoSwitch
import Testing

/// Spec §9: the simulated billers, and the field 48 layout of §5.
@Suite struct BillerTests {
    static let date = CalendarDate(year: 2026, month: 6, day: 15)

    /// A valid-length all-digit ID ending in `ending`.
    static func id(_ product: Product, ending: String, fill: Character = "4") -> String {
        String(repeating: fill, count: product.customerIDLength - ending.count) + ending
    }

    static func bills(_ answer: SimulatedBiller.Answer) -> [Bill]? {
        if case .customer(_, let bills) = answer { return bills }
        return nil
    }

    @Test(arguments: Product.allCases)
    func ending99IsUnknownForEveryProduct(_ product: Product) {
        #expect(SimulatedBiller.lookup(product: product, customerID: Self.id(product, ending: "99"), businessDate: Self.date)
                == .declined(.unknownCustomer))
    }

    @Test(arguments: Product.allCases.filter { !$0.isPrepaid })
    func postpaidSpecialEndings(_ product: Product) {
        #expect(SimulatedBiller.lookup(product: product, customerID: Self.id(product, ending: "00"), businessDate: Self.date)
                == .declined(.billAlreadyPaid))
        #expect(SimulatedBiller.lookup(product: product, customerID: Self.id(product, ending: "98"), businessDate: Self.date)
                == .declined(.billNotAvailable))
    }

    @Test func prepaidEnding00And98AreValidMetersWithNoBills() {
        for ending in ["00", "98", "12"] {
            let answer = SimulatedBiller.lookup(product: .plnPrepaid, customerID: Self.id(.plnPrepaid, ending: ending), businessDate: Self.date)
            guard case .customer(let name, let bills) = answer else {
                Issue.record("PLNPRE ending \(ending): \(answer)")
                continue
            }
            #expect(bills.isEmpty)
            #expect(!name.isEmpty)
        }
    }

    @Test(arguments: Product.allCases)
    func wrongLengthOrNonDigitsIsUnknown(_ product: Product) {
        let n = product.customerIDLength
        let bad = [
            String(repeating: "1", count: n - 1),
            String(repeating: "1", count: n + 1),
            "",
            String(repeating: "1", count: n - 1) + "A",
            "A" + String(repeating: "1", count: n - 1),
            String(repeating: "1", count: n - 2) + " 1",
            String(repeating: "1", count: n - 1) + "٣",  // non-ASCII digit
        ]
        for id in bad {
            #expect(SimulatedBiller.lookup(product: product, customerID: id, businessDate: Self.date) == .declined(.unknownCustomer),
                    "\(product.rawValue) '\(id)'")
        }
    }

    @Test(arguments: Product.allCases.filter { !$0.isPrepaid })
    func billCountIsOnePlusLastDigitModThree(_ product: Product) throws {
        for last in 0...9 {
            let id = Self.id(product, ending: "1\(last)")
            let bills = try #require(Self.bills(SimulatedBiller.lookup(product: product, customerID: id, businessDate: Self.date)))
            #expect(bills.count == 1 + last % 3, "\(product.rawValue) \(id)")
            // Consecutive months, oldest first, the latest the month before the business date.
            #expect(bills.last?.period == "202605")
            let expected = ["202603", "202604", "202605"].suffix(bills.count)
            #expect(bills.map(\.period) == Array(expected))
        }
    }

    @Test func januaryBusinessDateGivesDecemberOfPreviousYear() throws {
        let january = CalendarDate(year: 2027, month: 1, day: 3)
        let id = Self.id(.plnPostpaid, ending: "12")  // 1 + 2 % 3 = 3 bills
        let bills = try #require(Self.bills(SimulatedBiller.lookup(product: .plnPostpaid, customerID: id, businessDate: january)))
        #expect(bills.map(\.period) == ["202610", "202611", "202612"])
        #expect(january.previousMonthPeriod == "202612")
        let oneBill = try #require(Self.bills(SimulatedBiller.lookup(product: .bpjsHealth, customerID: Self.id(.bpjsHealth, ending: "13"),
                                                                     businessDate: january)))
        #expect(oneBill.map(\.period) == ["202612"])
    }

    @Test(arguments: Product.allCases.filter { !$0.isPrepaid })
    func amountsAreWholeRupiahInRangeAndDeterministic(_ product: Product) throws {
        var seen = Set<Int64>()
        for n in 0..<200 {
            var digits = String(n * 7919 + 13)
            digits = String(repeating: "3", count: max(0, product.customerIDLength - digits.count - 1)) + digits + "2"
            let id = String(digits.suffix(product.customerIDLength))
            let a = try #require(Self.bills(SimulatedBiller.lookup(product: product, customerID: id, businessDate: Self.date)), "\(id)")
            let b = try #require(Self.bills(SimulatedBiller.lookup(product: product, customerID: id, businessDate: Self.date)))
            #expect(a == b)
            #expect(SimulatedBiller.customerName(product: product, customerID: id) == SimulatedBiller.customerName(product: product, customerID: id))
            for bill in a {
                #expect(bill.amount.value % 100 == 0, "whole rupiah: \(bill.amount.value)")
                #expect(bill.amount >= .rupiah(10_000) && bill.amount <= .rupiah(2_000_000), "\(bill.amount.value)")
                seen.insert(bill.amount.value)
            }
        }
        #expect(seen.count > 50, "amounts should vary with the customer")
    }

    @Test func knownAnswerIsStable() {
        // FNV-1a 64 of the empty string and "a" (published test vectors).
        #expect(SimulatedBiller.fnv1a64("") == 0xcbf2_9ce4_8422_2325)
        #expect(SimulatedBiller.fnv1a64("a") == 0xaf63_dc4c_8601_ec8c)
    }

    @Test func prepaidTokenIs20Digits() {
        let t = SimulatedBiller.prepaidToken(transactionID: 42, meter: "12345678901")
        #expect(t.count == 20)
        #expect(t.allSatisfy { $0.isASCII && $0.isNumber })
        #expect(t != SimulatedBiller.prepaidToken(transactionID: 43, meter: "12345678901"))
    }

    // MARK: BillData (spec §5)

    @Test func billDataRoundTrip() throws {
        let data = BillData(product: "PLNPOST", customerID: "123456789012", customerName: "Yohanes Ndun",
                            bills: [Bill(period: "202604", amount: .rupiah(125_000)), Bill(period: "202605", amount: .rupiah(1_999_999))])
        let text = data.encoded
        #expect(text.utf8.count == 28 + 30 + 2 + 2 * 18)
        #expect(text.hasPrefix("PLNPOST 123456789012        Yohanes Ndun"))
        #expect(text.hasSuffix("02" + "202604" + "000012500000" + "202605" + "000199999900"))
        let parsed = try #require(BillData.parse(text))
        #expect(parsed == data)
        #expect(parsed.total == .rupiah(2_124_999))
        let key = try #require(BillData.parseKey(text))
        #expect(key.product == "PLNPOST" && key.customerID == "123456789012")
        #expect(BillData.inquiryKey(product: "IPL", customerID: "1234000001") == "IPL     1234000001          ")
    }

    @Test func billDataRoundTripWithNoBills() throws {
        let data = BillData(product: "PLNPRE", customerID: "12345678901", customerName: "Maria Tefa", bills: [])
        #expect(data.encoded.utf8.count == 60)
        #expect(BillData.parse(data.encoded) == data)
    }

    @Test func parseRejectsWrongLengths() {
        let good = BillData(product: "KINET", customerID: "1234567890", customerName: "Simon Pah",
                            bills: [Bill(period: "202605", amount: .rupiah(50_000))]).encoded
        #expect(BillData.parse(good) != nil)
        #expect(BillData.parse(String(good.dropLast())) == nil)
        #expect(BillData.parse(good + "0") == nil)
        #expect(BillData.parse(good + String(repeating: "0", count: 18)) == nil)  // count says 1, two bills present
        #expect(BillData.parse(String(good.prefix(59))) == nil)
        #expect(BillData.parse(String(good.prefix(28))) == nil)
        #expect(BillData.parse("") == nil)
        #expect(BillData.parseKey(String(good.prefix(27))) == nil)
        // Non-digit count or amount.
        var chars = Array(good)
        chars[58] = "X"
        #expect(BillData.parse(String(chars)) == nil)
        chars = Array(good)
        chars[good.count - 1] = "X"
        #expect(BillData.parse(String(chars)) == nil)
    }
}
