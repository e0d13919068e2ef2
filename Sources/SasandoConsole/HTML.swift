import Foundation
import SasandoCore

/// Server-rendered HTML. Every value from the database or the request goes through `escape`; the
/// only unescaped text is the literal markup in this module.
enum HTML {
    static func escape(_ text: some StringProtocol) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for ch in text.unicodeScalars {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out
    }

    /// Percent-encodes a query value.
    static func queryValue(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }

    static func money(_ sen: Int64) -> String { escape(Sen(sen).description) }

    static let style = """
        *{box-sizing:border-box}body{margin:0;font:15px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b2430;background:#f4f6f8}
        header{background:#0b4f6c;color:#fff;padding:.6rem 1rem;display:flex;flex-wrap:wrap;gap:.4rem 1rem;align-items:center}
        header a{color:#fff;text-decoration:none}header strong{margin-right:auto}nav{display:flex;flex-wrap:wrap;gap:.2rem .8rem}
        main{padding:1rem;max-width:1200px;margin:auto}h1{font-size:1.3rem;margin:.2rem 0 1rem}h2{font-size:1.1rem;margin:1.4rem 0 .5rem}
        .card{background:#fff;border-radius:8px;padding:1rem;margin-bottom:1rem;box-shadow:0 1px 2px #0002}
        .grid{display:grid;gap:1rem;grid-template-columns:repeat(auto-fit,minmax(260px,1fr))}
        .scroll{overflow-x:auto}table{border-collapse:collapse;width:100%;background:#fff}
        th,td{padding:.35rem .5rem;border-bottom:1px solid #e3e7eb;text-align:left;white-space:nowrap}
        td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}tfoot td{font-weight:600;border-top:2px solid #1b2430}
        form.inline{display:inline-flex;gap:.4rem;flex-wrap:wrap;align-items:center}
        input,select,button{font:inherit;padding:.35rem .5rem;border:1px solid #9aa5b1;border-radius:6px}
        button{background:#0b4f6c;color:#fff;border:0;cursor:pointer}button.warn{background:#a33}
        .msg{padding:.6rem 1rem;border-radius:6px;margin-bottom:1rem}.ok{background:#e3f6e8}.err{background:#fde8e8}
        .stat{font-size:1.6rem;font-weight:600}.muted{color:#5b6775;font-size:.9rem}svg{max-width:100%;height:auto}
        @media print{header,form,.noprint{display:none}body{background:#fff;font-size:10px}.card{box-shadow:none;padding:0}
        main{max-width:none;padding:0}.scroll{overflow:visible}th,td{white-space:normal;padding:.15rem .3rem}
        tfoot{display:table-row-group}tr{break-inside:avoid}.grid{display:block}}
        @page{size:A4 landscape;margin:10mm}
        """

    /// The page frame: header with navigation (omitted on the login page and in print).
    static func page(title: String, staff: StaffSession?, body: String, message: (ok: Bool, text: String)? = nil) -> String {
        var nav = ""
        if let staff {
            nav = """
                <nav><a href="/dashboard">Dashboard</a><a href="/transactions">Transactions</a><a href="/settlement">Settlement</a>\
                <a href="/payment-points">Payment points</a><a href="/terminals">Terminals</a><a href="/audit">Audit log</a></nav>
                <form class="inline" method="post" action="/logout">\(csrfField(staff))\
                <span>\(escape(staff.username)) (\(escape(staff.role.rawValue)))</span><button type="submit">Log out</button></form>
                """
        }
        let banner = message.map { "<div class=\"msg \($0.ok ? "ok" : "err")\" role=\"status\">\(escape($0.text))</div>" } ?? ""
        return """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
            <title>\(escape(title)) · Sasando</title><style>\(style)</style></head>
            <body><header><strong><a href="/dashboard">Sasando · Bank NTT</a></strong>\(nav)</header>
            <main>\(banner)<h1>\(escape(title))</h1>
            \(body)
            </main></body></html>
            """
    }

    static func csrfField(_ staff: StaffSession) -> String {
        "<input type=\"hidden\" name=\"csrf\" value=\"\(escape(staff.csrfToken))\">"
    }

    /// A table: headers (prefix `#` marks a numeric column), rows of already escaped cells, optional footer.
    static func table(_ headers: [String], _ rows: [[String]], footer: [String]? = nil, id: String? = nil) -> String {
        let numeric = headers.map { $0.hasPrefix("#") }
        func cells(_ row: [String], tag: String) -> String {
            zip(row, numeric).map { cell, n in "<\(tag)\(n ? " class=\"n\"" : "")>\(cell)</\(tag)>" }.joined()
        }
        let head = cells(headers.map { escape($0.hasPrefix("#") ? String($0.dropFirst()) : $0) }, tag: "th")
        let body = rows.isEmpty
            ? "<tr><td colspan=\"\(headers.count)\" class=\"muted\">nothing to show</td></tr>"
            : rows.map { "<tr>\(cells($0, tag: "td"))</tr>" }.joined(separator: "\n")
        let foot = footer.map { "<tfoot><tr>\(cells($0, tag: "td"))</tr></tfoot>" } ?? ""
        return "<div class=\"scroll\"><table\(id.map { " id=\"\(escape($0))\"" } ?? "")><thead><tr>\(head)</tr></thead><tbody>\(body)</tbody>\(foot)</table></div>"
    }
}

/// Charts as inline SVG: no JavaScript, readable when printed.
enum SVGChart {
    struct Bar { var label: String; var value: Double; var color: String = "#0b4f6c" }

    /// Vertical bars (time series), labels under every `labelEvery`-th bar.
    static func columns(_ bars: [Bar], title: String, unit: String, labelEvery: Int = 3) -> String {
        let width = 640.0, height = 220.0, left = 44.0, bottom = 24.0, top = 10.0
        let maxValue = max(bars.map(\.value).max() ?? 0, 1)
        let slot = (width - left) / Double(max(bars.count, 1))
        var parts: [String] = []
        for step in 0...4 {
            let v = maxValue * Double(step) / 4
            let y = top + (height - top - bottom) * (1 - Double(step) / 4)
            parts.append("<line x1=\"\(left)\" y1=\"\(fmt(y))\" x2=\"\(width)\" y2=\"\(fmt(y))\" stroke=\"#e3e7eb\"/>")
            parts.append("<text x=\"\(left - 4)\" y=\"\(fmt(y + 4))\" text-anchor=\"end\" font-size=\"11\">\(fmt(v, decimals: v < 10 ? 1 : 0))</text>")
        }
        for (i, bar) in bars.enumerated() {
            let h = (height - top - bottom) * bar.value / maxValue
            let x = left + Double(i) * slot + slot * 0.15
            parts.append("<rect x=\"\(fmt(x))\" y=\"\(fmt(height - bottom - h))\" width=\"\(fmt(slot * 0.7))\" height=\"\(fmt(h))\" fill=\"\(bar.color)\"><title>\(HTML.escape(bar.label)): \(fmt(bar.value, decimals: 2)) \(HTML.escape(unit))</title></rect>")
            if i % labelEvery == 0 {
                parts.append("<text x=\"\(fmt(x + slot * 0.35))\" y=\"\(fmt(height - 6))\" text-anchor=\"middle\" font-size=\"11\">\(HTML.escape(bar.label))</text>")
            }
        }
        return "<svg viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" aria-label=\"\(HTML.escape(title))\">\(parts.joined())</svg>"
    }

    /// Horizontal bars (categories), value written at the end of each bar.
    static func rows(_ bars: [Bar], title: String) -> String {
        let width = 640.0, rowHeight = 26.0, left = 290.0
        let height = max(Double(bars.count) * rowHeight, rowHeight)
        let maxValue = max(bars.map(\.value).max() ?? 0, 1)
        var parts: [String] = []
        for (i, bar) in bars.enumerated() {
            let y = Double(i) * rowHeight
            let w = (width - left - 70) * bar.value / maxValue
            parts.append("<text x=\"\(left - 6)\" y=\"\(fmt(y + 17))\" text-anchor=\"end\" font-size=\"12\">\(HTML.escape(String(bar.label.prefix(44))))</text>")
            parts.append("<rect x=\"\(left)\" y=\"\(fmt(y + 4))\" width=\"\(fmt(max(w, 1)))\" height=\"\(fmt(rowHeight - 8))\" fill=\"\(bar.color)\"/>")
            parts.append("<text x=\"\(fmt(left + max(w, 1) + 6))\" y=\"\(fmt(y + 17))\" font-size=\"12\">\(fmt(bar.value, decimals: 0))</text>")
        }
        if bars.isEmpty { parts.append("<text x=\"\(left)\" y=\"17\" font-size=\"12\" fill=\"#5b6775\">no transactions yet</text>") }
        return "<svg viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" aria-label=\"\(HTML.escape(title))\">\(parts.joined())</svg>"
    }

    static func fmt(_ value: Double, decimals: Int = 1) -> String {
        String(format: "%.\(decimals)f", value)
    }
}
