import CoreMetrics
import Foundation
import Logging
import NIOCore
import PostgresNIO
import SasandoCore
import SasandoISO8583
import ServiceLifecycle
import Synchronization

public struct PostingEngineConfiguration: Sendable {
    /// A batch closes at this many requests...
    public var batchRequestsMax: Int
    /// ...or this long after its first request arrived.
    public var batchWaitMicroseconds: Int
    /// Requests waiting for a batch; past it requests are answered `91` at once.
    public var queueRequestsMax: Int
    /// Batches written at the same time. 1 with batching (the next batch gathers while one commits);
    /// with batching off, one transaction per request on up to this many connections.
    public var concurrentBatchesMax: Int
    /// Independent batch lanes; a request's lane is chosen by its payment point, so lanes never
    /// touch the same deposit account and one lane's database work overlaps another's Swift work.
    public var lanes: Int
    /// While at most this many requests wait in all, the lanes' requests go in one batch at a time
    /// (`BatchDispatch`: fewer, larger batches at light load); 0 keeps lanes apart at any load.
    public var mergeRequestsMax: Int

    public init(batchRequestsMax: Int = 1_000, batchWaitMicroseconds: Int = 500, queueRequestsMax: Int = 20_000,
                concurrentBatchesMax: Int = 1, lanes: Int = 2, mergeRequestsMax: Int = 32) {
        precondition(batchRequestsMax > 0 && queueRequestsMax >= batchRequestsMax && concurrentBatchesMax > 0 && lanes > 0)
        precondition((0...batchRequestsMax).contains(mergeRequestsMax))
        self.mergeRequestsMax = mergeRequestsMax
        self.lanes = lanes
        self.batchRequestsMax = batchRequestsMax
        self.batchWaitMicroseconds = batchWaitMicroseconds
        self.queueRequestsMax = queueRequestsMax
        self.concurrentBatchesMax = concurrentBatchesMax
    }

    /// One transaction per request, as a baseline for benchmarks.
    public static func unbatched(connections: Int) -> PostingEngineConfiguration {
        PostingEngineConfiguration(batchRequestsMax: 1, batchWaitMicroseconds: 0, queueRequestsMax: 20_000, concurrentBatchesMax: connections, lanes: 1,
                                   mergeRequestsMax: 0)
    }
}

/// Group commit: requests from every connection are queued, taken in batches, and each batch is
/// decided and written in ONE database transaction with set-based statements. Each request gets
/// its own outcome, and its response only after COMMIT returned.
///
/// Two instances on one database stay correct because every decision is made inside the
/// transaction on rows it has locked (deposit accounts, in id order) or guarded by a unique key
/// (idempotency key, paid bill, posted reversal); a batch that loses such a race fails as a whole,
/// is rolled back, and is decided again from what the winner committed.
public final class PostingEngine: Service, Sendable {
    private struct Waiting: Sendable {
        let request: PostingRequest
        let continuation: CheckedContinuation<PostingResult, Never>
    }

    /// The dispatch state machine and the dispatcher's wake-up, under one lock.
    private struct Dispatcher: Sendable {
        var machine: BatchDispatch<Waiting>
        var wakeUp: CheckedContinuation<Void, Never>?
        /// Set when something happened while the dispatcher was between looking and waiting.
        var changed = false

        mutating func takeWakeUp() -> CheckedContinuation<Void, Never>? {
            guard let wakeUp else { changed = true; return nil }
            self.wakeUp = nil
            return wakeUp
        }
    }

    public let database: SasandoDatabase
    let configuration: PostingEngineConfiguration
    /// How long a batch may wait for a database connection and its statements before its requests
    /// get `91`: the database's own bound (one setting per instance, `databaseWaitMilliseconds`).
    /// The engine's deadline stops once COMMIT is sent (see `PostingResult.outcomeUnknown`); the
    /// database's lock and statement timeouts, which the snapshot sets to the same bound, still
    /// cover the write and COMMIT's deferred checks, and an error there means the batch rolled back.
    public var databaseWaitMilliseconds: Int { database.waitMilliseconds }
    let logger: Logger
    private let dispatcher: Mutex<Dispatcher>
    let accountIDs = Mutex<[String: Int64]>([:])
    /// Statistics for benchmarks and the console.
    public let statistics = Mutex(Statistics())

    public struct Statistics: Sendable {
        public var batches = 0
        public var requests = 0
        public var largestBatch = 0
        public var conflictsRetried = 0
        public var failedBatches = 0
    }

    public init(database: SasandoDatabase, configuration: PostingEngineConfiguration, logger: Logger) {
        self.database = database
        self.configuration = configuration
        self.logger = logger
        let lanes = configuration.lanes
        self.dispatcher = Mutex(Dispatcher(machine: BatchDispatch(
            lanes: lanes, batchRequestsMax: configuration.batchRequestsMax,
            batchWait: .microseconds(configuration.batchWaitMicroseconds),
            laneRequestsMax: max(configuration.batchRequestsMax, configuration.queueRequestsMax / lanes),
            batchesPerLaneMax: configuration.concurrentBatchesMax, mergeRequestsMax: configuration.mergeRequestsMax)))
    }

    private func lane(for request: PostingRequest) -> Int {
        var hash: UInt64 = 1469598103934665603
        for byte in request.merchantID.utf8 { hash = (hash ^ UInt64(byte)) &* 1099511628211 }
        return Int(hash % UInt64(configuration.lanes))
    }

    /// Queues a request and waits for its decision. Never throws: failures are results.
    public func submit(_ request: PostingRequest) async -> PostingResult {
        let lane = lane(for: request)
        return await withCheckedContinuation { continuation in
            let (admission, wake) = dispatcher.withLock { d in
                let admission = d.machine.arrive(Waiting(request: request, continuation: continuation), lane: lane, now: .now)
                return (admission, admission == .queued(wake: true) ? d.takeWakeUp() : nil)
            }
            if admission == .refused {
                continuation.resume(returning: .unavailable("posting queue full (\(configuration.queueRequestsMax) requests) or stopping"))
            }
            wake?.resume()
        }
    }

    public func run() async throws {
        await preloadAccountIDs()
        await withGracefulShutdownHandler {
            // Cancelled too (another service of the group failed, e.g. the port was taken): stop
            // the same way, or the process would wait here for ever.
            await withTaskCancellationHandler {
                // The dispatcher and its batches run on the database's own I/O thread (their task
                // executor preference): a batch's statements are sent and their answers resume
                // the batch on that one thread, with no hop to the global pool and back per round
                // trip, and batches never queue behind request work. High priority for the work
                // that leaves that thread (the batch deadline's sleep).
                await withDiscardingTaskGroup { group in
                    group.addTask(executorPreference: SasandoDatabase.taskExecutor, priority: .high) { await self.dispatchBatches() }
                }
            } onCancel: {
                self.stop()
            }
        } onGracefulShutdown: {
            self.stop()
        }
    }

    /// One dispatcher for every lane: asks the state machine what to start, starts it, or waits
    /// for an arrival, a completion or a deadline. Returns once stopped and every batch is done.
    private func dispatchBatches() async {
        await withDiscardingTaskGroup { group in
            while true {
                let next = dispatcher.withLock { d in
                    d.changed = false
                    return d.machine.next(now: .now)
                }
                switch next {
                case .finished:
                    return
                case .start(let batches) where batches.count == 1 && batches[0].lanes.count > 1:
                    // A merged batch holds every lane: nothing else can start until it is done, so
                    // the dispatcher runs it itself (no task to start, no wake-up to hand back).
                    await process(batches[0].items)
                    dispatcher.withLock { $0.machine.completed(batches[0]) }
                case .start(let batches):
                    for batch in batches {
                        group.addTask(priority: .high) {
                            await self.process(batch.items)
                            let wake = self.dispatcher.withLock { d in
                                d.machine.completed(batch)
                                return d.takeWakeUp()
                            }
                            wake?.resume()
                        }
                    }
                case .wait(let deadline):
                    await waitForChange(until: deadline)
                }
            }
        }
    }

    private func waitForChange(until deadline: ContinuousClock.Instant?) async {
        var timer: Scheduled<Void>?
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let resumeNow = dispatcher.withLock { d -> Bool in
                if d.changed { d.changed = false; return true }
                d.wakeUp = c
                return false
            }
            if resumeNow { c.resume(); return }
            if let deadline {
                // A timer on the dispatcher's own event loop: no task and no other thread per wait.
                let delay = TimeAmount(max(.zero, ContinuousClock.now.duration(to: deadline)))
                timer = SasandoDatabase.taskExecutor.eventLoop.scheduleTask(in: delay) {
                    self.dispatcher.withLock { $0.takeWakeUp() }?.resume()
                }
            }
        }
        timer?.cancel()
    }

    /// Requests already queued are still decided; new ones are refused.
    private func stop() {
        dispatcher.withLock { d in
            d.machine.stop()
            return d.takeWakeUp()
        }?.resume()
    }

    private func process(_ batch: [Waiting]) async {
        let started = ContinuousClock.now
        var results = await decideAndCommit(batch.map(\.request))
        // Reversals whose original was in the same batch: decided again now that it is committed.
        var again = results.indices.filter { results[$0] == nil }
        var rounds = 0
        while !again.isEmpty {
            rounds += 1
            let retried = await decideAndCommit(again.map { batch[$0].request })
            for (index, result) in zip(again, retried) { results[index] = rounds > 3 ? (result ?? .unavailable("unresolved")) : result }
            again = again.filter { results[$0] == nil }
        }
        statistics.withLock { s in
            s.batches += 1
            s.requests += batch.count
            s.largestBatch = max(s.largestBatch, batch.count)
        }
        Recorder(label: MetricNames.postingBatchRequests).record(batch.count)
        CoreMetrics.Timer(label: MetricNames.postingBatchDuration).recordNanoseconds(started.duration(to: .now).wholeNanoseconds)
        for (waiting, result) in zip(batch, results) {
            waiting.continuation.resume(returning: result ?? .unavailable("unresolved"))
        }
    }

    /// Decides a batch in one transaction, retrying when another instance won a race.
    func decideAndCommit(_ requests: [PostingRequest]) async -> [PostingResult?] {
        for attempt in 0...PostingLimits.batchConflictRetriesMax {
            let phase = PhaseBox()
            do {
                let decided = try await withBatchDeadline(phase: phase) {
                    try await self.database.client.withConnection { connection in
                        try await self.runBatch(requests, on: connection, phase: phase)
                    }
                }
                return decided.map { $0.map { PostingResult.answered($0) } }
            } catch let error as BatchAbandoned {
                statistics.withLock { $0.failedBatches += 1 }
                Counter(label: MetricNames.databaseErrors, dimensions: [("kind", "abandoned")]).increment()
                logger.error("batch abandoned; answering 91", metadata: ["reason": "\(error.reason)", "requests": "\(requests.count)"])
                return requests.map { _ in .unavailable(error.reason) }
            } catch {
                let committing = phase.state.withLock { $0 == BatchPhase.committing }
                if committing {
                    statistics.withLock { $0.failedBatches += 1 }
                    Counter(label: MetricNames.databaseErrors, dimensions: [("kind", "commit_unknown")]).increment()
                    logger.error("COMMIT outcome unknown; not answering", metadata: ["error": "\(String(reflecting: error))"])
                    return requests.map { _ in .outcomeUnknown }
                }
                if Self.isRaceWithAnotherWriter(error), attempt < PostingLimits.batchConflictRetriesMax {
                    statistics.withLock { $0.conflictsRetried += 1 }
                    Counter(label: MetricNames.databaseErrors, dimensions: [("kind", "conflict")]).increment()
                    logger.notice("batch lost a race with another writer; deciding again", metadata: ["attempt": "\(attempt + 1)"])
                    continue
                }
                statistics.withLock { $0.failedBatches += 1 }
                Counter(label: MetricNames.databaseErrors, dimensions: [("kind", "failed")]).increment()
                logger.error("batch failed and was rolled back; answering 91", metadata: ["error": "\(String(reflecting: error))", "requests": "\(requests.count)"])
                return requests.map { _ in .unavailable("database error") }
            }
        }
        return requests.map { _ in .unavailable("conflicts kept recurring") }
    }

    /// working → committing (COMMIT sent: outcome unknown until answered), or → abandoned (the
    /// deadline passed first). committing → rolledBack when the server refused the write or COMMIT
    /// answered anything but COMMIT.
    enum BatchPhase: Sendable, Equatable { case working, committing, abandoned, rolledBack }
    final class PhaseBox: Sendable { let state = Mutex(BatchPhase.working) }
    struct BatchAbandoned: Error { let reason: String }

    /// Bounds the time before COMMIT: if the database does not get that far in time, the batch is
    /// abandoned (it will roll back, because it checks the phase before committing). The group
    /// still waits for `body` (a query's future cannot be cancelled); the database's own timeouts,
    /// set by the snapshot, end it. Cancelled (the engine stopping), a batch is not abandoned: it
    /// is decided, as every queued request is.
    func withBatchDeadline<T: Sendable>(phase: PhaseBox, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let milliseconds = databaseWaitMilliseconds
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                // A timer on the database's event loop (the task's executor), not `Task.sleep`:
                // that is a libdispatch timer, whose threads were woken for every batch (about a
                // quarter of the engine's context switches at batches of one).
                let timer = SasandoDatabase.taskExecutor.eventLoop.scheduleTask(in: .milliseconds(Int64(milliseconds))) {}
                await withTaskCancellationHandler {
                    _ = try? await timer.futureResult.get()
                } onCancel: {
                    timer.cancel()
                }
                guard !Task.isCancelled else { return nil }
                let abandoned = phase.state.withLock { p -> Bool in
                    if p == BatchPhase.working { p = BatchPhase.abandoned; return true }
                    return false
                }
                if abandoned { throw BatchAbandoned(reason: "database did not answer within \(milliseconds) ms") }
                return nil
            }
            while let next = try await group.next() {
                if let value = next {
                    group.cancelAll()
                    return value
                }
            }
            throw BatchAbandoned(reason: "batch ended without a result")
        }
    }

    static func isRaceWithAnotherWriter(_ error: any Error) -> Bool {
        guard let psql = error as? PSQLError, let code = psql.serverInfo?[.sqlState] else { return false }
        // unique_violation, serialization_failure, deadlock_detected
        return code == "23505" || code == "40001" || code == "40P01"
    }
}
