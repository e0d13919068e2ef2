import Logging
import NIOCore
import NIOSSL
import NIOTLS
import SasandoCore

/// Who is at the other end, established by the TLS handshake (certificate CN = field 41).
public struct TerminalIdentified: Sendable, Equatable {
    public let terminalID: String
    public init(terminalID: String) { self.terminalID = terminalID }
}

/// What the switch decided for one inbound frame.
public enum FrameOutcome: Sendable, Equatable {
    case reply([UInt8])
    case noReply
    /// Spec §2: a message we cannot even answer `30` to is logged and the connection closed.
    case close(reason: String)
}

/// One live terminal connection, handed to the switch. `send` writes an unsolicited message
/// (cut-over notice 0800/201) without waiting for a request.
public struct TerminalConnection: Sendable {
    public let connectionID: UInt64
    public let terminalID: String
    public let remoteAddress: String
    let channel: Channel

    public init(connectionID: UInt64, terminalID: String, remoteAddress: String, channel: Channel) {
        self.connectionID = connectionID
        self.terminalID = terminalID
        self.remoteAddress = remoteAddress
        self.channel = channel
    }

    public func send(body: [UInt8]) {
        channel.writeAndFlush(ByteBuffer(bytes: body), promise: nil)
    }

    public func close() {
        channel.close(promise: nil)
    }
}

/// The switch side of a connection: frames in, outcomes out. Called concurrently for up to
/// `Limits.requestsInFlightPerConnectionMax` frames of the same connection.
public protocol TerminalConnectionDelegate: Sendable {
    func handle(frame: [UInt8]) async -> FrameOutcome
    func connectionClosed() async
}

public protocol TerminalConnectionFactory: Sendable {
    func connectionOpened(_ connection: TerminalConnection) async -> any TerminalConnectionDelegate
}

/// After the TLS handshake, reads the verified peer certificate's CN and announces it with
/// `TerminalIdentified`. Also bounds the handshake time (a peer that never finishes it is closed).
public final class TerminalIdentityHandler: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    private let handshakeTimeout: TimeAmount
    private var timeoutTask: Scheduled<Void>?
    private let logger: Logger
    /// Told once the handshake has completed (the server's handshake budget; see `TerminalServer`).
    private let handshakeEnded: @Sendable () -> Void

    public init(handshakeTimeout: TimeAmount = .seconds(Int64(Limits.tlsHandshakeSecondsMax)), logger: Logger,
                handshakeEnded: @escaping @Sendable () -> Void = {}) {
        self.handshakeTimeout = handshakeTimeout
        self.logger = logger
        self.handshakeEnded = handshakeEnded
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        let logger = self.logger
        timeoutTask = context.eventLoop.scheduleTask(in: handshakeTimeout) {
            logger.notice("TLS handshake not completed in time; closing", metadata: ["peer": "\(channel.remoteAddress?.description ?? "?")"])
            channel.close(promise: nil)
        }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        timeoutTask?.cancel()
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let tlsEvent = event as? TLSUserEvent, case .handshakeCompleted = tlsEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        timeoutTask?.cancel()
        handshakeEnded()
        do {
            let tls = try context.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self)
            guard let certificate = tls.peerCertificate,
                  let cn = try TLSSetup.commonName(derBytes: certificate.toDERBytes()), !cn.isEmpty else {
                logger.notice("client certificate without a common name; closing")
                context.close(promise: nil)
                return
            }
            context.fireUserInboundEventTriggered(tlsEvent)
            context.fireUserInboundEventTriggered(TerminalIdentified(terminalID: cn))
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        } catch {
            logger.notice("cannot read the client certificate; closing", metadata: ["error": "\(error)"])
            context.close(promise: nil)
        }
    }
}

/// Per-connection request pump: dispatches frames to the switch, at most
/// `requestsInFlightMax` at once; past that it stops reading from the socket (back-pressure) and
/// resumes as responses drain. Frames already read are queued, never dropped. Responses go out in
/// completion order (spec §1 allows any order; terminals match them by 41/11/7).
public final class TerminalConnectionHandler: ChannelDuplexHandler {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private let factory: any TerminalConnectionFactory
    private let connectionID: UInt64
    private let requestsInFlightMax: Int
    private var logger: Logger

    private var delegate: (any TerminalConnectionDelegate)?
    private var awaitingDelegate = false
    /// Frames read but not yet dispatched. Bounded by what one socket read can hold (the channel's
    /// receive allocator caps a read), because no further read is issued while this is non-empty.
    private var pending = CircularBuffer<ByteBuffer>()
    private(set) var inFlight = 0
    private var readHeld = false
    private var quiescing = false
    private var closed = false
    /// Responses written but not yet flushed: one flush (one TLS record batch, one syscall) for
    /// every response that completes in the same event-loop tick, as a batch commit releases many.
    private var flushScheduled = false
    /// This connection's event loop as a task executor, made at the first request.
    private var taskExecutor: EventLoopTaskExecutor?

    public init(factory: any TerminalConnectionFactory, connectionID: UInt64,
                requestsInFlightMax: Int = Limits.requestsInFlightPerConnectionMax, logger: Logger) {
        precondition(requestsInFlightMax > 0)
        self.factory = factory
        self.connectionID = connectionID
        self.requestsInFlightMax = requestsInFlightMax
        self.logger = logger
        self.logger[metadataKey: "connection"] = "\(connectionID)"
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        pending.append(unwrapInboundIn(data))
        drain(context: context)
    }

    public func read(context: ChannelHandlerContext) {
        if quiescing || inFlight >= requestsInFlightMax || !pending.isEmpty || delegate == nil && awaitingDelegate
            || !context.channel.isWritable {
            readHeld = true
        } else {
            context.read()
        }
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case let identified as TerminalIdentified:
            logger[metadataKey: "terminal"] = "\(identified.terminalID)"
            let connection = TerminalConnection(
                connectionID: connectionID, terminalID: identified.terminalID,
                remoteAddress: context.channel.remoteAddress?.ipAddress ?? "?", channel: context.channel)
            awaitingDelegate = true
            let factory = self.factory
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            let eventLoop = context.eventLoop
            Task {
                let delegate = await factory.connectionOpened(connection)
                eventLoop.execute {
                    let (handler, context) = loopBound.value
                    handler.delegateReady(delegate, context: context)
                }
            }
        case let idle as IdleStateHandler.IdleStateEvent where idle == .read:
            logger.info("connection idle too long; closing", metadata: ["idleSecondsMax": "\(Limits.connectionIdleSecondsMax)"])
            context.close(promise: nil)
        case is ChannelShouldQuiesceEvent:
            // Graceful shutdown: stop taking requests, answer those in flight, then close.
            quiescing = true
            closeIfQuiesced(context: context)
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        drain(context: context)
        context.fireChannelWritabilityChanged()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        closed = true
        if let delegate {
            Task { await delegate.connectionClosed() }
        }
        context.fireChannelInactive()
    }

    public func errorCaught(context: ChannelHandlerContext, error: Any & Error) {
        if let frameError = error as? FrameLengthError {
            logger.warning("untrustworthy frame; closing", metadata: ["reason": "\(frameError)"])
        } else if let tls = error as? NIOSSLError, case .uncleanShutdown = tls {
            // A terminal that drops the link without close_notify: common, and harmless here.
            logger.debug("connection closed without TLS close_notify")
        } else if error is NIOSSLError || error is BoringSSLError {
            logger.notice("TLS failure; closing", metadata: ["error": "\(error)"])
        } else {
            logger.notice("connection error; closing", metadata: ["error": "\(error)"])
        }
        context.close(promise: nil)
    }

    private func delegateReady(_ delegate: any TerminalConnectionDelegate, context: ChannelHandlerContext) {
        self.delegate = delegate
        awaitingDelegate = false
        if closed {
            Task { await delegate.connectionClosed() }
            return
        }
        drain(context: context)
    }

    private func drain(context: ChannelHandlerContext) {
        guard let delegate, !closed else { return }
        while inFlight < requestsInFlightMax, let frame = pending.popFirst() {
            dispatch(frame, to: delegate, context: context)
        }
        // A terminal that does not read its responses is not read from either: outbound bytes stay
        // under the channel's high water mark (`Limits.outboundBufferBytesMax`).
        if readHeld, pending.isEmpty, inFlight < requestsInFlightMax, !quiescing, context.channel.isWritable {
            readHeld = false
            context.read()
        }
    }

    private func dispatch(_ frame: ByteBuffer, to delegate: any TerminalConnectionDelegate, context: ChannelHandlerContext) {
        inFlight += 1
        let bytes = Array(frame.readableBytesView)
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        let executor = taskExecutor ?? EventLoopTaskExecutor(eventLoop: eventLoop)
        taskExecutor = executor
        // The request's task runs on this connection's event loop (its executor preference), not
        // on the global pool: no hop to another thread to start it or to write its answer, and
        // a posting's resumption wakes this loop only. See `EventLoopTaskExecutor`.
        Task(executorPreference: executor) {
            let outcome = await delegate.handle(frame: bytes)
            let complete = { let (handler, context) = loopBound.value; handler.completed(outcome, context: context) }
            // On the loop already, by the preference; the hop is for a task that was not.
            if eventLoop.inEventLoop { complete() } else { eventLoop.execute(complete) }
        }
    }

    private func completed(_ outcome: FrameOutcome, context: ChannelHandlerContext) {
        inFlight -= 1
        assert(inFlight >= 0)
        guard !closed else { return }
        switch outcome {
        case .reply(let body):
            context.write(wrapOutboundOut(context.channel.allocator.buffer(bytes: body)), promise: nil)
            scheduleFlush(context: context)
        case .noReply:
            break
        case .close(let reason):
            logger.warning("closing connection", metadata: ["reason": "\(reason)"])
            context.flush()  // responses already written still go out
            context.close(promise: nil)
            return
        }
        drain(context: context)
        if quiescing { closeIfQuiesced(context: context) }
    }

    private func scheduleFlush(context: ChannelHandlerContext) {
        guard !flushScheduled else { return }
        flushScheduled = true
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let (handler, context) = loopBound.value
            handler.flushScheduled = false
            context.flush()
        }
    }

    private func closeIfQuiesced(context: ChannelHandlerContext) {
        // Frames already read are still answered; only new reads stop. The server bounds the whole
        // drain by `Limits.shutdownDrainSecondsMax`.
        guard inFlight == 0, pending.isEmpty || delegate == nil, !closed else { return }
        context.flush()  // the last responses are written, maybe not yet flushed
        context.close(promise: nil)
    }
}
