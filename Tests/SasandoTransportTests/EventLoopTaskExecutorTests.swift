import NIOCore
import NIOPosix
import SasandoCore
import Testing

@Suite("EventLoopTaskExecutor")
struct EventLoopTaskExecutorTests {
    /// A request task must start on its connection's loop and come back to it after waiting for
    /// work resumed on another thread (as the posting engine resumes it).
    @Test func taskRunsOnTheLoopBeforeAndAfterASuspension() async throws {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let executor = EventLoopTaskExecutor(eventLoop: loop)
        let observed = await Task(executorPreference: executor) { () -> [Bool] in
            var onLoop = [loop.inEventLoop]
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                Task.detached { continuation.resume() }  // resumed from the global pool
            }
            onLoop.append(loop.inEventLoop)
            // A child task inherits the preference.
            onLoop.append(await withTaskGroup(of: Bool.self) { children in
                children.addTask { loop.inEventLoop }
                return await children.next()!
            })
            return onLoop
        }.value
        #expect(observed == [true, true, true])
        // Without the preference the same task runs on the global pool, not on the loop: the
        // check above can fail.
        let unpreferred = await Task { loop.inEventLoop }.value
        #expect(unpreferred == false)
    }
}
