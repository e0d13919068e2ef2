import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import SasandoCore
import SasandoLedger
import SasandoSettlement
import SasandoTransport
import ServiceLifecycle
import UnixSignals

/// Creates a `TerminalSession` for every authenticated connection.
struct SessionFactory: TerminalConnectionFactory {
    let directory: TerminalDirectory
    let flows: any TransactionFlows
    let registry: ConnectionRegistry
    let logger: Logger

    func connectionOpened(_ connection: TerminalConnection) async -> any TerminalConnectionDelegate {
        TerminalSession(connection: connection, directory: directory, flows: flows, registry: registry, logger: logger)
    }
}

/// The terminal listener as a Service: starts, waits for graceful shutdown, then drains.
public final class TerminalListenerService: Service, Sendable {
    public let server: TerminalServer
    private let bound: AsyncStream<SocketAddress>.Continuation
    /// Yields the bound address once listening (tests use port 0).
    public let boundAddress: AsyncStream<SocketAddress>

    init(server: TerminalServer) {
        self.server = server
        (boundAddress, bound) = AsyncStream.makeStream(of: SocketAddress.self, bufferingPolicy: .bufferingNewest(1))
    }

    public func run() async throws {
        let address = try await server.start()
        bound.yield(address)
        bound.finish()
        try? await gracefulShutdown()
        await server.shutdown()
    }
}

/// One switch instance, assembled from its parts (Hummingbird-style `buildApplication`).
public struct SwitchApplication: Sendable {
    public let database: SasandoDatabase
    public let directory: TerminalDirectory
    public let listener: TerminalListenerService
    public let registry: ConnectionRegistry
    /// Cut-over scheduler and notifier (present when a `businessDay` service was given).
    public let scheduler: BusinessDayScheduler?
    public let services: [any Service]

    /// The PKI files the listener needs, read from `configuration.pkiDirectory`.
    public static func loadServerTLS(pkiDirectory: String) throws -> NIOSSLContext {
        func read(_ name: String) throws -> String {
            let path = (pkiDirectory as NSString).appendingPathComponent(name)
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ConfigurationError(description: "cannot read \(path); run `sasando provision demo` (scripts/run does)")
            }
            return text
        }
        try ConfigurationError.requireOwnerOnly((pkiDirectory as NSString).appendingPathComponent("server-key.pem"))
        return try TLSSetup.serverContext(
            certificatePEM: try read("server.pem"), privateKeyPEM: try read("server-key.pem"), terminalCAPEM: try read("ca.pem"))
    }

    public init(configuration: SwitchConfiguration, database: SasandoDatabase, flows: any TransactionFlows,
                macKeySealer: MACKeySealer?, extraServices: [any Service] = [], sslContext: NIOSSLContext,
                group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger,
                businessDay: BusinessDayService? = nil) {
        self.database = database
        self.directory = TerminalDirectory(database: database, sealer: macKeySealer)
        self.registry = ConnectionRegistry()
        let factory = SessionFactory(directory: directory, flows: flows, registry: registry, logger: logger)
        let server = TerminalServer(
            configuration: TerminalServerConfiguration(host: configuration.host, port: configuration.port,
                                                       connectionsMax: configuration.connectionsMax,
                                                       handshakesInProgressMax: configuration.tlsHandshakesInProgressMax,
                                                       handshakesInProgressPerAddressMax: configuration.tlsHandshakesInProgressPerAddressMax),
            sslContext: sslContext, factory: factory, group: group, logger: logger)
        self.listener = TerminalListenerService(server: server)
        // Shutdown runs in reverse order: the listener drains first, the database closes last.
        let registry = self.registry
        let scheduler: BusinessDayScheduler? = businessDay.map { BusinessDayScheduler(businessDay: $0, registry: registry, logger: logger) }
        self.scheduler = scheduler
        var services: [any Service] = [database] + extraServices
        if let scheduler { services.append(scheduler) }
        self.services = services + [listener]
    }

    public func serviceGroup(logger: Logger, signals: [UnixSignal] = [.sigterm, .sigint]) -> ServiceGroup {
        ServiceGroup(configuration: .init(
            services: services.map { .init(service: $0) },
            gracefulShutdownSignals: signals,
            logger: logger))
    }
}
