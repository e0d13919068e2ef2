/// Names of the Prometheus metrics (served at the console's `/metrics`). The places that record
/// them (TerminalSession, PostingEngine, TerminalServer) use swift-metrics with these labels; the
/// console bootstraps the Prometheus backend once in `sasando serve`.
public enum MetricNames {
    /// Counter, dimensions `mti` (response MTI) and `response_code` (field 39, `none` if absent).
    public static let responses = "sasando_responses_total"
    /// Timer (histogram, seconds): time from a frame's arrival to its response or decision.
    public static let requestDuration = "sasando_request_duration_seconds"
    /// Recorder (histogram): requests per posting batch.
    public static let postingBatchRequests = "sasando_posting_batch_requests"
    /// Timer (histogram, seconds): one posting batch from first statement to COMMIT.
    public static let postingBatchDuration = "sasando_posting_batch_duration_seconds"
    /// Gauge: terminal connections open on this instance.
    public static let connectionsOpen = "sasando_terminal_connections_open"
    /// Counter, dimension `kind` (`abandoned`, `failed`, `conflict`): database errors of the posting path.
    public static let databaseErrors = "sasando_database_errors_total"
}

extension Duration {
    /// Whole nanoseconds (saturating), for swift-metrics' `recordNanoseconds`.
    public var wholeNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? Int64.max : scaled + attoseconds / 1_000_000_000
    }
}
