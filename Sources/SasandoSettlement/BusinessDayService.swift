import Foundation
import Logging
import PostgresNIO
import SasandoCore
import SasandoLedger
import Synchronization

/// Limits of the business day (named with their unit, see README "Limits").
public enum BusinessDayLimits {
    /// How old the per-instance cache of the business day may get before it is read again, and how
    /// often the scheduler looks at the row and the clock.
    public static let businessDayPollMilliseconds = 500
    /// A cut-over left in 'cutting_over' this long (its instance died between the two steps) is
    /// finished by any instance's scheduler.
    public static let cutoverStuckSecondsMax = 30
}

public struct BusinessDayError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The business date (field 15) and cut-over state, with PostgreSQL as the source of truth for every
/// switch instance (table `business_day`, one row). Reads are cached per instance for at most
/// `BusinessDayLimits.businessDayPollMilliseconds`; the posting batch re-checks the row inside its
/// own transaction, so a stale cache can cost a `90`, never a posting on the wrong date.
public final class BusinessDayService: Sendable {
    public struct Day: Sendable, Equatable {
        public var date: CalendarDate
        public var cuttingOver: Bool
        public var changedAt: String
        public var changedBy: String
        /// Seconds since `changedAt`, by the database clock, when read.
        public var ageSeconds: Double
    }

    private struct Cache: Sendable {
        var day: Day?
        var fetchedAt: ContinuousClock.Instant?
        var inflight: Task<Day, any Error>?
    }

    public let database: SasandoDatabase
    public let cutoverHourWITA: Int
    public let pollMilliseconds: Int
    let clock: @Sendable () -> Date
    private let cache = Mutex(Cache())

    public init(database: SasandoDatabase, cutoverHourWITA: Int = 23,
                pollMilliseconds: Int = BusinessDayLimits.businessDayPollMilliseconds,
                clock: @escaping @Sendable () -> Date = { Date() }) {
        self.database = database
        self.cutoverHourWITA = cutoverHourWITA
        self.pollMilliseconds = pollMilliseconds
        self.clock = clock
    }

    /// The business date by the clock rule (spec §3): the WITA date, +1 from the cut-over hour.
    public func clockBusinessDate() -> CalendarDate {
        BusinessCalendar.businessDate(at: clock(), cutoverHourWITA: cutoverHourWITA)
    }

    /// The cached day if it is younger than the poll interval: the per-request fast path, with no
    /// task or timer (nil: call `current()`).
    public func fresh() -> (date: CalendarDate, cuttingOver: Bool)? {
        cache.withLock { c in
            guard let day = c.day, let at = c.fetchedAt, ContinuousClock.now - at < .milliseconds(pollMilliseconds) else { return nil }
            return (day.date, day.cuttingOver)
        }
    }

    /// The current business date and whether a cut-over is running (cached, polled).
    public func current() async throws -> (date: CalendarDate, cuttingOver: Bool) {
        let day = try await currentDay()
        return (day.date, day.cuttingOver)
    }

    /// The cached row, read again when older than the poll interval (one read in flight at a time).
    public func currentDay(maxAgeMilliseconds: Int? = nil) async throws -> Day {
        let maxAge = Duration.milliseconds(maxAgeMilliseconds ?? pollMilliseconds)
        let task: Task<Day, any Error> = cache.withLock { c in
            if let day = c.day, let at = c.fetchedAt, ContinuousClock.now - at < maxAge {
                return Task { day }
            }
            if let inflight = c.inflight { return inflight }
            let t = Task { try await self.fetch() }
            c.inflight = t
            return t
        }
        do {
            let day = try await task.value
            cache.withLock { c in
                if c.inflight == task { c.inflight = nil }
            }
            return day
        } catch {
            cache.withLock { c in if c.inflight == task { c.inflight = nil } }
            throw error
        }
    }

    /// Reads the row now (creating it from the clock rule on first use) and refreshes the cache.
    @discardableResult
    public func refresh() async throws -> Day {
        try await fetch()
    }

    private func fetch() async throws -> Day {
        let logger = database.logger
        let initial = clockBusinessDate().description
        let day: Day = try await database.client.withConnection { connection in
            try await connection.query("""
                INSERT INTO business_day (id, business_date, state, changed_by) VALUES (1, \(initial)::date, 'open', 'switch (initial)')
                ON CONFLICT (id) DO NOTHING
                """, logger: logger)
            guard let day = try await Self.read(connection, logger: logger, lock: false) else {
                throw BusinessDayError("business_day row missing")
            }
            return day
        }
        cache.withLock { c in
            c.day = day
            c.fetchedAt = .now
        }
        return day
    }

    static func read(_ connection: PostgresConnection, logger: Logger, lock: Bool) async throws -> Day? {
        let columns = """
            SELECT business_date::text, state, to_char(changed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), changed_by,
                   extract(epoch FROM clock_timestamp() - changed_at)::float8
            FROM business_day WHERE id = 1
            """
        let rows = try await connection.query(PostgresQuery(unsafeSQL: columns + (lock ? " FOR UPDATE" : "")), logger: logger)
        for try await (date, state, at, by, age) in rows.decode((String, String, String, String, Double).self) {
            guard let d = CalendarDate(date) else { throw BusinessDayError("bad business date \(date)") }
            return Day(date: d, cuttingOver: state == "cutting_over", changedAt: at, changedBy: by, ageSeconds: age)
        }
        return nil
    }

    /// Closes the current business date and opens the next one; returns the business date now in
    /// force. Two steps, each its own transaction: (1) 'cutting_over' (waits for batches in flight,
    /// which hold the row FOR SHARE; from then on batches answer `90`), (2) date + 1 and 'open'.
    ///
    /// `from` is the date the caller wants to close (default: the date read now). If another
    /// instance or staff member already rolled it, nothing happens: the call is idempotent for a
    /// given `from`, and two instances racing for the same cut-over roll the date once.
    @discardableResult
    public func cutover(actor: String, from: CalendarDate? = nil) async throws -> CalendarDate {
        let logger = database.logger
        let expected: CalendarDate
        if let from { expected = from } else { expected = try await refresh().date }
        let actorName = actor.isEmpty ? "unknown" : actor
        // Step 1: mark the cut-over (the UPDATE waits for batches holding the row FOR SHARE).
        let started: Bool = try await database.client.withTransaction(logger: logger) { connection in
            let rows = try await connection.query("""
                UPDATE business_day SET state = 'cutting_over', changed_at = now(), changed_by = \(actorName)
                WHERE id = 1 AND business_date = \(expected.description)::date RETURNING 1
                """, logger: logger)
            var updated = false
            for try await _ in rows { updated = true }
            if updated {
                try await connection.query("""
                    INSERT INTO audit_events (actor, event, detail) VALUES (\(actorName), 'cutover_started', \("closing \(expected)"))
                    """, logger: logger)
            }
            return updated
        }
        if started { _ = try? await refresh() }
        // Step 2: roll the date and reopen (only if still this cut-over; else someone finished it).
        try await finishCutover(actor: actorName, closing: expected)
        return try await refresh().date
    }

    /// Step 2 of a cut-over: date + 1 and 'open', if the row is still cutting over `closing`.
    func finishCutover(actor: String, closing: CalendarDate) async throws {
        let logger = database.logger
        try await database.client.withTransaction(logger: logger) { connection in
            let rows = try await connection.query("""
                UPDATE business_day SET business_date = business_date + 1, state = 'open', changed_at = now(), changed_by = \(actor)
                WHERE id = 1 AND business_date = \(closing.description)::date AND state = 'cutting_over' RETURNING business_date::text
                """, logger: logger)
            for try await date in rows.decode(String.self) {
                try await connection.query("""
                    INSERT INTO audit_events (actor, event, detail) VALUES (\(actor), 'cutover', \("business date \(closing) -> \(date)"))
                    """, logger: logger)
            }
        }
    }

    /// Whether the clock rule says the stored date must roll: pure, for the scheduler and tests.
    public static func isCutoverDue(stored: CalendarDate, clockDate: CalendarDate) -> Bool {
        clockDate > stored
    }

    /// One scheduler step: finishes a cut-over stuck half-way, and rolls the date when the clock
    /// rule has passed it (one day per call; only one instance wins each roll). Returns the day.
    @discardableResult
    public func tick(actor: String = "switch (scheduled)") async throws -> Day {
        var day = try await refresh()
        if day.cuttingOver, day.ageSeconds >= Double(BusinessDayLimits.cutoverStuckSecondsMax) {
            database.logger.warning("finishing a cut-over left half-way", metadata: ["date": "\(day.date)", "by": "\(day.changedBy)"])
            try await finishCutover(actor: actor, closing: day.date)
            day = try await refresh()
        } else if !day.cuttingOver, Self.isCutoverDue(stored: day.date, clockDate: clockBusinessDate()) {
            database.logger.notice("scheduled cut-over", metadata: ["closing": "\(day.date)"])
            _ = try await cutover(actor: actor, from: day.date)
            day = try await refresh()
        }
        return day
    }

    /// Brings the stored date up to the clock rule (startup after days off): repeated `tick`s.
    public func catchUp(actor: String = "switch (scheduled)") async throws {
        for _ in 0..<366 {
            let day = try await tick(actor: actor)
            if day.cuttingOver || !Self.isCutoverDue(stored: day.date, clockDate: clockBusinessDate()) { return }
        }
    }
}

/// The year of a field-15 `MMDD` (which carries none): the latest such date not after `current`
/// (the current business date). Nil for an impossible MMDD.
public func inferBusinessDate(mmdd: String, current: CalendarDate) -> CalendarDate? {
    guard mmdd.count == 4, mmdd.allSatisfy(\.isASCII), let m = Int(mmdd.prefix(2)), let d = Int(mmdd.suffix(2)),
          (1...12).contains(m), d >= 1, d <= 31 else { return nil }
    for year in stride(from: current.year, through: current.year - 8, by: -1) where d <= CalendarDate.daysIn(year: year, month: m) {
        let candidate = CalendarDate(year: year, month: m, day: d)
        if candidate <= current { return candidate }
    }
    return nil
}
