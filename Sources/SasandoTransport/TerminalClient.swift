import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import SasandoCore
import SasandoISO8583

public enum TerminalClientError: Error, Equatable, CustomStringConvertible {
    case timedOut(seconds: Int)
    case connectionClosed
    case tooManyInFlight(Int)
    case duplicateKeyInFlight(String)

    public var description: String {
        switch self {
        case .timedOut(let seconds): "no response within \(seconds) s"
        case .connectionClosed: "the switch closed the connection"
        case .tooManyInFlight(let max): "more than \(max) requests in flight"
        case .duplicateKeyInFlight(let key): "a request with key \(key) is already in flight"
        }
    }
}

/// A terminal's side of the link: mutual TLS, framing, and responses matched to requests by
/// (41, 11, 7) as spec §1 says (so several may be in flight and answered in any order).
/// Used by the `sasando terminal` CLI, the tests and the load generator.
public final class TerminalClient: Sendable {
    public let channel: Channel
    private let matcher: ResponseMatcher
    public let responseTimeoutSeconds: Int

    /// Messages the switch sent on its own (cut-over notice 0800/201), in arrival order.
    public var unsolicited: AsyncStream<ISOMessage> { matcher.unsolicitedStream }

    private init(channel: Channel, matcher: ResponseMatcher, responseTimeoutSeconds: Int) {
        self.channel = channel
        self.matcher = matcher
        self.responseTimeoutSeconds = responseTimeoutSeconds
    }

    public static func connect(host: String, port: Int, sslContext: NIOSSLContext, group: any EventLoopGroup,
                               responseTimeoutSeconds: Int = 30,
                               requestsInFlightMax: Int = Limits.requestsInFlightPerConnectionMax) async throws -> TerminalClient {
        let matcher = ResponseMatcher(requestsInFlightMax: requestsInFlightMax)
        let isIPAddress = (try? SocketAddress(ipAddress: host, port: port)) != nil
        let channel = try await ClientBootstrap(group: group)
            .connectTimeout(.seconds(10))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(NIOSSLClientHandler(context: sslContext, serverHostname: isIPAddress ? nil : host))
                    // Responses are bounded by the same frame limits as requests.
                    try sync.addHandler(ByteToMessageHandler(ISOFrameDecoder()))
                    try sync.addHandler(MessageToByteHandler(ISOFrameEncoder()))
                    try sync.addHandler(ResponseMatchingHandler(matcher: matcher))
                }
            }
            .connect(host: host, port: port).get()
        // One timer per connection, not one per request: each second, requests past their deadline
        // fail with `timedOut` (so a timeout fires 0-1 s after `responseTimeoutSeconds`).
        let sweep = channel.eventLoop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { [matcher] _ in
            matcher.failExpired(now: .now(), error: TerminalClientError.timedOut(seconds: responseTimeoutSeconds))
        }
        channel.closeFuture.whenComplete { _ in sweep.cancel() }
        return TerminalClient(channel: channel, matcher: matcher, responseTimeoutSeconds: responseTimeoutSeconds)
    }

    /// Sends a request and waits for its response. With `macKey`, the request carries a MAC (spec §7).
    public func send(_ request: ISOMessage, macKey: [UInt8]? = nil) async throws -> ISOMessage {
        try await sendFuture(request, macKey: macKey).get()
    }

    /// Sends raw body bytes (tests of malformed input) and waits for a response with `key`.
    public func send(body: [UInt8], key: String) async throws -> ISOMessage {
        try await sendFuture(body: body, key: key).get()
    }

    /// As `send`, without a task: the response completes the future on the connection's event
    /// loop. Called on that loop (the load generator's closed and open loops), the write goes out
    /// at once, with no hop between threads.
    public func sendFuture(_ request: ISOMessage, macKey: [UInt8]? = nil) -> EventLoopFuture<ISOMessage> {
        do {
            let body = if let macKey { try ISO8583Codec.encodeWithMAC(request, key: macKey) } else { try ISO8583Codec.encode(request) }
            return sendFuture(body: body, key: ResponseMatcher.key(request))
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
    }

    public func sendFuture(body: [UInt8], key: String) -> EventLoopFuture<ISOMessage> {
        guard channel.isActive else { return channel.eventLoop.makeFailedFuture(TerminalClientError.connectionClosed) }
        let promise = channel.eventLoop.makePromise(of: ISOMessage.self)
        do {
            try matcher.register(key: key, promise: promise, deadline: .now() + .seconds(Int64(responseTimeoutSeconds)))
        } catch {
            promise.fail(error)
            return promise.futureResult
        }
        // A write that fails (the switch closed the link meanwhile) fails this request at once.
        let written = channel.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenFailure { [matcher] _ in matcher.fail(key: key, error: TerminalClientError.connectionClosed) }
        channel.writeAndFlush(ByteBuffer(bytes: body), promise: written)
        return promise.futureResult
    }

    /// Writes bytes as they are, with no framing: for tests of broken peers.
    public func writeRaw(_ bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes)).get()
    }

    /// Answers a switch notice (0800/201 -> 0810 with 39 = 00).
    public func acknowledge(_ notice: ISOMessage) async throws {
        var response = notice
        response.mti = "0810"
        response[39] = ResponseCode.approved.rawValue
        try await channel.writeAndFlush(ByteBuffer(bytes: try ISO8583Codec.encode(response))).get()
    }

    public func close() async {
        try? await channel.close()
    }
}

/// Pending requests by (41, 11, 7). Thread-safe: registered from any task, completed on the event loop.
final class ResponseMatcher: Sendable {
    private struct Pending { var promise: EventLoopPromise<ISOMessage>; var deadline: NIODeadline }
    private let pending = NIOLockedValueBox([String: Pending]())
    private let requestsInFlightMax: Int
    let unsolicitedStream: AsyncStream<ISOMessage>
    private let unsolicitedContinuation: AsyncStream<ISOMessage>.Continuation

    init(requestsInFlightMax: Int) {
        self.requestsInFlightMax = requestsInFlightMax
        // Bounded: a terminal that never reads notices keeps only the newest few.
        (unsolicitedStream, unsolicitedContinuation) = AsyncStream.makeStream(of: ISOMessage.self, bufferingPolicy: .bufferingNewest(16))
    }

    static func key(_ message: ISOMessage) -> String {
        "\(message[41] ?? "")|\(message[11] ?? "")|\(message[7] ?? "")"
    }

    func register(key: String, promise: EventLoopPromise<ISOMessage>, deadline: NIODeadline) throws {
        try pending.withLockedValue { pending in
            guard pending.count < requestsInFlightMax else { throw TerminalClientError.tooManyInFlight(requestsInFlightMax) }
            guard pending[key] == nil else { throw TerminalClientError.duplicateKeyInFlight(key) }
            pending[key] = Pending(promise: promise, deadline: deadline)
        }
    }

    func complete(_ message: ISOMessage) -> Bool {
        guard let entry = pending.withLockedValue({ $0.removeValue(forKey: Self.key(message)) }) else { return false }
        entry.promise.succeed(message)
        return true
    }

    func fail(key: String, error: any Error) {
        pending.withLockedValue { $0.removeValue(forKey: key) }?.promise.fail(error)
    }

    /// Fails every request whose deadline has passed (at most `requestsInFlightMax` to look at).
    func failExpired(now: NIODeadline, error: any Error) {
        let expired = pending.withLockedValue { pending -> [EventLoopPromise<ISOMessage>] in
            let keys = pending.filter { $0.value.deadline <= now }.map(\.key)
            return keys.compactMap { pending.removeValue(forKey: $0)?.promise }
        }
        expired.forEach { $0.fail(error) }
    }

    func failAll(_ error: any Error) {
        let all = pending.withLockedValue { pending in
            defer { pending.removeAll() }
            return pending.values.map(\.promise)
        }
        all.forEach { $0.fail(error) }
        unsolicitedContinuation.finish()
    }

    func deliverUnsolicited(_ message: ISOMessage) {
        unsolicitedContinuation.yield(message)
    }
}

final class ResponseMatchingHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let matcher: ResponseMatcher

    init(matcher: ResponseMatcher) { self.matcher = matcher }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let body = Array(unwrapInboundIn(data).readableBytesView)
        guard let message = try? ISO8583Codec.decode(body) else { return }
        if !matcher.complete(message) {
            matcher.deliverUnsolicited(message)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        matcher.failAll(TerminalClientError.connectionClosed)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        matcher.failAll(error)
        context.close(promise: nil)
    }
}
