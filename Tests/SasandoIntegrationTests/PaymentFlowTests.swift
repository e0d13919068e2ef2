import Foundation
import PostgresNIO
import SasandoCore
import SasandoISO8583
import SasandoLedger
import SasandoSwitch
import SasandoTransport
import Testing

/// Spec §3-§6 and §9 end to end: a real switch over mutual TLS, the real PostgreSQL ledger.
/// Paid bills persist across runs, so every test uses fresh random customer IDs.
@Suite(.serialized) struct PaymentFlowTests {

    /// A random all-digit customer ID of `length`, not ending in 00, 98 or 99.
    static func customer(_ length: Int, ending: String? = nil) -> String {
        var id = ""
        repeat {
            id = String((0..<length).map { _ in "0123456789".randomElement()! })
        } while ["00", "98", "99"].contains(String(id.suffix(2)))
        if let ending { id = String(id.prefix(length - ending.count)) + ending }
        return id
    }

    static func count(_ h: SwitchHarness, _ query: PostgresQuery) async throws -> Int64 {
        let rows = try await h.database.client.query(query)
        for try await n in rows.decode(Int64.self) { return n }
        return -1
    }

    /// Journals attached to the transactions of (terminal, STAN).
    static func journals(_ h: SwitchHarness, terminal: String, stan: String) async throws -> Int64 {
        try await count(h, "SELECT count(j.id) FROM transactions t JOIN journals j ON j.id = t.journal_id WHERE t.terminal_id = \(terminal) AND t.stan = \(stan)")
    }

    static func transactions(_ h: SwitchHarness, terminal: String, stan: String) async throws -> Int64 {
        try await count(h, "SELECT count(*) FROM transactions WHERE terminal_id = \(terminal) AND stan = \(stan)")
    }

    static func reversalJournals(_ h: SwitchHarness, terminal: String, paymentSTAN: String) async throws -> Int64 {
        try await count(h, """
            SELECT count(r.id) FROM transactions t JOIN journals r ON r.reverses_journal_id = t.journal_id
            WHERE t.terminal_id = \(terminal) AND t.stan = \(paymentSTAN) AND t.kind = 'payment'
            """)
    }

    static func deposit(_ h: SwitchHarness, _ merchant: String) async throws -> Int64 {
        try #require(try await h.ledger.balance(code: AccountCode.deposit(merchant))).value
    }

    static func fee(_ sen: Int64) -> String { String(format: "D%08lld", sen) }

    // MARK: Happy path, duplicates, reversal

    @Test func inquiryPaymentReversalCycle() async throws {
        let h = try await SwitchHarness.start()
        let (client, requests, folder) = try await h.signedOn(0)
        let key = folder.macKey
        let id = Self.customer(12)
        let depositBefore = try await Self.deposit(h, folder.info.merchantID)

        let inquiry = try await client.send(requests.inquiry(product: "PLNPOST", customerID: id), macKey: key)
        #expect(inquiry.mti == "0210")
        #expect(inquiry[39] == "00")
        #expect(inquiry[15]?.count == 4)
        let bill = try #require(BillData.parse(inquiry[48] ?? ""))
        let lastDigit = Int(String(id.last!))!
        #expect(bill.bills.count == 1 + lastDigit % 3)
        #expect(bill.customerID == id && bill.product == "PLNPOST")
        #expect(Int64(inquiry[4] ?? "") == bill.total.value)
        #expect(inquiry[28] == Self.fee(Product.plnPostpaid.adminFee.value * Int64(bill.bills.count)))

        let payment = requests.payment(from: inquiry)
        let paid = try await client.send(payment, macKey: key)
        #expect(paid.mti == "0210")
        #expect(paid[39] == "00")
        #expect(paid[38]?.count == 6)
        #expect(paid[15] != nil)
        let field48 = try #require(paid[48])
        #expect(field48.hasPrefix(inquiry[48]!))
        #expect(field48.utf8.count == inquiry[48]!.utf8.count + 32)
        #expect(!field48.dropFirst(inquiry[48]!.count).trimmingCharacters(in: .whitespaces).isEmpty)
        let total = bill.total.value + Product.plnPostpaid.adminFee.value * Int64(bill.bills.count)
        #expect(try await Self.deposit(h, folder.info.merchantID) == depositBefore - total)
        #expect(try await Self.journals(h, terminal: folder.info.terminalID, stan: payment[11]!) == 1)

        let again = try await client.send(requests.inquiry(product: "PLNPOST", customerID: id), macKey: key)
        #expect(again[39] == "88")

        let reversal = requests.reversal(of: payment)
        let reversed = try await client.send(reversal, macKey: key)
        #expect(reversed.mti == "0410")
        #expect(reversed[39] == "00")
        #expect(try await Self.reversalJournals(h, terminal: folder.info.terminalID, paymentSTAN: payment[11]!) == 1)
        #expect(try await Self.deposit(h, folder.info.merchantID) == depositBefore)

        let afterReversal = try await client.send(requests.inquiry(product: "PLNPOST", customerID: id), macKey: key)
        #expect(afterReversal[39] == "00")
        #expect(afterReversal[48] == inquiry[48])
        #expect(afterReversal[4] == inquiry[4])
        #expect(afterReversal[28] == inquiry[28])
        await h.stop()
    }

    @Test func resentPaymentGetsIdenticalResponseAndPostsOnce() async throws {
        let h = try await SwitchHarness.start()
        let (client, requests, folder) = try await h.signedOn(0)
        let inquiry = try await client.send(requests.inquiry(product: "PDAMKPG", customerID: Self.customer(8)), macKey: folder.macKey)
        #expect(inquiry[39] == "00")
        let payment = requests.payment(from: inquiry)
        let first = try await client.send(payment, macKey: folder.macKey)
        let second = try await client.send(payment, macKey: folder.macKey)
        #expect(first[39] == "00")
        #expect(second.mti == first.mti)
        #expect(second.fields == first.fields)
        #expect(try await Self.journals(h, terminal: folder.info.terminalID, stan: payment[11]!) == 1)
        #expect(try await Self.transactions(h, terminal: folder.info.terminalID, stan: payment[11]!) == 1)

        // Same key (41, 11, 7), other content: 94, nothing more posted.
        var changed = payment
        changed[37] = "ZZ0000000001"
        let conflicting = try await client.send(changed, macKey: folder.macKey)
        #expect(conflicting[39] == "94")
        #expect(try await Self.journals(h, terminal: folder.info.terminalID, stan: payment[11]!) == 1)
        await h.stop()
    }

    @Test func wrongMACGets63AndNoTransaction() async throws {
        let h = try await SwitchHarness.start()
        let (client, requests, folder) = try await h.signedOn(0)
        let inquiry = try await client.send(requests.inquiry(product: "KINET", customerID: Self.customer(10)), macKey: folder.macKey)
        #expect(inquiry[39] == "00")
        let payment = requests.payment(from: inquiry)
        var otherKey = folder.macKey
        otherKey[0] ^= 0xFF
        #expect(otherKey.count == 32)
        let response = try await client.send(payment, macKey: otherKey)
        #expect(response[39] == "63")
        #expect(try await Self.transactions(h, terminal: folder.info.terminalID, stan: payment[11]!) == 0)
        // Missing MAC: also 63.
        let unsigned = requests.payment(from: inquiry)
        let noMAC = try await client.send(unsigned)
        #expect(noMAC[39] == "63")
        #expect(try await Self.transactions(h, terminal: folder.info.terminalID, stan: unsigned[11]!) == 0)
        // The bill is still outstanding.
        let still = try await client.send(requests.inquiry(product: "KINET", customerID: inquiry[48].flatMap(BillData.parseKey)!.customerID), macKey: folder.macKey)
        #expect(still[39] == "00")
        await h.stop()
    }

    @Test func reversalRepeatsPostNothingMore() async throws {
        let h = try await SwitchHarness.start()
        let (client, requests, folder) = try await h.signedOn(0)
        let merchant = folder.info.merchantID
        let before = try await Self.deposit(h, merchant)
        let inquiry = try await client.send(requests.inquiry(product: "BPJSKS", customerID: Self.customer(13)), macKey: folder.macKey)
        let payment = requests.payment(from: inquiry)
        #expect(try await client.send(payment, macKey: folder.macKey)[39] == "00")

        let reversal = requests.reversal(of: payment)
        let first = try await client.send(reversal, macKey: folder.macKey)
        #expect(first[39] == "00")
        // The same 0400 sent as 0401 (same STAN and field 7).
        var repeated = reversal
        repeated.mti = "0401"
        let second = try await client.send(repeated, macKey: folder.macKey)
        #expect(second[39] == "00")
        // A fresh 0401 and a second 0400 (new STANs) for the same original.
        #expect(try await client.send(requests.reversal(of: payment, repeat: true), macKey: folder.macKey)[39] == "00")
        #expect(try await client.send(requests.reversal(of: payment), macKey: folder.macKey)[39] == "00")

        #expect(try await Self.reversalJournals(h, terminal: folder.info.terminalID, paymentSTAN: payment[11]!) == 1)
        #expect(try await Self.count(h, """
            SELECT count(*) FROM transactions WHERE terminal_id = \(folder.info.terminalID) AND kind = 'reversal' AND journal_id IS NOT NULL
            """) == 1)
        #expect(try await Self.deposit(h, merchant) == before)
        await h.stop()
    }

    @Test func reversalOfUnknownOriginalGets25() async throws {
        let h = try await SwitchHarness.start()
        let (client, requests, folder) = try await h.signedOn(0)
        let inquiry = try await client.send(requests.inquiry(product: "PLNPOST", customerID: Self.customer(12)), macKey: folder.macKey)
        var neverSent = requests.payment(from: inquiry)
        neverSent[11] = "999999"
        let reversal = requests.reversal(of: neverSent)
        let response = try await client.send(reversal, macKey: folder.macKey)
        #expect(response.mti == "0410")
        #expect(response[39] == "25")
        #expect(try await Self.journals(h, terminal: folder.info.terminalID, stan: reversal[11]!) == 0)
        // The original arrives after its reversal (it was stuck on the way): the terminal was told
        // nothing was taken, so it is declined (12) and nothing is posted or marked paid.
        let before = try await Self.deposit(h, folder.info.merchantID)
        let late = try await client.send(neverSent, macKey: folder.macKey)
        #expect(late[39] == "12")
        #expect(try await Self.journals(h, terminal: folder.info.terminalID, stan: "999999") == 0)
        #expect(try await Self.deposit(h, folder.info.merchantID) == before)
        #expect(try await client.send(requests.inquiry(product: "PLNPOST", customerID: inquiry[48].flatMap { BillData.parseKey($0)?.customerID } ?? ""),
                                      macKey: folder.macKey)[4] == inquiry[4], "the bills are still outstanding")
        await h.stop()
    }

    @Test func reversalOfDeclinedOriginalGets00WithNoJournal() async throws {
        let h = try await SwitchHarness.start()
        let (client, requests, folder) = try await h.signedOn(0)
        let id = Self.customer(12)
        let inquiry = try await client.send(requests.inquiry(product: "PLNPOST", customerID: id), macKey: folder.macKey)
        #expect(try await client.send(requests.payment(from: inquiry), macKey: folder.macKey)[39] == "00")
        // A second payment of the same bills is declined by the ledger (88) and recorded.
        let declined = requests.payment(from: inquiry)
        #expect(try await client.send(declined, macKey: folder.macKey)[39] == "88")
        let reversal = requests.reversal(of: declined)
        let response = try await client.send(reversal, macKey: folder.macKey)
        #expect(response[39] == "00")
        #expect(try await Self.journals(h, terminal: folder.info.terminalID, stan: reversal[11]!) == 0)
        #expect(try await Self.reversalJournals(h, terminal: folder.info.terminalID, paymentSTAN: declined[11]!) == 0)
        // The first payment stays paid.
        #expect(try await client.send(requests.inquiry(product: "PLNPOST", customerID: id), macKey: folder.macKey)[39] == "88")
        await h.stop()
    }

    /// Spec §3: "An original that was declined ... `00`". A payment declined during validation
    /// (here 13, wrong fee) is a declined original too.
    @Test func reversalOfPaymentDeclinedByValidationGets00() async throws {
        let h = try await SwitchHarness.start()
        let (client, requests, folder) = try await h.signedOn(0)
        let inquiry = try await client.send(requests.inquiry(product: "PLNPOST", customerID: Self.customer(12)), macKey: folder.macKey)
        var payment = requests.payment(from: inquiry)
        payment[28] = Self.fee(Int64(inquiry[28]!.dropFirst())! + 1)
        #expect(try await client.send(payment, macKey: folder.macKey)[39] == "13")
        let response = try await client.send(requests.reversal(of: payment), macKey: folder.macKey)
        #expect(response[39] == "00")
        // And its key is taken: the same key with other content is 94.
        var reused = payment
        reused[37] = "REUSEDKEY001"
        #expect(try await client.send(reused, macKey: folder.macKey)[39] == "94")
        await h.stop()
    }

    // MARK: Declines

    @Test func declines() async throws {
        let h = try await SwitchHarness.start()
        let (client, requests, folder) = try await h.signedOn(0)
        let key = folder.macKey
        let inquiry = try await client.send(requests.inquiry(product: "PLNPOST", customerID: Self.customer(12)), macKey: key)
        #expect(inquiry[39] == "00")

        // Wrong fee: 13, nothing recorded or posted.
        var wrongFee = requests.payment(from: inquiry)
        wrongFee[28] = Self.fee(Int64(inquiry[28]!.dropFirst())! + 1)
        #expect(try await client.send(wrongFee, macKey: key)[39] == "13")
        #expect(try await Self.journals(h, terminal: folder.info.terminalID, stan: wrongFee[11]!) == 0)
        // Wrong amount: 13.
        var wrongAmount = requests.payment(from: inquiry)
        wrongAmount[4] = String(format: "%012lld", Int64(inquiry[4]!)! - 100)
        #expect(try await client.send(wrongAmount, macKey: key)[39] == "13")

        #expect(try await client.send(requests.inquiry(product: "NOSUCH", customerID: Self.customer(12)), macKey: key)[39] == "31")
        for product in ["PLNPOST", "PLNPRE", "IPL"] {
            let length = Product(rawValue: product)!.customerIDLength
            #expect(try await client.send(requests.inquiry(product: product, customerID: Self.customer(length, ending: "99")), macKey: key)[39] == "14")
        }
        #expect(try await client.send(requests.inquiry(product: "PLNPOST", customerID: "12345"), macKey: key)[39] == "14")
        #expect(try await client.send(requests.inquiry(product: "PLNPOST", customerID: Self.customer(12, ending: "98")), macKey: key)[39] == "89")
        #expect(try await client.send(requests.inquiry(product: "PLNPOST", customerID: Self.customer(12, ending: "00")), macKey: key)[39] == "88")
        // The original payment is still possible.
        #expect(try await client.send(requests.payment(from: inquiry), macKey: key)[39] == "00")
        await h.stop()
    }

    @Test func insufficientDepositGets51AndPostsNothing() async throws {
        let h = try await SwitchHarness.start(openingDeposit: .rupiah(1_000))
        let (client, requests, folder) = try await h.signedOn(0)
        let merchant = folder.info.merchantID
        let before = try await Self.deposit(h, merchant)
        #expect(before == Sen.rupiah(1_000).value)
        let inquiry = try await client.send(requests.inquiry(product: "PLNPOST", customerID: Self.customer(12)), macKey: folder.macKey)
        #expect(inquiry[39] == "00")
        let payment = requests.payment(from: inquiry)
        let response = try await client.send(payment, macKey: folder.macKey)
        #expect(response[39] == "51")
        #expect(response[38] == nil)
        #expect(try await Self.deposit(h, merchant) == before)
        #expect(try await Self.journals(h, terminal: folder.info.terminalID, stan: payment[11]!) == 0)
        // The bill stays outstanding.
        #expect(try await client.send(requests.inquiry(product: "PLNPOST", customerID: BillData.parseKey(inquiry[48]!)!.customerID),
                                      macKey: folder.macKey)[39] == "00")
        await h.stop()
    }

    @Test func dailyLimitGets61() async throws {
        let h = try await SwitchHarness.start()
        let (client, requests, folder) = try await h.signedOn(0)
        let merchant = folder.info.merchantID
        try await h.database.client.query("UPDATE payment_points SET daily_limit_sen = 100 WHERE merchant_id = \(merchant)")
        let before = try await Self.deposit(h, merchant)
        let inquiry = try await client.send(requests.inquiry(product: "IPL", customerID: Self.customer(10)), macKey: folder.macKey)
        #expect(inquiry[39] == "00")
        let payment = requests.payment(from: inquiry)
        #expect(try await client.send(payment, macKey: folder.macKey)[39] == "61")
        #expect(try await Self.deposit(h, merchant) == before)
        #expect(try await Self.journals(h, terminal: folder.info.terminalID, stan: payment[11]!) == 0)
        await h.stop()
    }

    @Test func blockedPaymentPointAfterSignOnGets05() async throws {
        let h = try await SwitchHarness.start()
        let (client, requests, folder) = try await h.signedOn(0)
        let inquiry = try await client.send(requests.inquiry(product: "PLNPOST", customerID: Self.customer(12)), macKey: folder.macKey)
        #expect(inquiry[39] == "00")
        let change = try await h.directory.changePaymentPointStatus(folder.info.merchantID, to: .blocked, actor: "test", reason: "suspected fraud")
        #expect(change.outcome == .changed)
        let payment = requests.payment(from: inquiry)
        #expect(try await client.send(payment, macKey: folder.macKey)[39] == "05")
        #expect(try await Self.journals(h, terminal: folder.info.terminalID, stan: payment[11]!) == 0)
        await h.stop()
    }

    // MARK: PLN prepaid

    @Test func prepaidTokenPurchase() async throws {
        let h = try await SwitchHarness.start()
        let (client, requests, folder) = try await h.signedOn(0)
        let meter = Self.customer(11)
        let denomination = Sen.rupiah(50_000).value
        let inquiry = try await client.send(requests.inquiry(product: "PLNPRE", customerID: meter, amount: denomination), macKey: folder.macKey)
        #expect(inquiry[39] == "00")
        #expect(Int64(inquiry[4] ?? "") == denomination)
        #expect(inquiry[28] == Self.fee(Product.plnPrepaid.adminFee.value))
        let data = try #require(BillData.parse(inquiry[48] ?? ""))
        #expect(data.bills.isEmpty)

        let payment = requests.payment(from: inquiry)
        let paid = try await client.send(payment, macKey: folder.macKey)
        #expect(paid[39] == "00")
        let field48 = try #require(paid[48])
        #expect(field48.hasPrefix(inquiry[48]!))
        let reference = String(field48.dropFirst(inquiry[48]!.count))
        #expect(reference.count == 32)
        let token = reference.prefix(20)
        #expect(token.count == 20 && token.allSatisfy { $0.isASCII && $0.isNumber })
        #expect(reference.dropFirst(20) == Substring(String(repeating: " ", count: 12)))

        // A second purchase for the same meter also succeeds, with another token.
        let paid2 = try await client.send(requests.payment(from: inquiry), macKey: folder.macKey)
        #expect(paid2[39] == "00")
        #expect(paid2[48] != paid[48])

        // Invalid denomination: inquiry and payment get 13.
        #expect(try await client.send(requests.inquiry(product: "PLNPRE", customerID: meter, amount: Sen.rupiah(30_000).value),
                                      macKey: folder.macKey)[39] == "13")
        var bad = requests.payment(from: inquiry)
        bad[4] = String(format: "%012lld", Sen.rupiah(30_000).value)
        #expect(try await client.send(bad, macKey: folder.macKey)[39] == "13")
        await h.stop()
    }

    // MARK: Concurrency

    @Test func concurrentPaymentsKeepTheLedgerConsistent() async throws {
        // Its own database: the whole-ledger check at the end reads this test's rows only.
        // 24 payments of up to 3 bills of Rp 2.000.000
        try await IsolatedDatabase.withHarness({ try await SwitchHarness.start(terminals: 8, openingDeposit: .rupiah(1_000_000_000), databaseURL: $0) },
                                               concurrentPayments)
    }

    private func concurrentPayments(_ h: SwitchHarness) async throws {
        let merchant = h.folders[0].info.merchantID
        #expect(h.folders.allSatisfy { $0.info.merchantID == merchant })
        let before = try await Self.deposit(h, merchant)
        let products: [Product] = [.plnPostpaid, .pdamKupang, .estateFee, .internet, .bpjsHealth]
        let totals = try await withThrowingTaskGroup(of: (codes: [String], total: Int64).self) { group in
            for i in 0..<8 {
                group.addTask {
                    let (client, requests, folder) = try await h.signedOn(i)
                    var codes: [String] = []
                    var total: Int64 = 0
                    for round in 0..<3 {
                        let product = products[(i + round) % products.count]
                        let inquiry = try await client.send(requests.inquiry(product: product.rawValue, customerID: Self.customer(product.customerIDLength)),
                                                            macKey: folder.macKey)
                        guard inquiry[39] == "00" else { codes.append("inquiry " + (inquiry[39] ?? "-")); continue }
                        let paid = try await client.send(requests.payment(from: inquiry), macKey: folder.macKey)
                        codes.append(paid[39] ?? "-")
                        if paid[39] == "00" { total += Int64(inquiry[4]!)! + Int64(inquiry[28]!.dropFirst())! }
                    }
                    await client.close()
                    return (codes, total)
                }
            }
            var all: [(codes: [String], total: Int64)] = []
            for try await r in group { all.append(r) }
            return all
        }
        #expect(totals.flatMap(\.codes).allSatisfy { $0 == "00" }, "\(totals.map(\.codes))")
        #expect(totals.flatMap(\.codes).count == 24)
        let spent = totals.reduce(0) { $0 + $1.total }
        #expect(try await Self.deposit(h, merchant) == before - spent)
        let result = try await LedgerVerifier(database: h.database).verify()
        #expect(result.violations.isEmpty, "\(result.violations.map { "\($0.check): \($0.rows)" })")
    }
}
