import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
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
        let console = try await RunningConsole.start(configuration, limits: limits)
        let idle = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: console.port).get()
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
        await console.stop()
    }

    /// Given a certificate of its own (the bank's web PKI), the console shows it: a browser that
    /// trusts that CA completes the handshake, one that trusts only the terminal CA does not; and a
    /// key file others can read is refused before anything listens.
    @Test func theConsoleShowsTheCertificateItIsGiven() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("sasando-console-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let (terminalPKI, bankPKI) = (root + "/pki", root + "/bank")
        try Provisioning(pkiDirectory: terminalPKI).ensureCertificateAuthority()
        try Provisioning(pkiDirectory: bankPKI).ensureCertificateAuthority()   // stands in for the bank's web PKI
        var configuration = SwitchConfiguration()
        configuration.pkiDirectory = terminalPKI
        configuration.consolePort = 0
        configuration.consoleCertificateFile = bankPKI + "/server.pem"
        configuration.consoleKeyFile = bankPKI + "/server-key.pem"
        chmod(bankPKI + "/server-key.pem", 0o644)
        do {
            _ = try await buildApplication(configuration: configuration, dependencies: try RunningConsole.dependencies())
            Issue.record("a console key readable by others was accepted")
        } catch let refused as ConfigurationError {
            #expect(refused.description.contains("readable by group or others"), "\(refused)")
        }
        chmod(bankPKI + "/server-key.pem", 0o600)

        let console = try await RunningConsole.start(configuration)
        try await Self.handshake(port: console.port, trusting: bankPKI + "/ca.pem")
        await #expect(throws: (any Error).self, "a browser trusting only the terminal CA accepted the console") {
            try await Self.handshake(port: console.port, trusting: terminalPKI + "/ca.pem")
        }
        await console.stop()
    }

    /// A TLS handshake with the console, trusting only the CA at `caPath` (no host name check: the
    /// test certificates name the demo host). Throws unless it completes.
    static func handshake(port: Int, trusting caPath: String) async throws {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caPath))
        tls.certificateVerification = .noHostnameVerification
        let context = try NIOSSLContext(configuration: tls)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: context, serverHostname: nil))
                    try channel.pipeline.syncOperations.addHandler(HandshakeWatcher(promise: channel.eventLoop.makePromise()))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        defer { channel.close(promise: nil) }
        let watcher = try await channel.pipeline.handler(type: HandshakeWatcher.self).get()
        try await watcher.promise.futureResult.get()
    }
}

/// A console built from a configuration and running in a service group of its own, on the port it
/// got (the configuration's port 0 picks a free one).
struct RunningConsole {
    let port: Int
    let services: ServiceGroup
    let running: Task<Void, any Error>

    /// Never queried: no request reaches the router in these tests.
    static func dependencies(limits: ConsoleLimits = ConsoleLimits()) throws -> ConsoleDependencies {
        var logger = Logger(label: "console-server-test")
        logger.logLevel = .critical
        let database = try SasandoDatabase(url: "postgres://nobody@127.0.0.1:1/none", logger: logger)
        return ConsoleDependencies(database: database, businessDay: BusinessDayService(database: database),
                                   settlement: SettlementService(database: database), limits: limits, logger: logger)
    }

    static func start(_ configuration: SwitchConfiguration, limits: ConsoleLimits = ConsoleLimits()) async throws -> RunningConsole {
        let dependencies = try dependencies(limits: limits)
        let (listening, listened) = AsyncStream<Int?>.makeStream()
        let app = try await buildApplication(configuration: configuration, dependencies: dependencies, onListening: { port in
            listened.yield(port)
            listened.finish()
        })
        let services = ServiceGroup(services: [app], logger: dependencies.logger)
        let running = Task {
            defer { listened.finish() }   // a server that never listens ends the wait below
            try await services.run()
        }
        var ports = listening.makeAsyncIterator()
        guard let port = await ports.next() ?? nil else {
            running.cancel()
            throw ConfigurationError(description: "the console did not listen")
        }
        return RunningConsole(port: port, services: services, running: running)
    }

    /// A graceful shutdown, not awaited (a connection the server kept would hold it for ever), then
    /// the group is cancelled whatever happened.
    func stop() async {
        await services.triggerGracefulShutdown()
        try? await Task.sleep(for: .milliseconds(200))
        running.cancel()
    }
}

/// Completes its promise when the TLS handshake does, fails it on the first error or on close.
final class HandshakeWatcher: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    let promise: EventLoopPromise<Void>
    private var done = false   // touched on the channel's event loop only

    init(promise: EventLoopPromise<Void>) { self.promise = promise }

    private func finish(_ result: Result<Void, any Error>) {
        guard !done else { return }
        done = true
        promise.completeWith(result)
    }
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let tls = event as? TLSUserEvent, case .handshakeCompleted = tls { finish(.success(())) }
        context.fireUserInboundEventTriggered(event)
    }
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(.failure(error))
        context.close(promise: nil)
    }
    func channelInactive(context: ChannelHandlerContext) {
        finish(.failure(ChannelError.ioOnClosedChannel))
        context.fireChannelInactive()
    }
}
