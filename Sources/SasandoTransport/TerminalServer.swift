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
        /// Connections not yet through their TLS handshake, by connection ID (so the oldest first).
        var handshaking: [UInt64: (channel: any Channel, address: String)] = [:]
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
    public var handshakesInProgress: Int { state.withLockedValue { $0.handshaking.count } }

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
                // Past a handshake budget (in all, or from this address) the OLDEST connection still
                // handshaking is closed to make room, not the new one: a terminal finishes its
                // handshake in milliseconds, a socket that never starts TLS holds its slot for
                // `tlsHandshakeSecondsMax`. Refusing the newest let two hosts with 128 idle sockets
                // each shut out every reconnecting terminal; evicting the oldest means an attacker
                // must open a whole budget of sockets within one terminal's handshake.
                let (admitted, evicted): (UInt64?, (any Channel)?) = state.withLockedValue { state in
                    guard state.openConnections < configuration.connectionsMax else { return (nil, nil) }
                    var evicted: (any Channel)?
                    let fromAddress = state.handshaking.filter { $0.value.address == address }
                    if fromAddress.count >= configuration.handshakesInProgressPerAddressMax, let oldest = fromAddress.keys.min() {
                        evicted = state.handshaking.removeValue(forKey: oldest)?.channel
                    } else if state.handshaking.count >= configuration.handshakesInProgressMax, let oldest = state.handshaking.keys.min() {
                        evicted = state.handshaking.removeValue(forKey: oldest)?.channel
                    }
                    let id = state.nextConnectionID
                    state.nextConnectionID += 1
                    state.openConnections += 1
                    state.handshaking[id] = (channel, address)
                    return (id, evicted)
                }
                let openGauge = Gauge(label: MetricNames.connectionsOpen)
                guard let connectionID = admitted else {
                    logger.warning("connection cap reached; refusing", metadata: ["connectionsMax": "\(configuration.connectionsMax)"])
                    return channel.close()
                }
                if let evicted {
                    logger.warning("TLS handshake budget full; closing the oldest connection still handshaking",
                                   metadata: ["peer": "\(evicted.remoteAddress?.ipAddress ?? "?")",
                                              "handshakesInProgressMax": "\(configuration.handshakesInProgressMax)",
                                              "handshakesInProgressPerAddressMax": "\(configuration.handshakesInProgressPerAddressMax)"])
                    evicted.close(promise: nil)
                }
                // Its handshake slot is given back once (an evicted one already was): when the
                // handshake completes, or when the connection closes before that.
                let endHandshake: @Sendable () -> Void = {
                    state.withLockedValue { _ = $0.handshaking.removeValue(forKey: connectionID) }
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
