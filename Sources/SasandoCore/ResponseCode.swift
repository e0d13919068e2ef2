/// Field 39 values from spec §6. The raw value is what goes on the wire.
public enum ResponseCode: String, Sendable, CaseIterable, Codable {
    case approved = "00"
    case doNotHonour = "05"
    case invalidTransaction = "12"
    case invalidAmount = "13"
    case unknownCustomer = "14"
    case originalNotFound = "25"
    case formatError = "30"
    case productNotSupported = "31"
    case insufficientDeposit = "51"
    case notPermitted = "58"
    case exceedsDailyLimit = "61"
    case securityViolation = "63"
    case billerTimeout = "68"
    case billAlreadyPaid = "88"
    case billNotAvailable = "89"
    case cutoverInProgress = "90"
    case systemUnavailable = "91"
    case duplicateDifferentContent = "94"
    case reconciliationMismatch = "95"
    case systemMalfunction = "96"

    /// Words for people (CLI, console, logs).
    public var meaning: String {
        switch self {
        case .approved: "approved"
        case .doNotHonour: "do not honour (terminal or payment point blocked)"
        case .invalidTransaction: "invalid transaction"
        case .invalidAmount: "invalid amount or fee"
        case .unknownCustomer: "unknown customer ID"
        case .originalNotFound: "original transaction not found"
        case .formatError: "format error"
        case .productNotSupported: "product (biller) not supported"
        case .insufficientDeposit: "insufficient deposit at the payment point"
        case .notPermitted: "not permitted (not signed on, or not allowed for this terminal)"
        case .exceedsDailyLimit: "exceeds the payment point's daily limit"
        case .securityViolation: "security violation (MAC or terminal/certificate mismatch)"
        case .billerTimeout: "biller answered too late; the switch reverses it"
        case .billAlreadyPaid: "bill already paid"
        case .billNotAvailable: "bill not yet available"
        case .cutoverInProgress: "cut-over in progress"
        case .systemUnavailable: "biller or switch unavailable"
        case .duplicateDifferentContent: "duplicate transmission with different content"
        case .reconciliationMismatch: "reconciliation totals differ"
        case .systemMalfunction: "system malfunction"
        }
    }
}
