import Foundation
import SasandoCore
import SasandoISO8583
import SasandoLedger

/// Payment requests as a terminal would send them, for benchmarks and load tests: a random
/// customer of a postpaid product (fresh, so unpaid) or a PLNPRE purchase, with field 48, 4 and 28
/// exactly as the inquiry would have answered them.
public enum BenchmarkWorkload {
    public static func randomCustomerID(for product: Product, using rng: inout some RandomNumberGenerator) -> String {
        // The billers' special endings (declines) are not wanted here.
        var digits = [UInt8](repeating: UInt8(ascii: "0"), count: product.customerIDLength)
        while true {
            for i in digits.indices { digits[i] = UInt8(ascii: "0") + UInt8.random(in: 0...9, using: &rng) }
            if !SimulatedBiller.specialEndings.contains(String(decoding: digits.suffix(2), as: UTF8.self)) {
                return String(decoding: digits, as: UTF8.self)
            }
        }
    }

    /// A payment request for `product` (nil: a postpaid product chosen at random).
    public static func payment(requests: TerminalRequests, product: Product?, businessDate: CalendarDate,
                               using rng: inout some RandomNumberGenerator, now: Date = Date()) -> ISOMessage {
        let product = product ?? [Product.plnPostpaid, .pdamKupang, .estateFee, .internet, .bpjsHealth].randomElement(using: &rng)!
        let customer = randomCustomerID(for: product, using: &rng)
        var inquiryAnswer = requests.inquiry(product: product.rawValue, customerID: customer, now: now)
        let name = SimulatedBiller.customerName(product: product, customerID: customer)
        if product.isPrepaid {
            let denomination = Product.prepaidDenominations.randomElement(using: &rng)!
            inquiryAnswer[48] = BillData(product: product.rawValue, customerID: customer, customerName: name, bills: []).encoded
            inquiryAnswer[4] = zeroPadded(denomination.value, width: 12)
            inquiryAnswer[28] = "D" + zeroPadded(product.adminFee.value, width: 8)
        } else if case .customer(_, let bills) = SimulatedBiller.lookup(product: product, customerID: customer, businessDate: businessDate) {
            let data = BillData(product: product.rawValue, customerID: customer, customerName: name, bills: bills)
            inquiryAnswer[48] = data.encoded
            inquiryAnswer[4] = zeroPadded(data.total.value, width: 12)
            inquiryAnswer[28] = "D" + zeroPadded(product.adminFee.value * Int64(bills.count), width: 8)
        }
        return requests.payment(from: inquiryAnswer, now: now)
    }
}
