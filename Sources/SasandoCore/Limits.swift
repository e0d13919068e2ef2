/// Every bound in Sasando, named with its unit last, in one place. Related limits are checked together
/// in `Limits.assertConsistent()`. Values marked "spec" come from `iso8583-payment-point.md` and are
/// observable by terminals; the rest are operational choices documented in the README.
public enum Limits {
    // MARK: Framing (spec §1)
    /// Smallest message body a frame may announce. Spec §1.
    public static let messageBytesMin = 20
    /// Largest message body a frame may announce. Spec §1.
    public static let messageBytesMax = 4096
    /// Size of the length header in front of every body. Spec §1.
    public static let frameHeaderBytes = 2

    // MARK: Connections and sessions
    /// Requests a terminal may have in flight on one connection before the switch stops reading. Spec §1.
    public static let requestsInFlightPerConnectionMax = 32
    /// A connection with no inbound bytes for this long is closed. Spec §1.
    public static let connectionIdleSecondsMax = 180
    /// Terminals are told to echo after this much idle time. Spec §1 (informational for the client).
    public static let terminalEchoIntervalSeconds = 60
    /// Concurrent terminal connections per switch instance; past it new connections are closed at accept.
    /// 1,000 terminals per instance is the load-test target, so leave headroom.
    public static let connectionsMax = 4096
    /// Time allowed for the TLS handshake before the connection is dropped (slowloris guard).
    public static let tlsHandshakeSecondsMax = 10
    /// Connections accepted but not yet through their TLS handshake, from all addresses: past it a
    /// new connection is closed at accept. Sockets that never handshake can then hold only this
    /// many of `connectionsMax` slots, never lock terminals out (a review filled every slot with
    /// plain TCP sockets and a real terminal was refused).
    public static let tlsHandshakesInProgressMax = 256
    /// The same, per remote address (one host opening sockets it never uses holds at most half the
    /// budget). Above the load generator's 64 handshakes at once from one host. Behind a TCP load
    /// balancer without the PROXY protocol every terminal shares its address: there a reconnect
    /// storm after a restart queues on this, so raise it to `tlsHandshakesInProgressMax`.
    public static let tlsHandshakesInProgressPerAddressMax = 128
    /// On shutdown, how long in-flight requests get to be answered before connections are closed.
    public static let shutdownDrainSecondsMax = 10
    /// Outbound bytes buffered per connection before the switch stops reading from it (slow reader guard).
    public static let outboundBufferBytesMax = 256 * 1024

    // MARK: Database
    /// PostgreSQL connections per switch instance (postgres-nio pool).
    public static let databaseConnectionsMax = 16
    /// Connections the pool keeps open when idle (the posting lanes' plus spare).
    public static let databaseConnectionsKeptOpen = 4
    /// How long a request may wait for the database before it is answered `91` (config key
    /// `databaseWaitMilliseconds`), by default...
    public static let databaseWaitMillisecondsDefault = 2_000
    /// ...and at most (`sasando terminal` and the load generator wait 30 s for an answer).
    public static let databaseWaitMillisecondsMax = 30_000
    /// How long a one-shot command (`sasando settle`, `ledger verify`...) tries to open its first
    /// connection before it says why it cannot (refused, no such database, wrong password).
    public static let commandConnectMilliseconds = 5_000
    /// Largest single staff top-up, console or CLI (Rp 1.000.000.000): a typo of a few zeros
    /// more is refused, not credited.
    public static let staffTopUpSenMax: Int64 = 1_000_000_000 * 100

    public static func assertConsistent() {
        precondition(messageBytesMin < messageBytesMax)
        precondition(messageBytesMax <= Int(UInt16.max), "the 2-byte header cannot announce more")
        precondition(requestsInFlightPerConnectionMax > 0)
        precondition(terminalEchoIntervalSeconds < connectionIdleSecondsMax)
    }
}
