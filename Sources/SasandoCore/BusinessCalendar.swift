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

    /// Parses `YYYY-MM-DD`; nil for anything else or an impossible date.
    public init?(_ text: String) {
        let parts = text.split(separator: "-")
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]),
              (1...12).contains(m), (1...CalendarDate.daysIn(year: y, month: m)).contains(d) else { return nil }
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

    static func components(_ date: Date, offsetSeconds: Int) -> DateComponents {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(secondsFromGMT: offsetSeconds)!
        return calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
    }

    /// The business date in force at `date` when the day rolls at `cutoverHourWITA`.
    public static func businessDate(at date: Date, cutoverHourWITA: Int = 23) -> CalendarDate {
        let c = components(date, offsetSeconds: witaOffsetSeconds)
        let local = CalendarDate(year: c.year!, month: c.month!, day: c.day!)
        return c.hour! >= cutoverHourWITA ? local.adding(days: 1) : local
    }

    /// Field 7: MMDDhhmmss in UTC.
    public static func transmissionDateTime(_ date: Date) -> String {
        let c = components(date, offsetSeconds: 0)
        return [c.month!, c.day!, c.hour!, c.minute!, c.second!].map { zeroPadded($0, width: 2) }.joined()
    }

    /// Fields 12 (hhmmss) and 13 (MMDD) in WITA.
    public static func localTimeAndDate(_ date: Date) -> (time: String, date: String) {
        let c = components(date, offsetSeconds: witaOffsetSeconds)
        return ([c.hour!, c.minute!, c.second!].map { zeroPadded($0, width: 2) }.joined(), zeroPadded(c.month!, width: 2) + zeroPadded(c.day!, width: 2))
    }
}
