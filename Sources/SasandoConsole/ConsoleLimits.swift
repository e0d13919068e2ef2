import SasandoCore

/// Every bound of the staff console, with its unit last (README "Staff console"). Tests shorten
/// some of them; production uses the defaults.
public struct ConsoleLimits: Sendable {
    /// A session ends this long after login, whatever happens (absolute expiry; no sliding renewal).
    public var sessionSecondsMax = 8 * 3600
    /// A session with no request for this long has ended (an unattended browser; bank policy is
    /// commonly 15 minutes), whatever `sessionSecondsMax` says.
    public var sessionIdleSecondsMax = 15 * 60
    /// Failed logins for one username within `loginFailureWindowSeconds` that trigger a lockout.
    public var loginFailuresPerUserMax = 5
    /// Failed logins from one client address within the window that trigger a lockout (password spraying).
    public var loginFailuresPerAddressMax = 20
    /// The window in which failures are counted.
    public var loginFailureWindowSeconds = 15 * 60
    /// How long logins are refused (429) after the last failure that crossed a limit.
    public var lockoutSeconds = 15 * 60
    /// A console connection with no request in progress for this long is closed: it never finished
    /// its TLS handshake, sent half a request header, or sat idle after its last answer.
    public var connectionIdleSecondsMax = 30
    /// Largest POST body read (forms are small; anything bigger is refused with 413).
    public var requestBodyBytesMax = 16 * 1024
    /// Rows shown by transaction search and the audit log.
    public var searchRowsMax = 200
    public var auditRowsMax = 200
    /// Payment points listed on one page.
    public var paymentPointsMax = 1_000
    /// Terminals listed on one page.
    public var terminalsMax = 2_000
    /// Password length accepted by `sasando staff add`; bcrypt reads at most 72 bytes.
    public static let passwordBytesMin = 12
    public static let passwordBytesMax = 72
    /// Different characters a new password must have (`aaaaaaaaaaaa` is refused).
    public static let passwordDistinctCharactersMin = 6
    /// bcrypt cost for new password hashes (2^cost rounds).
    public static let bcryptCost: UInt8 = 12
    /// A deposit below this is listed as an alert on the dashboard (Rp 5.000.000).
    public var depositAlertSenMin: Int64 = 5_000_000 * 100
    /// The dashboard's TPS chart covers this many minutes.
    public var tpsChartMinutes = 15
    /// Largest single top-up from the console (Rp 1.000.000.000).
    public var topUpSenMax: Int64 = Limits.staffTopUpSenMax
    /// A console query (a page's read, a session lookup, an audit insert) that has no answer by
    /// then gets the 503 page: the console answers even when PostgreSQL does not.
    public var databaseQueryMillisecondsMax = 10_000
    /// Headless Chromium gets this long to print a PDF before it is killed.
    public var pdfRenderSecondsMax = 30
    /// Largest PDF accepted from Chromium.
    public var pdfBytesMax = 20 * 1024 * 1024

    public init() {}
}
