import CoreMetrics
import Prometheus
import SasandoCore

/// The Prometheus backend behind swift-metrics. `sasando serve` bootstraps it once; the console's
/// `/metrics` serves the registry.
public enum ConsoleMetrics {
    public static func bootstrap() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // Request latency: the switch answers in milliseconds; 91 comes after databaseWaitMilliseconds (default 2 s).
        factory.defaultDurationHistogramBuckets = [
            .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
            .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2_500), .seconds(5),
        ]
        factory.valueHistogramBuckets[MetricNames.postingBatchRequests] = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000]
        MetricsSystem.bootstrap(factory)
        // Present from the start so dashboards see the series before the first event.
        Gauge(label: MetricNames.connectionsOpen).record(0)
        return registry
    }
}
