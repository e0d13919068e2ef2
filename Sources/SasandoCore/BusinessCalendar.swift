import Foundation

/// A calendar date (no time zone), e.g. a business date. Written `YYYY-MM-DD`.
public struct CalendarDate: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public var year: Int
    public var month: Int
    public var day: Int

    public init(year: Int, month: Int, day: Int) {
        self.year = year
        self.month = month
        self.day = day
    }

    /// Parses `YYYY-MM-DD`; nil for anything else or an impossible date. Year 0000 is impossible:
    /// the Gregorian calendar (and PostgreSQL's `date`) goes from 1 BC to AD 1.
    public init?(_ text: String) {
        let parts = text.split(separator: "-")
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              parts.allSatisfy({ $0.allSatisfy { ("0"..."9").contains($0) } }),
              let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]),
              y >= 1, (1...12).contains(m), (1...CalendarDate.daysIn(year: y, month: m)).contains(d) else { return nil }
        self.init(year: y, month: m, day: d)
    }

    public var description: String {
        zeroPadded(year, width: 4) + "-" + zeroPadded(month, width: 2) + "-" + zeroPadded(day, width: 2)
    }

    /// `MMDD`, as field 15 carries it.
    public var mmdd: String { zeroPadded(month, width: 2) + zeroPadded(day, width: 2) }

    /// `YYYYMM` of the month before this date (the latest bill period, spec §9).
    public var previousMonthPeriod: String {
        month == 1 ? zeroPadded(year - 1, width: 4) + "12" : zeroPadded(year, width: 4) + zeroPadded(month - 1, width: 2)
    }

    public func adding(days: Int) -> CalendarDate {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let date = calendar.date(from: DateComponents(year: year, month: month, day: day))!
        let next = calendar.date(byAdding: .day, value: days, to: date)!
        let c = calendar.dateComponents([.year, .month, .day], from: next)
        return CalendarDate(year: c.year!, month: c.month!, day: c.day!)
    }

    public static func < (a: CalendarDate, b: CalendarDate) -> Bool {
        (a.year, a.month, a.day) < (b.year, b.month, b.day)
    }

    public static func daysIn(year: Int, month: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}

/// Time as the spec writes it: field 7 in UTC, fields 12/13 in WITA (UTC+8), and the business date
/// that rolls at the cut-over hour (spec §3, default 23:00 WITA).
public enum BusinessCalendar {
    public static let witaOffsetSeconds = 8 * 3600

    /// Civil time at a fixed UTC offset (UTC and WITA have no daylight saving), by integer
    /// arithmetic: Foundation's Calendar was a large share of the load generator's profile.
    struct Civil: Equatable { var year, month, day, hour, minute, second: Int }

    static func civil(_ date: Date, offsetSeconds: Int) -> Civil {
        let seconds = Int(date.timeIntervalSince1970.rounded(.down)) + offsetSeconds
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        let (y, m, d) = civilFromDays(days)
        return Civil(year: y, month: m, day: d, hour: secondOfDay / 3600, minute: secondOfDay % 3600 / 60, second: secondOfDay % 60)
    }

    /// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's `civil_from_days`).
    static func civilFromDays(_ z0: Int) -> (year: Int, month: Int, day: Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// The business date in force at `date` when the day rolls at `cutoverHourWITA`.
    public static func businessDate(at date: Date, cutoverHourWITA: Int = 23) -> CalendarDate {
        let c = civil(date, offsetSeconds: witaOffsetSeconds)
        let local = CalendarDate(year: c.year, month: c.month, day: c.day)
        return c.hour >= cutoverHourWITA ? local.adding(days: 1) : local
    }

    /// The calendar date in WITA at `date` (no cut-over).
    public static func witaDate(at date: Date) -> CalendarDate {
        let c = civil(date, offsetSeconds: witaOffsetSeconds)
        return CalendarDate(year: c.year, month: c.month, day: c.day)
    }

    /// `YYYY-MM-DD hh:mm:ss` in WITA, for what people read (printed reports).
    public static func witaTimestamp(_ date: Date) -> String {
        let c = civil(date, offsetSeconds: witaOffsetSeconds)
        return CalendarDate(year: c.year, month: c.month, day: c.day).description + " "
            + [c.hour, c.minute, c.second].map { twoDigits([$0]) }.joined(separator: ":")
    }

    /// Field 7: MMDDhhmmss in UTC.
    public static func transmissionDateTime(_ date: Date) -> String {
        let c = civil(date, offsetSeconds: 0)
        return twoDigits([c.month, c.day, c.hour, c.minute, c.second])
    }

    /// Fields 12 (hhmmss) and 13 (MMDD) in WITA.
    public static func localTimeAndDate(_ date: Date) -> (time: String, date: String) {
        let c = civil(date, offsetSeconds: witaOffsetSeconds)
        return (twoDigits([c.hour, c.minute, c.second]), twoDigits([c.month, c.day]))
    }

    /// Each value 0...99 as two ASCII digits.
    static func twoDigits(_ values: [Int]) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(values.count * 2)
        for v in values {
            assert((0...99).contains(v), "a calendar field is two digits")
            bytes.append(UInt8(ascii: "0") + UInt8(v / 10))
            bytes.append(UInt8(ascii: "0") + UInt8(v % 10))
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
