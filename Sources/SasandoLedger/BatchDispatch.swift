/// Which queued requests go to the database next, and when. Pure state: the engine passes in the
/// clock and does the waiting and the I/O, so every policy below is tested as a value.
///
/// Requests queue per lane (a payment point always uses the same lane, so two lanes' batches never
/// lock the same deposit account). A lane with a free slot starts a batch once its oldest request
/// has waited `batchWait`, or at once when it holds `batchRequestsMax` (or waiting is off, or the
/// engine is stopping).
///
/// Light load: while at most `mergeRequestsMax` requests wait in all, the lanes take turns as ONE:
/// every lane's requests go in one batch, started when no batch is in flight. Each batch costs
/// several milliseconds of CPU whatever its size (four statements, ~25 more and triggers in
/// PostgreSQL, a dozen thread wake-ups in the switch); two lanes running back to back with batches
/// of 4 spend the machine on that, and everything queues for the CPU (measured at 1,200
/// payments/s: 175% busy with two lanes, 130% with one, p99 27 → 17 ms). Heavy load: once more
/// than `mergeRequestsMax` wait, lanes run side by side, one lane's Swift work overlapping another's
/// database work (one lane tops out at ~4,600 payments/s here, two at ~6,000).
/// A merged batch holds a slot on every lane, so (with one batch per lane, the default) no lane
/// batch runs beside it: a payment point's requests are never in two batches at once, and a
/// reversal is decided after its payment.
struct BatchDispatch<Item> {
    struct Batch {
        /// Lanes whose slot this batch holds (every lane for a merged batch).
        var lanes: [Int]
        var items: [Item]
    }

    enum Admission: Equatable {
        /// Queued; `wake`: the dispatcher must look again (the decision it is waiting on changed).
        case queued(wake: Bool)
        /// The lane's queue is full, or the engine is stopping.
        case refused
    }

    enum Next {
        case start([Batch])
        /// Nothing to start before this instant (nil: before an arrival or a completion).
        case wait(until: ContinuousClock.Instant?)
        /// Stopped and every queued request handed out.
        case finished
    }

    let batchRequestsMax: Int
    let batchWait: Duration
    let laneRequestsMax: Int
    let batchesPerLaneMax: Int
    let mergeRequestsMax: Int
    private(set) var queues: [[Item]]
    private var firstArrival: [ContinuousClock.Instant?]
    private(set) var inFlight: [Int]
    private(set) var waiting = 0
    private(set) var stopped = false

    init(lanes: Int, batchRequestsMax: Int, batchWait: Duration, laneRequestsMax: Int, batchesPerLaneMax: Int, mergeRequestsMax: Int) {
        precondition(lanes > 0 && batchRequestsMax > 0 && laneRequestsMax >= batchRequestsMax && batchesPerLaneMax > 0)
        precondition((0...batchRequestsMax).contains(mergeRequestsMax), "a merged batch must fit in one batch")
        self.batchRequestsMax = batchRequestsMax
        self.batchWait = batchWait
        self.laneRequestsMax = laneRequestsMax
        self.batchesPerLaneMax = batchesPerLaneMax
        self.mergeRequestsMax = lanes > 1 ? mergeRequestsMax : 0
        queues = Array(repeating: [], count: lanes)
        firstArrival = Array(repeating: nil, count: lanes)
        inFlight = Array(repeating: 0, count: lanes)
    }

    mutating func arrive(_ item: Item, lane: Int, now: ContinuousClock.Instant) -> Admission {
        guard !stopped, queues[lane].count < laneRequestsMax else { return .refused }
        let wasEmpty = queues[lane].isEmpty
        queues[lane].append(item)
        waiting += 1
        if wasEmpty { firstArrival[lane] = now }
        // Wake only when the decision could change: a deadline appears, a batch fills, waiting is
        // off, or the load just left the merged regime. Other arrivals ride on the current wait.
        let wake = wasEmpty || queues[lane].count == batchRequestsMax || batchWait == .zero || waiting == mergeRequestsMax + 1
        return .queued(wake: wake)
    }

    /// New requests are refused from now on; those queued are still handed out, without waiting.
    mutating func stop() { stopped = true }

    mutating func completed(_ batch: Batch) {
        for lane in batch.lanes {
            inFlight[lane] -= 1
            assert(inFlight[lane] >= 0, "a batch completed twice")
        }
    }

    mutating func next(now: ContinuousClock.Instant) -> Next {
        if waiting == 0 { return stopped ? .finished : .wait(until: nil) }
        let lanes = queues.indices
        if waiting <= mergeRequestsMax {
            // Light load: one batch at a time, every lane's requests in it.
            guard inFlight.allSatisfy({ $0 == 0 }) else { return .wait(until: nil) }
            guard lanes.contains(where: { isReady($0, now: now) }) else { return .wait(until: earliestDeadline(now: now)) }
            var items: [Item] = []
            items.reserveCapacity(waiting)
            for lane in lanes { items += take(lane, now: now) }
            for lane in lanes { inFlight[lane] += 1 }
            return .start([Batch(lanes: Array(lanes), items: items)])
        }
        var batches: [Batch] = []
        for lane in lanes {
            while inFlight[lane] < batchesPerLaneMax && isReady(lane, now: now) {
                inFlight[lane] += 1
                batches.append(Batch(lanes: [lane], items: take(lane, now: now)))
            }
        }
        return batches.isEmpty ? .wait(until: earliestDeadline(now: now)) : .start(batches)
    }

    private func isReady(_ lane: Int, now: ContinuousClock.Instant) -> Bool {
        guard let first = firstArrival[lane] else { return false }
        return stopped || batchWait == .zero || queues[lane].count >= batchRequestsMax || now >= first.advanced(by: batchWait)
    }

    /// The earliest instant a lane with a free slot becomes ready; nil if none can.
    private func earliestDeadline(now: ContinuousClock.Instant) -> ContinuousClock.Instant? {
        var earliest: ContinuousClock.Instant?
        for lane in queues.indices where inFlight[lane] < batchesPerLaneMax {
            guard let first = firstArrival[lane] else { continue }
            let deadline = first.advanced(by: batchWait)
            if earliest.map({ deadline < $0 }) ?? true { earliest = deadline }
        }
        return earliest
    }

    private mutating func take(_ lane: Int, now: ContinuousClock.Instant) -> [Item] {
        let n = min(queues[lane].count, batchRequestsMax)
        let taken = Array(queues[lane].prefix(n))
        queues[lane].removeFirst(n)
        waiting -= n
        // Requests left over from a full batch start a new wait: the next batch gathers meanwhile.
        firstArrival[lane] = queues[lane].isEmpty ? nil : now
        return taken
    }
}

extension BatchDispatch: Sendable where Item: Sendable {}
extension BatchDispatch.Batch: Sendable where Item: Sendable {}
extension BatchDispatch.Next: Sendable where Item: Sendable {}
