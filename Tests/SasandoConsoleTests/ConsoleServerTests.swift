import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import SasandoConsole
import SasandoLedger
import SasandoSettlement
import SasandoSwitch
import ServiceLifecycle
import Testing

/// The console as it is served (HTTPS on a real loopback socket), for what a router test cannot
/// show: a security review left a plain TCP socket, a TLS connection that never sent a request and
/// half a request header open for over two minutes each (slow clients pile up for ever).
struct ConsoleServerTests {
    static func freePort() async throws -> Int {
        let probe = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(probe.localAddress?.port)
        try await probe.close()
        return port
    }

    @Test func aConnectionThatSendsNoRequestIsClosedAfterTheIdleBound() async throws {
        let pki = FileManager.default.temporaryDirectory.appendingPathComponent("sasando-console-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: pki) }
        try Provisioning(pkiDirectory: pki).ensureCertificateAuthority()
        var configuration = SwitchConfiguration()
        configuration.pkiDirectory = pki
        configuration.consolePort = try await Self.freePort()
        #expect(configuration.consoleHost == "127.0.0.1", "the console listens on this machine only unless told")
        var limits = ConsoleLimits()
        limits.connectionIdleSecondsMax = 1
        var logger = Logger(label: "console-server-test")
        logger.logLevel = .critical
        // Never queried: no request reaches the router here.
        let database = try SasandoDatabase(url: "postgres://nobody@127.0.0.1:1/none", logger: logger)
        let app = try await buildApplication(configuration: configuration, dependencies: ConsoleDependencies(
            database: database, businessDay: BusinessDayService(database: database), settlement: SettlementService(database: database),
            limits: limits, logger: logger))
        let services = ServiceGroup(services: [app], logger: logger)
        let running = Task { try await services.run() }
        defer { running.cancel() }

        var connected: (any Channel)?
        for _ in 0..<100 where connected == nil {
            connected = try? await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(host: "127.0.0.1", port: configuration.consolePort).get()
            if connected == nil { try await Task.sleep(for: .milliseconds(50)) }
        }
        let idle = try #require(connected, "the console did not listen")
        let opened = ContinuousClock.now
        // Nothing sent: no TLS handshake, no request. The server must close it, and not at once.
        // Polled: a wait on the close future could not be given up if it never comes.
        var closedBy = false
        while !closedBy, ContinuousClock.now - opened < .seconds(6) {
            try await Task.sleep(for: .milliseconds(50))
            closedBy = !idle.isActive
        }
        let waited = ContinuousClock.now - opened
        #expect(closedBy, "still open after 6 s")
        #expect(waited >= .milliseconds(800), "closed after \(waited), before the bound")
        try? await idle.close()
        await services.triggerGracefulShutdown()
        // Not awaited: a connection the server kept would hold a graceful shutdown for ever; the
        // deferred cancel ends the group whatever happened.
        try? await Task.sleep(for: .milliseconds(200))
    }
}
