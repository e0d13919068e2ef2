import SasandoTransport
import Synchronization

/// Signed-on connections of this instance, for unsolicited notices (cut-over 0800/201).
/// Per-instance by design: each instance notifies the terminals connected to it.
public final class ConnectionRegistry: Sendable {
    private let connections = Mutex<[UInt64: TerminalConnection]>([:])

    public init() {}

    func add(_ connection: TerminalConnection) {
        connections.withLock { $0[connection.connectionID] = connection }
    }

    func remove(_ connectionID: UInt64) {
        _ = connections.withLock { $0.removeValue(forKey: connectionID) }
    }

    public var signedOn: [TerminalConnection] {
        connections.withLock { Array($0.values) }
    }

    public var count: Int { connections.withLock { $0.count } }
}
