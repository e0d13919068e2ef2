import CoreMetrics
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOExtras
import NIOPosix
import NIOSSL
import SasandoCore

public struct TerminalServerConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var connectionsMax: Int
    public var handshakesInProgressMax: Int
    public var handshakesInProgressPerAddressMax: Int
    public var idleTimeout: TimeAmount
    public var requestsInFlightPerConnectionMax: Int

    public init(host: String = "0.0.0.0", port: Int = 8583,
                connectionsMax: Int = Limits.connectionsMax,
                handshakesInProgressMax: Int = Limits.tlsHandshakesInProgressMax,
                handshakesInProgressPerAddressMax: Int = Limits.tlsHandshakesInProgressPerAddressMax,
                idleTimeout: TimeAmount = .seconds(Int64(Limits.connectionIdleSecondsMax)),
                requestsInFlightPerConnectionMax: Int = Limits.requestsInFlightPerConnectionMax) {
        self.host = host
        self.port = port
        self.connectionsMax = connectionsMax
        self.handshakesInProgressMax = handshakesInProgressMax
        self.handshakesInProgressPerAddressMax = handshakesInProgressPerAddressMax
        self.idleTimeout = idleTimeout
        self.requestsInFlightPerConnectionMax = requestsInFlightPerConnectionMax
    }
}

/// Socket read sizing: one read cycle takes at most `socketReadBytesMax * readsPerCycleMax` bytes,
/// which bounds the frames a connection can have queued behind its in-flight window.
public enum TransportLimits {
    public static let socketReadBytesMax = 16 * 1024
    public static let readsPerCycleMax: UInt = 4
    public static let outboundBufferBytesLowWater = 32 * 1024
}

/// The terminal listener: mutual TLS, framing, per-connection back-pressure, a connection cap,
/// idle timeout and graceful drain on shutdown.
public final class TerminalServer: Sendable {
    private let configuration: TerminalServerConfiguration
    private let sslContext: NIOSSLContext
    private let factory: any TerminalConnectionFactory
    private let group: any EventLoopGroup
    private let logger: Logger
    private let quiesce: ServerQuiescingHelper
    private let state = NIOLockedValueBox(State())

    private struct State {
        var channel: Channel?
        var openConnections = 0
        var nextConnectionID: UInt64 = 1
        /// Connections not yet through their TLS handshake: in all, and by remote address.
        var handshaking = 0
        var handshakingByAddress: [String: Int] = [:]
    }

    public init(configuration: TerminalServerConfiguration, sslContext: NIOSSLContext,
                factory: any TerminalConnectionFactory, group: any EventLoopGroup, logger: Logger) {
        self.configuration = configuration
        self.sslContext = sslContext
        self.factory = factory
        self.group = group
        self.logger = logger
        self.quiesce = ServerQuiescingHelper(group: group)
    }

    public var openConnections: Int { state.withLockedValue { $0.openConnections } }
    /// Connections not yet through their TLS handshake.
    public var handshakesInProgress: Int { state.withLockedValue { $0.handshaking } }

    /// Binds and starts accepting; returns the bound address (port 0 picks a free port).
    @discardableResult
    public func start() async throws -> SocketAddress {
        let configuration = self.configuration
        let sslContext = self.sslContext
        let factory = self.factory
        let logger = self.logger
        let quiesce = self.quiesce
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(quiesce.makeServerChannelHandler(channel: channel))
                }
            }
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 256, initial: 2048, maximum: TransportLimits.socketReadBytesMax))
            .childChannelOption(.maxMessagesPerRead, value: TransportLimits.readsPerCycleMax)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: TransportLimits.outboundBufferBytesLowWater, high: Limits.outboundBufferBytesMax))
            .childChannelInitializer { [state] channel in
                let address = channel.remoteAddress?.ipAddress ?? "?"
                enum Admission { case admitted(UInt64), connectionCap, handshakeCap, addressHandshakeCap }
                let admission: Admission = state.withLockedValue { state in
                    guard state.openConnections < configuration.connectionsMax else { return .connectionCap }
                    guard state.handshaking < configuration.handshakesInProgressMax else { return .handshakeCap }
                    guard state.handshakingByAddress[address, default: 0] < configuration.handshakesInProgressPerAddressMax else {
                        return .addressHandshakeCap
                    }
                    state.openConnections += 1
                    state.handshaking += 1
                    state.handshakingByAddress[address, default: 0] += 1
                    defer { state.nextConnectionID += 1 }
                    return .admitted(state.nextConnectionID)
                }
                let openGauge = Gauge(label: MetricNames.connectionsOpen)
                let connectionID: UInt64
                switch admission {
                case .admitted(let id): connectionID = id
                case .connectionCap:
                    logger.warning("connection cap reached; refusing", metadata: ["connectionsMax": "\(configuration.connectionsMax)"])
                    return channel.close()
                case .handshakeCap:
                    logger.warning("too many TLS handshakes in progress; refusing",
                                   metadata: ["handshakesInProgressMax": "\(configuration.handshakesInProgressMax)"])
                    return channel.close()
                case .addressHandshakeCap:
                    logger.warning("too many TLS handshakes in progress from one address; refusing",
                                   metadata: ["peer": "\(address)", "handshakesInProgressPerAddressMax": "\(configuration.handshakesInProgressPerAddressMax)"])
                    return channel.close()
                }
                // Its handshake slot is given back once: when the handshake completes, or when the
                // connection closes before that.
                let handshakeOver = NIOLockedValueBox(false)
                let endHandshake: @Sendable () -> Void = {
                    guard handshakeOver.withLockedValue({ over in defer { over = true }; return !over }) else { return }
                    state.withLockedValue { state in
                        state.handshaking -= 1
                        state.handshakingByAddress[address, default: 1] -= 1
                        if state.handshakingByAddress[address] == 0 { state.handshakingByAddress[address] = nil }
                    }
                }
                openGauge.record(state.withLockedValue { $0.openConnections })
                channel.closeFuture.whenComplete { _ in
                    endHandshake()
                    openGauge.record(state.withLockedValue { state in state.openConnections -= 1; return state.openConnections })
                }
                return channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(IdleStateHandler(readTimeout: configuration.idleTimeout))
                    try sync.addHandler(NIOSSLServerHandler(context: sslContext))
                    try sync.addHandler(TerminalIdentityHandler(logger: logger, handshakeEnded: endHandshake))
                    try sync.addHandler(ByteToMessageHandler(ISOFrameDecoder()))
                    try sync.addHandler(MessageToByteHandler(ISOFrameEncoder()))
                    try sync.addHandler(TerminalConnectionHandler(
                        factory: factory, connectionID: connectionID,
                        requestsInFlightMax: configuration.requestsInFlightPerConnectionMax, logger: logger))
                }
            }
        let channel = try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
        state.withLockedValue { $0.channel = channel }
        let address = channel.localAddress!
        logger.info("terminal listener up", metadata: ["address": "\(address)"])
        return address
    }

    /// Stops accepting, lets every connection answer what it has read, then closes them. Connections
    /// still busy after `drainTimeout` are closed anyway.
    public func shutdown(drainTimeout: TimeAmount = .seconds(Int64(Limits.shutdownDrainSecondsMax))) async {
        guard state.withLockedValue({ $0.channel }) != nil else { return }
        let promise = group.next().makePromise(of: Void.self)
        quiesce.initiateShutdown(promise: promise)
        let timeout = group.next().scheduleTask(in: drainTimeout) {
            promise.fail(ChannelError.ioOnClosedChannel)
        }
        do {
            try await promise.futureResult.get()
            timeout.cancel()
            logger.info("terminal listener drained and closed")
        } catch {
            logger.warning("drain timed out; closing remaining connections")
        }
    }
}
