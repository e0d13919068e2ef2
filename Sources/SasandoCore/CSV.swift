/// CSV fields as RFC 4180 has them, for files people open in a spreadsheet.
public enum CSV {
    /// A text field: quoted when it holds `,` `"` CR or LF (a name with a line break would
    /// otherwise split its row). With `guardingFormulas`, a field that a spreadsheet would run as
    /// a formula (starting with `=` `+` `-` `@`, a tab or CR) gets a leading `'`, so a payment
    /// point named `=HYPERLINK(...)` is shown, not evaluated (OWASP "CSV injection"). Not for
    /// numbers: their sign is data.
    public static func field(_ text: String, guardingFormulas: Bool = true) -> String {
        var value = text
        if guardingFormulas, let first = value.unicodeScalars.first, ["=", "+", "-", "@", "\t", "\r"].contains(first) {
            value = "'" + value
        }
        guard value.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" }) else { return value }
        return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
