import NIOCore
import SasandoCore
import SasandoISO8583
import SasandoTransport
import Synchronization

/// Open loop, run on the terminals' own event loops. Coordinated-omission-correct: every request
/// has a scheduled send time on a fixed schedule, and its latency counts from then, however late it
/// went out (the send lag is recorded apart). Each event loop sends its terminals' share of
/// the schedule from one timer and records every answer where it arrives: no task and no hop
/// between threads per request. (A task per request, woken by a timer, hopping to the event loop
/// to write and back to record, cost the generator a third more CPU on a machine it shares with
/// the switch it measures, and under load each hop waited for a core: the lag went into the
/// measured latency.)
final class OpenLoopDriver: Sendable {
    private let schedules: [LoopSchedule]

    init(runner: LoadRunner, terminals: [LoadTerminal], date: CalendarDate, stats: LoadStatistics,
         ratePerSecond: Double, deadline: ContinuousClock.Instant?, budget: RequestBudget?) {
        precondition(!terminals.isEmpty && ratePerSecond > 0)
        // Each loop gets the rate in proportion to its terminals, and the loops' schedules are
        // offset by one request interval each, so they interleave instead of firing together.
        var byLoop: [ObjectIdentifier: [LoadTerminal]] = [:]
        var order: [ObjectIdentifier] = []
        for terminal in terminals {
            let id = ObjectIdentifier(terminal.client.channel.eventLoop)
            if byLoop[id] == nil { order.append(id) }
            byLoop[id, default: []].append(terminal)
        }
        let start = ContinuousClock.now
        let requestInterval = Duration.nanoseconds(Int64(1e9 / ratePerSecond))
        schedules = order.enumerated().map { index, id in
            let share = byLoop[id]!
            return LoopSchedule(runner: runner, terminals: share, date: date, stats: stats,
                                interval: .nanoseconds(Int64(1e9 * Double(terminals.count) / (ratePerSecond * Double(share.count)))),
                                start: start + requestInterval * index, deadline: deadline, budget: budget)
        }
    }

    /// Returns once every loop has scheduled its last request and every request was answered,
    /// failed or not sent.
    func run() async {
        await untilAllDone(schedules.count) { done in
            for schedule in schedules { schedule.start(onDone: done) }
        }
    }
}

/// Sets `count` pieces of work going on the event loops (`start` hands each the `done` to call
/// once) and returns when all have called it.
private func untilAllDone(_ count: Int, _ start: (_ done: @escaping @Sendable () -> Void) -> Void) async {
    guard count > 0 else { return }
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        let remaining = Mutex(count)
        start {
            let last = remaining.withLock { n -> Bool in
                n -= 1
                return n == 0
            }
            if last { continuation.resume() }
        }
    }
}

/// One event loop's share of the schedule: its terminals, their windows and backlogs. Every
/// property is touched only on `eventLoop` (hence `@unchecked Sendable`).
final class LoopSchedule: @unchecked Sendable {
    private struct Slot {
        var inFlight = 0
        /// Scheduled send times of requests waiting for the window (spec: 32 in flight).
        var waiting = CircularBuffer<ContinuousClock.Instant>()
    }

    private let runner: LoadRunner
    private let eventLoop: any EventLoop
    private let terminals: [LoadTerminal]
    private let date: CalendarDate
    private let stats: LoadStatistics
    private let interval: Duration
    private let scheduleStart: ContinuousClock.Instant
    private let deadline: ContinuousClock.Instant?
    private let budget: RequestBudget?

    private var slots: [Slot]
    private var next = 0           // index of the next request in this loop's schedule
    private var scheduling = true
    private var outstanding = 0    // in flight or waiting for the window
    private var onDone: (@Sendable () -> Void)?

    init(runner: LoadRunner, terminals: [LoadTerminal], date: CalendarDate, stats: LoadStatistics, interval: Duration,
         start: ContinuousClock.Instant, deadline: ContinuousClock.Instant?, budget: RequestBudget?) {
        self.runner = runner
        self.eventLoop = terminals[0].client.channel.eventLoop
        self.terminals = terminals
        self.date = date
        self.stats = stats
        self.interval = interval
        self.scheduleStart = start
        self.deadline = deadline
        self.budget = budget
        self.slots = Array(repeating: Slot(), count: terminals.count)
    }

    func start(onDone: @escaping @Sendable () -> Void) {
        eventLoop.execute {
            self.onDone = onDone
            self.tick()
        }
    }

    private func intended(_ index: Int) -> ContinuousClock.Instant {
        scheduleStart + interval * index
    }

    /// Sends every request now due (round robin over this loop's terminals), then sleeps until the
    /// next one is due. Never early; a late timer sends what is due at once.
    private func tick() {
        eventLoop.assertInEventLoop()
        let now = ContinuousClock.now
        while scheduling {
            let due = intended(next)
            if let deadline, due >= deadline { scheduling = false; break }
            if due > now { break }
            if let budget, !budget.take() { scheduling = false; break }
            admit(slot: next % terminals.count, intended: due)
            next += 1
        }
        if scheduling {
            let wait = now.duration(to: intended(next))
            eventLoop.scheduleTask(in: .nanoseconds(max(0, wait.wholeNanoseconds))) { self.tick() }
        } else {
            finishIfDone()
        }
    }

    private func admit(slot i: Int, intended: ContinuousClock.Instant) {
        // Bounded per connection, so an overloaded switch cannot make the generator pile up
        // requests: past the bound a request is not sent, and counted as unexpected.
        guard slots[i].inFlight + slots[i].waiting.count < LoadLimits.openLoopQueuedPerConnectionMax else {
            stats.notSent("\(LoadLimits.openLoopQueuedPerConnectionMax) already in flight or waiting on the connection")
            return
        }
        outstanding += 1
        if slots[i].inFlight < Limits.requestsInFlightPerConnectionMax {
            send(slot: i, intended: intended)
        } else {
            slots[i].waiting.append(intended)
        }
    }

    private func send(slot i: Int, intended: ContinuousClock.Instant) {
        slots[i].inFlight += 1
        let terminal = terminals[i]
        let prepared = runner.prepare(terminal, date: date)
        stats.sent(lagMicroseconds: LoadRunner.micros(since: intended))
        // The connection's promise is on this loop, so the callback runs here.
        terminal.client.sendFuture(prepared.request, macKey: terminal.folder.macKey).whenComplete { result in
            self.runner.finish(prepared, result, terminal: terminal, intended: intended, stats: self.stats)
            self.slots[i].inFlight -= 1
            self.outstanding -= 1
            self.sendWaiting(slot: i)
            self.finishIfDone()
        }
    }

    private func sendWaiting(slot i: Int) {
        while slots[i].inFlight < Limits.requestsInFlightPerConnectionMax, let due = slots[i].waiting.popFirst() {
            // Still waiting when the load phase ended, and well behind its time: the switch held
            // this connection's window. Not sent (the run stays bounded in time), and unexpected.
            let now = ContinuousClock.now
            if let deadline, now >= deadline, now >= due.advanced(by: .milliseconds(LoadLimits.lateAtEndMillisecondsMax)) {
                stats.notSent("behind schedule when the load phase ended")
                outstanding -= 1
                continue
            }
            send(slot: i, intended: due)
        }
    }

    private func finishIfDone() {
        guard !scheduling, outstanding == 0, let done = onDone else { return }
        onDone = nil
        done()
    }
}

/// Closed loop, on the terminals' own event loops: each connection keeps `inFlight` requests
/// outstanding, and every answer, recorded where it arrives, sends the next at once. Same reasons
/// as the open loop: no task and no hop per request, so the generator leaves the cores to the
/// switch and the database it measures.
final class ClosedLoopDriver: Sendable {
    private let runner: LoadRunner
    private let terminals: [LoadTerminal]
    private let date: CalendarDate
    private let stats: LoadStatistics
    private let inFlightPerConnection: Int
    private let shouldContinue: @Sendable () -> Bool

    init(runner: LoadRunner, terminals: [LoadTerminal], date: CalendarDate, stats: LoadStatistics,
         inFlightPerConnection: Int, shouldContinue: @escaping @Sendable () -> Bool) {
        precondition(inFlightPerConnection > 0)
        self.runner = runner
        self.terminals = terminals
        self.date = date
        self.stats = stats
        self.inFlightPerConnection = inFlightPerConnection
        self.shouldContinue = shouldContinue
    }

    /// Returns once every chain has ended (the duration passed or the request budget ran out)
    /// and its last request was answered or failed.
    func run() async {
        await untilAllDone(terminals.count * inFlightPerConnection) { chainEnded in
            for terminal in terminals {
                let eventLoop = terminal.client.channel.eventLoop
                for _ in 0..<inFlightPerConnection {
                    eventLoop.execute { self.sendNext(terminal, chainEnded: chainEnded) }
                }
            }
        }
    }

    private func sendNext(_ terminal: LoadTerminal, chainEnded: @escaping @Sendable () -> Void) {
        guard shouldContinue() else { return chainEnded() }
        let prepared = runner.prepare(terminal, date: date)
        let intended = ContinuousClock.now
        stats.sent()
        terminal.client.sendFuture(prepared.request, macKey: terminal.folder.macKey).whenComplete { result in
            self.runner.finish(prepared, result, terminal: terminal, intended: intended, stats: self.stats)
            if case .failure(TerminalClientError.connectionClosed) = result {
                // The link is gone: this chain ends (its failure is counted) rather than spinning.
                return chainEnded()
            }
            // Through the loop's queue, not recursion: a request that fails at once (never sent)
            // must not grow the stack.
            terminal.client.channel.eventLoop.execute { self.sendNext(terminal, chainEnded: chainEnded) }
        }
    }
}
