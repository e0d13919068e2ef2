import Logging
import NIOCore
import NIOEmbedded
import SasandoTransport
import Synchronization
import Testing

/// Holds every `handle` call until the test releases it, and records how many ran at once.
actor Gate {
    private var waiting: [CheckedContinuation<Void, Never>] = []
    private(set) var started: [[UInt8]] = []
    private(set) var active = 0
    private(set) var maxActive = 0

    func enter(_ frame: [UInt8]) async {
        started.append(frame)
        active += 1
        maxActive = max(maxActive, active)
        await withCheckedContinuation { waiting.append($0) }
        active -= 1
    }

    var waitingCount: Int { waiting.count }

    @discardableResult
    func releaseOne() -> Bool {
        guard !waiting.isEmpty else { return false }
        waiting.removeFirst().resume()
        return true
    }

    func releaseAll() {
        let all = waiting
        waiting.removeAll()
        all.forEach { $0.resume() }
    }
}

final class Counters: Sendable {
    let reads = Mutex(0)
    let opened = Mutex<[String]>([])
    let closed = Mutex(0)
}

struct GatedDelegate: TerminalConnectionDelegate {
    let gate: Gate
    let counters: Counters
    func handle(frame: [UInt8]) async -> FrameOutcome {
        await gate.enter(frame)
        return .reply(frame)  // echo the frame back so every reply is identifiable
    }
    func connectionClosed() async {
        counters.closed.withLock { $0 += 1 }
    }
}

struct GatedFactory: TerminalConnectionFactory {
    let gate: Gate
    let counters: Counters
    func connectionOpened(_ connection: TerminalConnection) async -> any TerminalConnectionDelegate {
        counters.opened.withLock { $0.append(connection.terminalID) }
        return GatedDelegate(gate: gate, counters: counters)
    }
}

/// Sits between the head and the connection handler: counts the reads the handler lets through.
final class ReadCountingHandler: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let counters: Counters
    init(counters: Counters) { self.counters = counters }
    func read(context: ChannelHandlerContext) {
        counters.reads.withLock { $0 += 1 }
        context.read()
    }
}

@Suite("TerminalConnectionHandler in-flight window and back-pressure")
struct TerminalConnectionHandlerTests {
    static let windowMax = 2

    struct Fixture {
        let channel: NIOAsyncTestingChannel
        let gate: Gate
        let counters: Counters
    }

    private func makeFixture() async throws -> Fixture {
        let gate = Gate()
        let counters = Counters()
        let channel = NIOAsyncTestingChannel()
        let factory = GatedFactory(gate: gate, counters: counters)
        try await channel.testingEventLoop.executeInContext {
            let sync = channel.pipeline.syncOperations
            try sync.addHandler(ReadCountingHandler(counters: counters))
            try sync.addHandler(ByteToMessageHandler(ISOFrameDecoder()))
            try sync.addHandler(MessageToByteHandler(ISOFrameEncoder()))
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            try sync.addHandler(TerminalConnectionHandler(factory: factory, connectionID: 7,
                                                          requestsInFlightMax: Self.windowMax, logger: logger))
        }
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 40_000)).get()
        return Fixture(channel: channel, gate: gate, counters: counters)
    }

    private func identify(_ fixture: Fixture, terminalID: String = "T0000001") async throws {
        fixture.channel.pipeline.fireUserInboundEventTriggered(TerminalIdentified(terminalID: terminalID))
        try await poll(fixture) { fixture.counters.opened.withLock { $0 } == [terminalID] }
    }

    /// Polls `condition`, running the loop (request tasks run on it: their executor preference),
    /// at most ~3 s.
    private func poll(_ fixture: Fixture, _ what: Comment = "condition", _ condition: () async throws -> Bool) async throws {
        for _ in 0..<600 {
            await fixture.channel.testingEventLoop.run()
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(5))
        }
        Issue.record("timed out waiting for \(what)")
        throw CancellationError()
    }

    private func frame(_ n: Int) -> [UInt8] {
        Array("FRAME-\(String(format: "%04d", n))-PADDING-XXXXX".utf8)  // 30 bytes
    }

    private func wire(_ frames: [[UInt8]]) -> ByteBuffer {
        var buffer = ByteBuffer()
        for f in frames { buffer.writeBytes(ByteBuffer.framed(f).readableBytesView) }
        return buffer
    }

    private func drainOutbound(_ channel: NIOAsyncTestingChannel, into replies: inout [[UInt8]]) async throws {
        while let out = try await channel.readOutbound(as: ByteBuffer.self) {
            var out = out
            // One write is one framed reply.
            let header = out.readInteger(as: UInt16.self)
            let length = Int(try #require(header))
            #expect(out.readableBytes == length)
            replies.append(Array(out.readableBytesView))
        }
    }

    @Test func atMostWindowDispatchedReadsHeldAndNothingDropped() async throws {
        let fixture = try await makeFixture()
        let channel = fixture.channel
        try await identify(fixture)

        let frames = (1...7).map(frame)
        try await channel.writeInbound(wire(frames))

        try await poll(fixture, "window full") { await fixture.gate.active == Self.windowMax }
        // Settle: nothing more may be dispatched while the window is full.
        try await Task.sleep(for: .milliseconds(100))
        #expect(await fixture.gate.active == Self.windowMax)
        #expect(await fixture.gate.started.count == Self.windowMax)

        // A read asked for while the window is full is not forwarded towards the socket.
        let readsBefore = fixture.counters.reads.withLock { $0 }
        channel.read()
        await channel.testingEventLoop.run()
        #expect(fixture.counters.reads.withLock { $0 } == readsBefore)

        var replies: [[UInt8]] = []
        try await drainOutbound(channel, into: &replies)
        #expect(replies.isEmpty, "nothing answered before release")

        // Release one at a time: each release answers one frame and admits the next.
        for released in 1...frames.count {
            #expect(await fixture.gate.releaseOne())
            try await poll(fixture, "reply \(released)") {
                try await drainOutbound(channel, into: &replies)
                return replies.count == released
            }
            let expectedActive = min(Self.windowMax, frames.count - released)
            try await poll(fixture, "window refilled after \(released)") { await fixture.gate.active == expectedActive }
            #expect(await fixture.gate.maxActive <= Self.windowMax)
            if released < frames.count - Self.windowMax + 1 {
                // Frames still queued: the read stays held.
                #expect(fixture.counters.reads.withLock { $0 } == readsBefore)
            }
        }

        #expect(await fixture.gate.maxActive == Self.windowMax)
        // The first window's frames are dispatched together, each in its own task, so they may reach
        // the gate in either order; every later frame is admitted alone, after a release, in order.
        let started = await fixture.gate.started
        #expect(started.count == frames.count, "none dropped, none twice")
        #expect(Set(started.prefix(Self.windowMax)) == Set(frames.prefix(Self.windowMax)))
        #expect(Array(started.dropFirst(Self.windowMax)) == Array(frames.dropFirst(Self.windowMax)), "queued frames dispatched in order")
        #expect(Set(replies.map { $0 }) .count == frames.count)
        #expect(replies.sorted { $0.lexicographicallyPrecedes($1) } == frames)

        // Queue drained and window open: the held read went out once.
        try await poll(fixture, "held read released") { fixture.counters.reads.withLock { $0 } == readsBefore + 1 }
        // And new reads pass straight through.
        channel.read()
        await channel.testingEventLoop.run()
        #expect(fixture.counters.reads.withLock { $0 } == readsBefore + 2)

        _ = try await channel.finish(acceptAlreadyClosed: true)
    }

    @Test func readsForwardedWhileWindowHasRoom() async throws {
        let fixture = try await makeFixture()
        let channel = fixture.channel
        try await identify(fixture)
        try await channel.writeInbound(wire([frame(1)]))
        try await poll(fixture, "one in flight") { await fixture.gate.active == 1 }
        let before = fixture.counters.reads.withLock { $0 }
        channel.read()
        await channel.testingEventLoop.run()
        #expect(fixture.counters.reads.withLock { $0 } == before + 1)
        await fixture.gate.releaseAll()
        var replies: [[UInt8]] = []
        try await poll(fixture, "reply") {
            try await drainOutbound(channel, into: &replies)
            return replies.count == 1
        }
        #expect(replies == [frame(1)])
        _ = try await channel.finish(acceptAlreadyClosed: true)
    }

    @Test func framesBeforeDelegateReadyAreQueuedNotDropped() async throws {
        let fixture = try await makeFixture()
        let channel = fixture.channel
        // Frames arrive before the terminal is identified: held until the delegate exists.
        let frames = (1...3).map(frame)
        try await channel.writeInbound(wire(frames))
        try await Task.sleep(for: .milliseconds(50))
        #expect(await fixture.gate.started.isEmpty)
        try await identify(fixture)
        try await poll(fixture, "window full") { await fixture.gate.active == Self.windowMax }
        var replies: [[UInt8]] = []
        for _ in 0..<10 {
            await fixture.gate.releaseAll()
            try await drainOutbound(channel, into: &replies)
            if replies.count == frames.count { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        try await poll(fixture, "all replies") {
            await fixture.gate.releaseAll()
            try await drainOutbound(channel, into: &replies)
            return replies.count == frames.count
        }
        #expect(await fixture.gate.started == frames)
        #expect(await fixture.gate.maxActive <= Self.windowMax)
        _ = try await channel.finish(acceptAlreadyClosed: true)
    }

    @Test func connectionClosedReachesDelegate() async throws {
        let fixture = try await makeFixture()
        try await identify(fixture)
        try await fixture.channel.close().get()
        try await poll(fixture, "connectionClosed") { fixture.counters.closed.withLock { $0 } == 1 }
    }

    @Test func oversizedFrameClosesChannel() async throws {
        let fixture = try await makeFixture()
        try await identify(fixture)
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt16(5000))
        _ = try? await fixture.channel.writeInbound(buffer)
        try await poll(fixture, "closed") { !fixture.channel.isActive }
        #expect(await fixture.gate.started.isEmpty)
    }
}
