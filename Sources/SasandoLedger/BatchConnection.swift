import Logging
import NIOCore
import PostgresNIO

/// The connection closed before the query could be sent: nothing of it reached the server.
struct DatabaseConnectionClosed: Error, CustomStringConvertible {
    var description: String { "the database connection had closed (the server ended the session, or restarted)" }
}

extension PostgresConnection {
    /// `query`, unless the connection has closed: then it fails at once.
    ///
    /// Why: PostgresNIO 1.33 writes a query to its channel without a promise, so a query sent on a
    /// connection that is already closed is dropped and never answered, and a batch awaiting it
    /// would hold its lane forever (measured: a ROLLBACK after the server ended the session, by
    /// `pg_terminate_backend` or the batch's idle-in-transaction bound, hung). The check and the
    /// write happen in one turn of the connection's event loop, so the channel cannot close between
    /// them; once written, a query still open when the channel closes is failed by PostgresNIO.
    func batchQuery(_ query: PostgresQuery, logger: Logger) -> EventLoopFuture<PostgresQueryResult> {
        if eventLoop.inEventLoop { return queryIfOpen(query, logger: logger) }
        return eventLoop.flatSubmit { self.queryIfOpen(query, logger: logger) }
    }

    private func queryIfOpen(_ query: PostgresQuery, logger: Logger) -> EventLoopFuture<PostgresQueryResult> {
        eventLoop.preconditionInEventLoop()
        guard !isClosed else { return eventLoop.makeFailedFuture(DatabaseConnectionClosed()) }
        return self.query(query, logger: logger)
    }
}

extension PostgresRowSequence {
    /// Whether the statement returned any row (`... RETURNING 1`: did it insert, update, find?).
    /// Reads every row, so the connection is left clean.
    public func returnedAnyRow() async throws -> Bool {
        var any = false
        for try await _ in self { any = true }
        return any
    }
}

extension PSQLError {
    /// The server ended the session with this error (severity FATAL or PANIC), not just the
    /// statement. On COMMIT that leaves the outcome unknown: the session may end after the commit
    /// record is durable (a shutdown's terminate is acted on at the next interrupt check).
    var endedTheSession: Bool {
        guard let severity = serverInfo?[.severity] else { return false }
        return severity == "FATAL" || severity == "PANIC"
    }
}
