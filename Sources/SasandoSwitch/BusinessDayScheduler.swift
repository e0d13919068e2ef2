import Foundation
import Logging
import SasandoCore
import SasandoISO8583
import SasandoSettlement
import ServiceLifecycle
import Synchronization

/// Per instance, every `BusinessDayService.pollMilliseconds`: reads the `business_day` row, runs the
/// automatic cut-over when the clock rule (WITA date, +1 from `cutoverHourWITA`) has passed the
/// stored date (every instance tries; the conditional UPDATE lets one win), finishes a cut-over left
/// half-way, and, when it sees the date change (whoever rolled it), sends 0800/201 to every
/// terminal signed on to THIS instance.
public final class BusinessDayScheduler: Service, Sendable {
    public let businessDay: BusinessDayService
    let registry: ConnectionRegistry
    let logger: Logger
    private let state = Mutex<(lastSeen: CalendarDate?, stan: Int)>((nil, 0))

    public init(businessDay: BusinessDayService, registry: ConnectionRegistry, logger: Logger) {
        self.businessDay = businessDay
        self.registry = registry
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.step()
                try? await Task.sleep(for: .milliseconds(self.businessDay.pollMilliseconds))
            }
        }
    }

    /// One poll: cut over if due, then notify on a changed date. Never throws (logged).
    public func step() async {
        do {
            let day = try await businessDay.tick()
            observe(day.date)
        } catch {
            logger.error("business day poll failed", metadata: ["error": "\(error)"])
        }
    }

    func observe(_ date: CalendarDate) {
        let changed = state.withLock { s -> Bool in
            defer { s.lastSeen = date }
            return s.lastSeen != nil && s.lastSeen != date
        }
        if changed {
            let sent = notifyCutover(newDate: date)
            logger.notice("business date changed; cut-over notices sent", metadata: ["date": "\(date)", "terminals": "\(sent)"])
        }
    }

    /// Sends 0800 (7, 11, 41, 70 = 201, 15 = the new business date) to every signed-on connection of
    /// this instance; returns how many. Terminals answer 0810, which the session does not answer.
    @discardableResult
    public func notifyCutover(newDate: CalendarDate, now: Date = Date()) -> Int {
        var sent = 0
        for connection in registry.signedOn {
            let stan = state.withLock { s -> Int in
                s.stan = s.stan % 999_999 + 1
                return s.stan
            }
            let notice = Self.cutoverNotice(terminalID: connection.terminalID, stan: stan, newDate: newDate, now: now)
            guard let body = try? ISO8583Codec.encode(notice) else { continue }
            connection.send(body: body)
            sent += 1
        }
        return sent
    }

    public static func cutoverNotice(terminalID: String, stan: Int, newDate: CalendarDate, now: Date) -> ISOMessage {
        var m = ISOMessage(mti: "0800")
        m[7] = BusinessCalendar.transmissionDateTime(now)
        m[11] = zeroPadded(stan, width: 6)
        m[15] = newDate.mmdd
        m[41] = terminalID
        m[70] = "201"
        return m
    }
}
