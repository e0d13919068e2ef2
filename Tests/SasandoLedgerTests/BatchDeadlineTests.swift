import Logging
import NIOCore
@testable import SasandoLedger
import Synchronization
import Testing

/// The engine's bound on a batch before COMMIT, on its own: a body standing in for the database's
/// round trips (futures on the database's event loop, which cancellation does not end). No
/// database is reached: the pool is never run.
@Suite("Batch deadline (the engine abandons a batch the database has not answered in time)")
struct BatchDeadlineTests {
    /// Well above any event-loop delay of a loaded machine, so a body within it stays within it.
    static let boundMilliseconds = 500

    func engine() throws -> PostingEngine {
        let logger = Logger(label: "batch-deadline-test")
        let database = try SasandoDatabase(url: "postgres://nobody@127.0.0.1:9/none?sslmode=disable",
                                           waitMilliseconds: Self.boundMilliseconds, logger: logger)
        return PostingEngine(database: database, configuration: PostingEngineConfiguration(), logger: logger)
    }

    /// An answer from "the database" after `milliseconds`, like a query's future.
    static func answer(after milliseconds: Int64) async throws {
        try await SasandoDatabase.taskExecutor.eventLoop.scheduleTask(in: .milliseconds(milliseconds)) {}.futureResult.get()
    }

    @Test func aBodyPastTheBoundIsAbandonedAndWaitedFor() async throws {
        let engine = try engine()
        let phase = PostingEngine.PhaseBox()
        let started = ContinuousClock.now
        await #expect(throws: PostingEngine.BatchAbandoned.self) {
            _ = try await engine.withBatchDeadline(phase: phase) {
                try await Self.answer(after: 1_200)
                return 1
            }
        }
        #expect(phase.state.withLock { $0 } == .abandoned)
        // Not before the body ended: its connection is not handed back mid-batch.
        #expect(started.duration(to: .now) >= .milliseconds(1_200))
    }

    @Test func aBodyWithinTheBoundKeepsItsPhaseAfterwards() async throws {
        let engine = try engine()
        let phase = PostingEngine.PhaseBox()
        let value = try await engine.withBatchDeadline(phase: phase) {
            try await Self.answer(after: 20)
            return 7
        }
        #expect(value == 7)
        // The bound's timer went with the batch: it does not abandon the phase later.
        try await Task.sleep(for: .milliseconds(Self.boundMilliseconds * 2))
        #expect(phase.state.withLock { $0 } == .working)
    }

    @Test func aBatchThatReachedCommitIsNotAbandonedWhenTheBoundPasses() async throws {
        let engine = try engine()
        let phase = PostingEngine.PhaseBox()
        let value = try await engine.withBatchDeadline(phase: phase) {
            phase.state.withLock { $0 = .committing }
            try await Self.answer(after: 900)
            return 3
        }
        #expect(value == 3)
        #expect(phase.state.withLock { $0 } == .committing)
    }

    @Test func anEngineStoppingDoesNotAbandonItsBatch() async throws {
        let engine = try engine()
        let phase = PostingEngine.PhaseBox()
        let batch = Task {
            try await engine.withBatchDeadline(phase: phase) {
                try await Self.answer(after: 100)
                return 5
            }
        }
        batch.cancel()
        #expect(try await batch.value == 5)
        #expect(phase.state.withLock { $0 } == .working)
    }
}
