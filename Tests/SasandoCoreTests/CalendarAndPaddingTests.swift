import Foundation
import Testing
@testable import SasandoCore

/// The hot-path replacements for Foundation (integer civil time, byte-built padding and trimming)
/// must give exactly what Foundation gives.
@Suite struct CalendarAndPaddingTests {
    @Test func civilTimeMatchesFoundationAtBothOffsets() {
        var rng = SystemRandomNumberGenerator()
        // Random instants from 1901 to 2199, plus the edges that break naive arithmetic.
        var instants: [TimeInterval] = (0..<5_000).map { _ in Double(Int64.random(in: -2_177_452_800...7_258_118_400, using: &rng)) + 0.75 }
        instants += [0, -1, -0.5, 86_399.999, 86_400, 951_782_400 /* 2000-02-29 */, 4_107_542_400 /* 2100-03-01 */,
                     1_798_761_599, 1_798_732_800 - 8 * 3600 /* midnight WITA, 2027-01-01 */]
        for t in instants {
            let date = Date(timeIntervalSince1970: t)
            for offset in [0, BusinessCalendar.witaOffsetSeconds] {
                var calendar = Calendar(identifier: .gregorian)
                calendar.timeZone = TimeZone(secondsFromGMT: offset)!
                let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
                let expected = BusinessCalendar.Civil(year: c.year!, month: c.month!, day: c.day!, hour: c.hour!, minute: c.minute!, second: c.second!)
                #expect(BusinessCalendar.civil(date, offsetSeconds: offset) == expected, "t = \(t), offset \(offset)")
            }
        }
    }

    @Test func transmissionAndLocalTimeFields() {
        // 2026-11-29 15:04:05 UTC = 23:04:05 WITA: after the 23:00 cut-over, business date 11-30.
        let date = Date(timeIntervalSince1970: 1_795_964_645)
        #expect(BusinessCalendar.transmissionDateTime(date) == "1129150405")
        #expect(BusinessCalendar.localTimeAndDate(date) == ("230405", "1129"))
        #expect(BusinessCalendar.businessDate(at: date) == CalendarDate(year: 2026, month: 11, day: 30))
        #expect(BusinessCalendar.businessDate(at: date.addingTimeInterval(-3600)) == CalendarDate(year: 2026, month: 11, day: 29))
    }

    @Test func witaDateAndTimestamp() {
        // 16:00 UTC is midnight in WITA (UTC+8): the next calendar day there.
        let evening = Date(timeIntervalSince1970: 16 * 3600 + 5)
        #expect(BusinessCalendar.witaDate(at: evening) == CalendarDate(year: 1970, month: 1, day: 2))
        #expect(BusinessCalendar.witaTimestamp(evening) == "1970-01-02 00:00:05")
        #expect(BusinessCalendar.witaTimestamp(Date(timeIntervalSince1970: 0)) == "1970-01-01 08:00:00")
    }

    @Test func zeroPaddingMatchesTheFormatter() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            let value = Int64.random(in: -99_999_999_999...99_999_999_999, using: &rng)
            let width = Int.random(in: 0...20, using: &rng)
            #expect(zeroPadded(value, width: width) == String(format: "%0\(width)lld", value), "\(value) width \(width)")
        }
        #expect(zeroPadded(0, width: 6) == "000000")
        #expect(zeroPadded(7, width: 0) == "7")
        #expect(zeroPadded(-42, width: 5) == "-0042")
        #expect(zeroPadded(Int64.min + 1, width: 1) == String(Int64.min + 1))
    }

    @Test func trailingSpacesOnlyAreTrimmed() {
        #expect("PLNPOST ".trimmingTrailingSpaces() == "PLNPOST")
        #expect("  A B  ".trimmingTrailingSpaces() == "  A B")
        #expect("        ".trimmingTrailingSpaces() == "")
        #expect("".trimmingTrailingSpaces() == "")
        #expect("Ibu Maria Ndun\u{301} ".trimmingTrailingSpaces() == "Ibu Maria Ndun\u{301}")
        #expect("KPG00001"[...].trimmingTrailingSpaces() == "KPG00001")
        // The generic (Substring) and the String versions agree.
        for text in ["PLNPOST ", "  A B  ", "        ", "", "Ibu Maria Ndun\u{301}  ", "x"] {
            #expect(text[...].trimmingTrailingSpaces() == text.trimmingTrailingSpaces())
        }
    }
}
