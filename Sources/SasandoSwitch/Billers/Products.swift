import SasandoCore

/// The six products of spec §5, with their biller and fee rules.
public enum Product: String, Sendable, CaseIterable, Codable {
    case plnPostpaid = "PLNPOST"
    case plnPrepaid = "PLNPRE"
    case pdamKupang = "PDAMKPG"
    case estateFee = "IPL"
    case internet = "KINET"
    case bpjsHealth = "BPJSKS"

    public var customerIDLength: Int {
        switch self {
        case .plnPostpaid: 12
        case .plnPrepaid: 11
        case .pdamKupang: 8
        case .estateFee: 10
        case .internet: 10
        case .bpjsHealth: 13
        }
    }

    /// Admin fee per bill (postpaid) or per purchase (PLNPRE).
    public var adminFee: Sen {
        self == .estateFee ? .rupiah(1_000) : .rupiah(2_500)
    }

    public var isPrepaid: Bool { self == .plnPrepaid }

    public var billerName: String {
        switch self {
        case .plnPostpaid: "PLN postpaid electricity"
        case .plnPrepaid: "PLN prepaid token"
        case .pdamKupang: "PDAM Kota Kupang water"
        case .estateFee: "Housing-estate fee (IPL)"
        case .internet: "Internet subscription"
        case .bpjsHealth: "BPJS Kesehatan"
        }
    }

    /// Field 100 (receiving institution, n ..11) towards the biller host. Chosen for the simulator.
    public var billerInstitutionID: String {
        switch self {
        case .plnPostpaid: "9950101"
        case .plnPrepaid: "9950102"
        case .pdamKupang: "9950201"
        case .estateFee: "9950301"
        case .internet: "9950401"
        case .bpjsHealth: "9950501"
        }
    }

    /// Payable account key: one per product, except IPL which pays each estate's own account
    /// (estate code = the first 4 digits of the customer ID).
    public func payableKey(customerID: String) -> String {
        self == .estateFee ? "IPL:\(customerID.prefix(4))" : rawValue
    }

    /// PLNPRE denominations, spec §5.
    public static let prepaidDenominations: [Sen] = [20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000].map { .rupiah($0) }
}
