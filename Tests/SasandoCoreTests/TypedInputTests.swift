import Testing
import SasandoCore

/// Amounts typed by staff (console top-up, `sasando deposit topup`): a misread amount is a wrong
/// credit, so every form but the Indonesian ones is refused.
@Suite struct TypedRupiahTests {
    @Test("Indonesian forms are read as whole rupiah", arguments: [
        ("5000000", 500_000_000), ("5.000.000", 500_000_000), ("Rp 5.000.000", 500_000_000),
        ("Rp5.000.000", 500_000_000), ("rp 5.000.000", 500_000_000), ("Rp 5.000.000,00", 500_000_000),
        ("5000000,00", 500_000_000), ("  50.000  ", 5_000_000), ("1", 100), ("999", 99_900), ("1.000", 100_000),
        ("12.345.678", 1_234_567_800), ("0", 0), ("9999999999999", 999_999_999_999_900),
    ] as [(String, Int64)])
    func accepted(text: String, sen: Int64) throws {
        #expect(try Sen.parseTypedRupiah(text) == Sen(sen))
    }

    @Test("everything else is refused, with the reason", arguments: [
        ("5000000.00", "not a decimal point"), ("1.5", "not a decimal point"), ("0.5", "not a decimal point"),
        ("5.00.000", "not a decimal point"), ("5000.000.0", "not a decimal point"), (".500", "not a decimal point"),
        ("5.000.", "not a decimal point"), ("5,50", "Whole rupiah only"), ("5,", "Whole rupiah only"),
        ("1 0 0", "An amount is digits"), ("RpRp1", "An amount is digits"), ("-5", "An amount is digits"),
        ("+5", "An amount is digits"), ("abc", "An amount is digits"), ("5e6", "An amount is digits"),
        ("", "Enter an amount"), ("Rp", "Enter an amount"), ("   ", "Enter an amount"), (",00", "An amount is digits"),
        ("99999999999999999999", "too large"), ("10000000000000", "too large"), ("٥٠٠", "An amount is digits"),
    ] as [(String, String)])
    func refused(text: String, reason: String) {
        #expect {
            _ = try Sen.parseTypedRupiah(text)
        } throws: { error in
            (error as? RupiahInputError)?.description.contains(reason) == true
        }
    }
}

/// Dates typed by staff (`?date=`, `--date`) reach PostgreSQL's `date`: only real days pass.
@Suite struct TypedDateTests {
    @Test func realDatesParse() {
        for text in ["2026-11-30", "0001-01-01", "9999-12-31", "2024-02-29"] {
            #expect(CalendarDate(text)?.description == text)
        }
    }

    @Test func everythingElseIsRefused() {
        for text in ["0000-01-01", "+001-01-01", "-001-01-01", "2026-02-29", "2026-13-01", "2026-00-10", "2026-11-31",
                     " 2026-11-30", "2026-11-30 ", "2026-1-30", "20261130", "abcd-ef-gh", "2026-11-3\u{0}", "٢٠٢٦-١١-٣٠", ""] {
            #expect(CalendarDate(text) == nil, "\(text)")
        }
    }
}
