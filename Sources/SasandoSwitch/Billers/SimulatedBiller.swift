import SasandoCore

/// Spec §9: deterministic billers any party can predict. This gives every bill a customer has
/// (paid or not) as of a business date; which are paid is the database's business (`paid_bills`).
public enum SimulatedBiller {
    public enum Answer: Sendable, Equatable {
        case customer(name: String, bills: [Bill])
        case declined(ResponseCode)
    }

    /// Customer-ID endings with a fixed answer (spec §9): 99 unknown, 00 already paid, 98 not available.
    public static let specialEndings: Set<String> = ["99", "00", "98"]

    public static func lookup(product: Product, customerID: String, businessDate: CalendarDate) -> Answer {
        let bytes = Array(customerID.utf8)
        guard bytes.count == product.customerIDLength, bytes.allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
            return .declined(.unknownCustomer)
        }
        let ending = customerID.suffix(2)
        if ending == "99" { return .declined(.unknownCustomer) }
        let name = customerName(product: product, customerID: customerID)
        if product.isPrepaid { return .customer(name: name, bills: []) }
        if ending == "00" { return .declined(.billAlreadyPaid) }
        if ending == "98" { return .declined(.billNotAvailable) }
        let lastDigit = Int(bytes[bytes.count - 1] - 48)
        let count = 1 + lastDigit % 3
        var periods: [String] = []
        var year = businessDate.year
        var month = businessDate.month
        for _ in 0..<count {
            month -= 1
            if month == 0 { month = 12; year -= 1 }
            periods.append(zeroPadded(year, width: 4) + zeroPadded(month, width: 2))
        }
        let bills = periods.reversed().map { period in
            Bill(period: period, amount: billAmount(product: product, customerID: customerID, period: period))
        }
        return .customer(name: name, bills: bills)
    }

    /// Whole rupiah in 10,000...2,000,000, from a hash of (product, customer ID, period).
    public static func billAmount(product: Product, customerID: String, period: String) -> Sen {
        let h = fnv1a64("\(product.rawValue)|\(customerID)|\(period)")
        return .rupiah(10_000 + Int64(h % 1_990_001))
    }

    static let givenNames = ["Yohanes", "Maria", "Fransiskus", "Agustina", "Petrus", "Yuliana", "Marthen", "Debora",
                             "Simon", "Kristina", "Daniel", "Ester", "Melkianus", "Ribka", "Adrianus", "Oktovina"]
    static let familyNames = ["Ndun", "Foenay", "Manafe", "Tefa", "Bessie", "Lenggu", "Nalle", "Pah",
                              "Rihi", "Ledo", "Sinlae", "Tanesib", "Mooy", "Kana", "Benu", "Haning"]

    public static func customerName(product: Product, customerID: String) -> String {
        let h = fnv1a64("\(product.rawValue)|\(customerID)")
        return givenNames[Int(h % UInt64(givenNames.count))] + " " + familyNames[Int((h >> 17) % UInt64(familyNames.count))]
    }

    /// 20-digit PLNPRE token, unique per transaction (derived from its database ID and the meter).
    public static func prepaidToken(transactionID: Int64, meter: String) -> String {
        let a = fnv1a64("token|\(transactionID)|\(meter)")
        let b = fnv1a64("token2|\(meter)|\(transactionID)")
        let digits = zeroPadded(a % 10_000_000_000, width: 10) + zeroPadded(b % 10_000_000_000, width: 10)
        return digits
    }

    /// FNV-1a, 64-bit: stable across platforms and releases (unlike Hasher), so anyone can predict.
    public static func fnv1a64(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return hash
    }
}
