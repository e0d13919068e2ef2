@testable import SasandoLedger
import Testing

/// The batch dispatch policy as a value: arrivals, the clock and completions in; batches out.
@Suite("Batch dispatch (lanes, group-commit wait, merging at light load)")
struct BatchDispatchTests {
    typealias Dispatch = BatchDispatch<Int>
    let t0 = ContinuousClock.now
    func at(_ ms: Int) -> ContinuousClock.Instant { t0.advanced(by: .milliseconds(ms)) }

    /// Two lanes, batches of up to 10, 2 ms wait, 40 per lane, one batch per lane, merge up to 6.
    func dispatch(batchesPerLaneMax: Int = 1, mergeRequestsMax: Int = 6) -> Dispatch {
        Dispatch(lanes: 2, batchRequestsMax: 10, batchWait: .milliseconds(2), laneRequestsMax: 40,
                 batchesPerLaneMax: batchesPerLaneMax, mergeRequestsMax: mergeRequestsMax)
    }

    func started(_ next: Dispatch.Next) -> [Dispatch.Batch] {
        if case .start(let batches) = next { return batches }
        Issue.record("expected batches, got \(next)")
        return []
    }

    func waitsUntil(_ next: Dispatch.Next) -> ContinuousClock.Instant?? {
        if case .wait(let until) = next { return .some(until) }
        return .none
    }

    @Test func aBatchWaitsForCompanionsThenStarts() {
        var d = dispatch()
        #expect(d.arrive(1, lane: 0, now: at(0)) == .queued(wake: true))
        #expect(d.arrive(2, lane: 0, now: at(1)) == .queued(wake: false), "the dispatcher already waits for the first one's deadline")
        #expect(waitsUntil(d.next(now: at(1))) == .some(at(2)))
        let batches = started(d.next(now: at(2)))
        #expect(batches.map(\.items) == [[1, 2]])
        #expect(d.waiting == 0)
        #expect(waitsUntil(d.next(now: at(3))) == .some(nil), "nothing queued: wait for an arrival")
    }

    @Test func lightLoadMergesEveryLaneIntoOneBatchAndRunsOneAtATime() {
        var d = dispatch()
        _ = d.arrive(1, lane: 0, now: at(0))
        #expect(d.arrive(2, lane: 1, now: at(1)) == .queued(wake: true), "a new lane's first request brings a deadline")
        let merged = started(d.next(now: at(2)))
        #expect(merged.count == 1)
        #expect(merged.first?.items == [1, 2])
        #expect(merged.first?.lanes == [0, 1], "a merged batch holds every lane")
        // While it runs, nothing starts beside it, even past the wait.
        _ = d.arrive(3, lane: 1, now: at(3))
        #expect(waitsUntil(d.next(now: at(9))) == .some(nil))
        d.completed(merged[0])
        #expect(started(d.next(now: at(9))).map(\.items) == [[3]])
    }

    @Test func heavyLoadRunsLanesSideBySide() {
        var d = dispatch()
        for i in 0..<4 { _ = d.arrive(i, lane: 0, now: at(0)) }
        for i in 4..<8 { _ = d.arrive(i, lane: 1, now: at(0)) }
        #expect(d.waiting == 8)
        let batches = started(d.next(now: at(2)))
        #expect(batches.map(\.items) == [[0, 1, 2, 3], [4, 5, 6, 7]])
        #expect(batches.map(\.lanes) == [[0], [1]])
        // Lane 0 done while lane 1 still runs: with a backlog lane 0 goes on alone.
        d.completed(batches[0])
        for i in 8..<15 { _ = d.arrive(i, lane: 0, now: at(3)) }
        #expect(started(d.next(now: at(5))).map(\.items) == [Array(8..<15)])
    }

    @Test func aFreeLaneWaitsForTheOtherWhenTheLoadIsLight() {
        var d = dispatch()
        for i in 0..<8 { _ = d.arrive(i, lane: i % 2, now: at(0)) }
        let both = started(d.next(now: at(2)))
        #expect(both.count == 2)
        d.completed(both[0])
        _ = d.arrive(100, lane: 0, now: at(3))
        #expect(waitsUntil(d.next(now: at(6))) == .some(nil), "one request waiting: wait for lane 1 and merge")
        d.completed(both[1])
        _ = d.arrive(101, lane: 1, now: at(6))
        let merged = started(d.next(now: at(6)))
        #expect(merged.map(\.items) == [[100, 101]])
    }

    @Test func leavingTheLightRegimeWakesTheDispatcher() {
        var d = dispatch()
        for i in 0..<6 { _ = d.arrive(i, lane: 0, now: at(0)) }
        #expect(d.arrive(6, lane: 0, now: at(0)) == .queued(wake: true), "7 > mergeRequestsMax 6")
        #expect(d.arrive(7, lane: 0, now: at(0)) == .queued(wake: false))
    }

    @Test func aFullBatchStartsAtOnceAndTheRestWaitsAgain() {
        var d = dispatch(mergeRequestsMax: 0)
        var wakes = 0
        for i in 0..<12 where d.arrive(i, lane: 0, now: at(0)) == .queued(wake: true) { wakes += 1 }
        #expect(wakes == 2, "the first request and the tenth (a full batch)")
        let first = started(d.next(now: at(0)))
        #expect(first.map(\.items) == [Array(0..<10)])
        d.completed(first[0])
        #expect(waitsUntil(d.next(now: at(1))) == .some(at(2)), "the two left over gather from when the batch was cut")
        #expect(started(d.next(now: at(2))).map(\.items) == [[10, 11]])
    }

    @Test func aFullLaneRefusesAndAStoppedEngineDrainsWithoutWaiting() {
        var d = dispatch(mergeRequestsMax: 0)
        for i in 0..<40 { #expect(d.arrive(i, lane: 1, now: at(0)) != .refused) }
        #expect(d.arrive(40, lane: 1, now: at(0)) == .refused, "laneRequestsMax")
        #expect(d.arrive(41, lane: 0, now: at(0)) != .refused, "the other lane has room")
        d.stop()
        #expect(d.arrive(42, lane: 0, now: at(0)) == .refused)
        var handedOut: [Int] = []
        while case .start(let batches) = d.next(now: at(0)) {
            for batch in batches { handedOut += batch.items; d.completed(batch) }
        }
        #expect(handedOut.sorted() == Array(0..<40) + [41])
        guard case .finished = d.next(now: at(0)) else { Issue.record("stopped and drained: finished"); return }
    }

    @Test func batchingOffStartsOneTransactionPerRequestUpToTheSlots() {
        var d = Dispatch(lanes: 1, batchRequestsMax: 1, batchWait: .zero, laneRequestsMax: 100, batchesPerLaneMax: 3, mergeRequestsMax: 0)
        for i in 0..<5 { #expect(d.arrive(i, lane: 0, now: at(0)) == .queued(wake: true)) }
        let batches = started(d.next(now: at(0)))
        #expect(batches.map(\.items) == [[0], [1], [2]])
        #expect(waitsUntil(d.next(now: at(0))) == .some(nil), "every slot taken")
        d.completed(batches[1])
        #expect(started(d.next(now: at(0))).map(\.items) == [[3]])
    }

    @Test func oneLaneNeverMerges() {
        let d = Dispatch(lanes: 1, batchRequestsMax: 10, batchWait: .zero, laneRequestsMax: 10, batchesPerLaneMax: 1, mergeRequestsMax: 5)
        #expect(d.mergeRequestsMax == 0)
    }
}
