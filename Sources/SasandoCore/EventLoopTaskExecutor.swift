import NIOCore

/// An event loop as a Swift task executor: a task that prefers it (SE-0417) runs its jobs on that
/// loop's thread, so do its child tasks, and it comes back to that thread after every await of
/// something with no executor of its own (a continuation, a default actor).
///
/// Used twice (`loadtest/RESULTS.md`, "Seventh round"):
/// - a terminal request runs on its connection's loop: no hop to the global pool to start it and
///   none back to write its answer (the pool had spent twice the loops' CPU at 2,000/s);
/// - the posting dispatcher runs on the database's I/O thread, where its statements' answers
///   arrive.
/// Together, open loop at 3,300 payments/s (half of the peak) on 2 cores, three interleaved pairs:
/// payment p50 47-65 → 35-44 ms, p99 135-192 → 107-148 ms; at 1,200 and 2,400/s and at the peak
/// no difference beyond the noise.
public final class EventLoopTaskExecutor: TaskExecutor {
    public let eventLoop: any EventLoop

    public init(eventLoop: any EventLoop) { self.eventLoop = eventLoop }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        eventLoop.execute { job.runSynchronously(on: executor) }
    }
}
