import SasandoCore

/// Field 48 layouts of spec §5: fixed-width segments, `an` left-justified space-filled, `n`
/// right-justified zero-filled.
public struct Bill: Sendable, Hashable, Codable {
    /// YYYYMM
    public var period: String
    public var amount: Sen
    public init(period: String, amount: Sen) {
        self.period = period
        self.amount = amount
    }
}

public struct BillData: Sendable, Equatable {
    public static let productWidth = 8
    public static let customerIDWidth = 20
    public static let customerNameWidth = 30
    public static let billCountWidth = 2
    public static let periodWidth = 6
    public static let amountWidth = 12
    public static let billerReferenceWidth = 32
    public static let keyWidth = productWidth + customerIDWidth
    public static let billsMax = 99

    public var product: String
    public var customerID: String
    public var customerName: String
    public var bills: [Bill]

    public init(product: String, customerID: String, customerName: String, bills: [Bill]) {
        self.product = product
        self.customerID = customerID
        self.customerName = customerName
        self.bills = bills
    }

    static func an(_ text: String, _ width: Int) -> String {
        // ASCII text (the common case) is cut and padded on bytes; anything else by characters.
        let utf8 = text.utf8
        if utf8.count <= width, utf8.allSatisfy({ $0 < 0x80 }) {
            return utf8.count == width ? text : text + String(repeating: " ", count: width - utf8.count)
        }
        let cut = String(text.prefix(width))
        return cut + String(repeating: " ", count: width - cut.count)
    }

    static func n(_ value: Int64, _ width: Int) -> String {
        zeroPadded(value, width: width)
    }

    /// Inquiry request: product an 8 + customer ID an 20.
    public static func inquiryKey(product: String, customerID: String) -> String {
        an(product, productWidth) + an(customerID, customerIDWidth)
    }

    /// Parses the 28-character key at the start of any field 48. Nil when shorter.
    public static func parseKey(_ field48: String) -> (product: String, customerID: String)? {
        let chars = Array(field48.utf8)
        guard chars.count >= keyWidth else { return nil }
        let product = String(decoding: chars[0..<productWidth], as: UTF8.self).trimmingTrailingSpaces()
        let customer = String(decoding: chars[productWidth..<keyWidth], as: UTF8.self).trimmingTrailingSpaces()
        return (product, customer)
    }

    /// Inquiry response (and payment request): key + name an 30 + count n 2 + bills.
    public var encoded: String {
        var s = Self.inquiryKey(product: product, customerID: customerID)
        s += Self.an(customerName, Self.customerNameWidth)
        s += Self.n(Int64(bills.count), Self.billCountWidth)
        for bill in bills {
            s += bill.period + Self.n(bill.amount.value, Self.amountWidth)
        }
        return s
    }

    /// Parses an inquiry-response layout exactly (no trailing characters). Nil when malformed.
    public static func parse(_ field48: String) -> BillData? {
        let chars = Array(field48.utf8)
        let header = keyWidth + customerNameWidth + billCountWidth
        guard chars.count >= header, let (product, customer) = parseKey(field48) else { return nil }
        let name = String(decoding: chars[keyWidth..<(keyWidth + customerNameWidth)], as: UTF8.self).trimmingTrailingSpaces()
        guard let count = digits(chars[(header - billCountWidth)..<header]) else { return nil }
        let billWidth = periodWidth + amountWidth
        guard chars.count == header + Int(count) * billWidth else { return nil }
        var bills: [Bill] = []
        var i = header
        for _ in 0..<count {
            let periodBytes = chars[i..<(i + periodWidth)]
            guard digits(periodBytes) != nil, let amount = digits(chars[(i + periodWidth)..<(i + billWidth)]) else { return nil }
            bills.append(Bill(period: String(decoding: periodBytes, as: UTF8.self), amount: Sen(amount)))
            i += billWidth
        }
        return BillData(product: product, customerID: customer, customerName: name, bills: bills)
    }

    /// Payment response: the request's field 48 + biller reference an 32.
    public static func paymentResponse(request field48: String, billerReference: String) -> String {
        field48 + an(billerReference, billerReferenceWidth)
    }

    static func digits(_ bytes: ArraySlice<UInt8>) -> Int64? {
        guard !bytes.isEmpty, bytes.count <= 18 else { return nil }
        var value: Int64 = 0
        for b in bytes {
            guard b >= 48, b <= 57 else { return nil }
            value = value * 10 + Int64(b - 48)
        }
        return value
    }

    public var total: Sen { bills.reduce(Sen.zero) { $0 + $1.amount } }
}
