// swift-tools-version:6.0
// Sasando: payment-point switch for Bank NTT. One module per layer; lower layers never import higher ones.
import PackageDescription

let package = Package(
    name: "sasando",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "sasando", targets: ["sasando"]),
        .executable(name: "sasando-load", targets: ["sasando-load"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        // Load generator latency percentiles (HDR histogram).
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        // Staff console (issue 5): HTTPS server, bcrypt, metrics.
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        // Money, identifiers, response codes, limits, masking; everything may import it. Its one
        // dependency, NIOCore, is for `EventLoopTaskExecutor`, shared by the transport and the ledger.
        .target(name: "SasandoCore", dependencies: [
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
        // The spec's field table and the ASCII ISO 8583 codec, MAC. Pure: no I/O.
        .target(name: "SasandoISO8583", dependencies: [
            "SasandoCore",
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // Terminal CA, server and terminal certificates, MAC keys (swift-certificates).
        .target(name: "SasandoPKI", dependencies: [
            "SasandoCore",
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
        ]),
        // Length framing, TLS configuration, connection handling (SwiftNIO).
        .target(name: "SasandoTransport", dependencies: [
            "SasandoCore", "SasandoISO8583",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOTLS", package: "swift-nio"),
            .product(name: "NIOExtras", package: "swift-nio-extras"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "CoreMetrics", package: "swift-metrics"),
        ]),
        // PostgreSQL: migrations, terminals, audit, ledger, posting engine.
        .target(name: "SasandoLedger", dependencies: [
            "SasandoCore", "SasandoISO8583",
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "CoreMetrics", package: "swift-metrics"),
        ]),
        // Business date, cut-over, settlement, reconciliation, reports.
        .target(name: "SasandoSettlement", dependencies: [
            "SasandoCore", "SasandoLedger", "SasandoISO8583",
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Transaction flows: sessions, inquiry, payment, reversal; billers; the server wiring.
        .target(name: "SasandoSwitch", dependencies: [
            "SasandoCore", "SasandoISO8583", "SasandoTransport", "SasandoLedger", "SasandoPKI", "SasandoSettlement",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            .product(name: "CoreMetrics", package: "swift-metrics"),
        ]),
        // Staff console over HTTPS (Hummingbird): sessions, CSRF, roles, pages, /metrics.
        .target(name: "SasandoConsole", dependencies: [
            "SasandoCore", "SasandoLedger", "SasandoSettlement", "SasandoSwitch",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .executableTarget(name: "sasando", dependencies: [
            "SasandoCore", "SasandoISO8583", "SasandoPKI", "SasandoTransport", "SasandoLedger", "SasandoSwitch", "SasandoSettlement",
            "SasandoConsole",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ]),
        // Load generator (issue 4): scenarios, HDR latency, reports, ledger audit. Entry: sasando-load.
        .target(name: "SasandoLoad", dependencies: [
            "SasandoCore", "SasandoISO8583", "SasandoPKI", "SasandoTransport", "SasandoLedger", "SasandoSwitch",
            .product(name: "Histogram", package: "hdrhistogram-swift"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "PostgresNIO", package: "postgres-nio"),
        ]),
        .executableTarget(name: "sasando-load", dependencies: [
            "SasandoLoad", "SasandoLedger",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // libFuzzer target for the codec (see README "Fuzzing").
        .executableTarget(name: "SasandoCodecFuzz", dependencies: ["SasandoISO8583"]),
        // Codec throughput benchmark (see README "Codec benchmark").
        .executableTarget(name: "SasandoCodecBench", dependencies: ["SasandoISO8583"]),

        .testTarget(name: "SasandoCoreTests", dependencies: ["SasandoCore"]),
        .testTarget(name: "SasandoISO8583Tests", dependencies: ["SasandoISO8583", "SasandoCore"]),
        .testTarget(name: "SasandoPKITests", dependencies: ["SasandoPKI", .product(name: "X509", package: "swift-certificates"), .product(name: "Crypto", package: "swift-crypto")]),
        .testTarget(name: "SasandoTransportTests", dependencies: [
            "SasandoTransport", "SasandoISO8583", "SasandoCore",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        // Console router tests (app.test(.router)) against the real PostgreSQL.
        .testTarget(name: "SasandoConsoleTests", dependencies: [
            "SasandoConsole", "SasandoLedger", "SasandoSettlement", "SasandoCore", "SasandoSwitch",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOTLS", package: "swift-nio"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "PostgresNIO", package: "postgres-nio"),
        ]),
        // Pure logic of the ledger module (no database).
        .testTarget(name: "SasandoLedgerTests", dependencies: ["SasandoLedger", "SasandoCore", "SasandoISO8583", .product(name: "NIOSSL", package: "swift-nio-ssl"), .product(name: "NIOCore", package: "swift-nio"), .product(name: "Logging", package: "swift-log")]),
        // Pure logic of the load generator (no switch, no database).
        .testTarget(name: "SasandoLoadTests", dependencies: ["SasandoLoad"]),
        .testTarget(name: "SasandoSwitchTests", dependencies: [
            "SasandoSwitch", "SasandoLedger", "SasandoISO8583", "SasandoCore", "SasandoPKI", .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "SasandoSettlementTests", dependencies: ["SasandoSettlement", "SasandoSwitch", "SasandoISO8583", "SasandoCore"]),
        // Against the real PostgreSQL started by scripts/test (SASANDO_DATABASE_URL) and real TLS on loopback.
        .testTarget(name: "SasandoIntegrationTests", dependencies: [
            "SasandoSwitch", "SasandoLedger", "SasandoPKI", "SasandoTransport", "SasandoISO8583", "SasandoCore", "SasandoSettlement",
            "SasandoLoad",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "PostgresNIO", package: "postgres-nio"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)
