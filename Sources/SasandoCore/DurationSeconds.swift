extension Duration {
    /// The duration in seconds, for printing rates (benchmarks, load-test reports).
    public var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
