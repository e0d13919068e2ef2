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
    @Test func aConnectionThatSendsNoRequestIsClosedAfterTheIdleBound() async throws {
        let pki = FileManager.default.temporaryDirectory.appendingPathComponent("sasando-console-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: pki) }
        try Provisioning(pkiDirectory: pki).ensureCertificateAuthority()
        var configuration = SwitchConfiguration()
        configuration.pkiDirectory = pki
        configuration.consolePort = 0   // a free port, reported by onListening
        #expect(configuration.consoleHost == "127.0.0.1", "the console listens on this machine only unless told")
        var limits = ConsoleLimits()
        limits.connectionIdleSecondsMax = 1
        var logger = Logger(label: "console-server-test")
        logger.logLevel = .critical
        // Never queried: no request reaches the router here.
        let database = try SasandoDatabase(url: "postgres://nobody@127.0.0.1:1/none", logger: logger)
        let (listening, listened) = AsyncStream<Int?>.makeStream()
        let app = try await buildApplication(configuration: configuration, dependencies: ConsoleDependencies(
            database: database, businessDay: BusinessDayService(database: database), settlement: SettlementService(database: database),
            limits: limits, logger: logger), onListening: { port in
                listened.yield(port)
                listened.finish()
            })
        let services = ServiceGroup(services: [app], logger: logger)
        let running = Task {
            defer { listened.finish() }   // a server that never listens ends the wait below
            try await services.run()
        }
        defer { running.cancel() }

        var ports = listening.makeAsyncIterator()
        let port = try #require(await ports.next() ?? nil, "the console did not listen")
        let idle = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port).get()
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
