import Foundation
import Hummingbird
import SasandoCore
import SasandoSettlement

/// Settlement report of a date (per biller, per payment point, trial balance), its CSV and PDF
/// downloads, and the settle button. The PDF is the same HTML printed by headless Chromium.
extension ConsolePages {
    /// The `date` query parameter (default: the current business date); nil when malformed.
    func reportDate(_ request: Request) async throws -> CalendarDate? {
        guard let text = try query(request)["date"], !text.isEmpty else { return await currentDay().date }
        return CalendarDate(text)
    }

    func settlementPage(_ request: Request, _ context: StaffRequestContext) async throws -> Response {
        guard let date = try await reportDate(request) else { return Pages.plain(.badRequest, "date must be YYYY-MM-DD") }
        let report = try await dependencies.settlement.report(date: date)
        var actions = """
            <div class="card noprint"><form class="inline" method="get" action="/settlement">
            <input name="date" type="date" value="\(date.description)"><button type="submit">Show</button></form>
            <a href="/settlement.csv?date=\(date.description)">Download CSV</a> · <a href="/settlement.pdf?date=\(date.description)">Download PDF</a> · \
            <a href="/settlement/period">Period summary</a>
            """
        // Only a closed date with payments: an empty date needs no settlement (dates with payments
        // settle in order), and one before the ledger began is refused anyway.
        if context.staff.isSupervisor && report.settledAt == nil && !report.isOpenDate && !report.isFutureDate && report.totals.payments > 0 {
            actions += """
                <form class="inline" method="post" action="/settle">\(HTML.csrfField(context.staff))\
                <input type="hidden" name="date" value="\(date.description)"><button class="warn" type="submit">Settle \(date.description)</button></form>
                """
        }
        actions += "</div>"
        return Pages.html(.ok, HTML.page(title: "Settlement report \(date.description)", staff: context.staff,
                                         body: actions + Self.settlementBody(report), message: try notice(request, context.staff)))
    }

    /// The report itself; shared by the page and the PDF.
    static func settlementBody(_ report: SettlementReport) -> String {
        let t = report.totals
        let status = report.settledAt.map { "Settled at \(HTML.escape($0)) by \(HTML.escape(report.settledBy ?? "?"))" }
            ?? (report.isFutureDate ? "Not reached yet: this date is after the current business date"
                : report.isOpenDate ? "Open business date (figures may still change)" : "Not settled yet")
        let billers = report.billers.map {
            [HTML.escape($0.billerID), HTML.escape($0.payableAccount), "\($0.payments)", HTML.money($0.paymentAmount),
             "\($0.reversals)", HTML.money($0.reversalAmount), HTML.money($0.netPayable)]
        }
        let points = report.paymentPoints.map {
            [HTML.escape($0.merchantID), HTML.escape($0.name), "\($0.payments)", HTML.money($0.debits), "\($0.reversals)",
             HTML.money($0.reversalDebits), HTML.money($0.commission), HTML.money($0.depositBalance)]
        }
        let trial = report.trialBalance.map { [HTML.escape($0.account), HTML.escape($0.kind), HTML.money($0.balance)] }
        return """
            <div class="card"><p>\(status)</p>
            <div class="grid"><div><div class="muted">Payments</div><div class="stat" id="total-payments">\(t.payments)</div></div>
            <div><div class="muted">Bills paid</div><div class="stat" id="total-payment-amount">\(HTML.money(t.paymentAmount))</div></div>
            <div><div class="muted">Net payable to billers</div><div class="stat" id="total-net-payable">\(HTML.money(t.netPayable))</div></div>
            <div><div class="muted">Commission · bank fee income</div><div class="stat">\(HTML.money(t.commission)) · \(HTML.money(t.feeIncome))</div></div></div></div>
            <div class="card"><h2>Per biller</h2>
            \(HTML.table(["Biller", "Payable account", "#Payments", "#Amount", "#Reversals", "#Reversed", "#Net payable"], billers,
                         footer: ["Total", "", "\(t.payments)", HTML.money(t.paymentAmount), "\(t.reversals)", HTML.money(t.reversalAmount), HTML.money(t.netPayable)],
                         id: "billers"))</div>
            <div class="card"><h2>Per payment point</h2>
            \(HTML.table(["Payment point", "Name", "#Payments", "#Debits", "#Reversals", "#Reversed", "#Commission", "#Deposit at close"], points,
                         footer: ["Total", "", "\(t.payments)", HTML.money(t.debits), "\(t.reversals)", HTML.money(t.reversalDebits), HTML.money(t.commission), ""],
                         id: "payment-points"))</div>
            <div class="card"><h2>Trial balance at the close of \(report.businessDate.description) (all accounts)</h2>
            \(HTML.table(["Account", "Kind", "#Balance"], trial, footer: ["Total", "", "<span id=\"trial-balance-total\">\(HTML.money(report.trialBalanceTotal))</span>"],
                         id: "trial-balance"))\(report.reversedLaterNote.map { "<p class=\"muted\">\(HTML.escape($0))</p>" } ?? "")</div>
            """
    }

    func settlementCSV(_ request: Request, _ context: StaffRequestContext) async throws -> Response {
        guard let date = try await reportDate(request) else { return Pages.plain(.badRequest, "date must be YYYY-MM-DD") }
        let report = try await dependencies.settlement.report(date: date)
        try await store.audit(actor: context.staff.username, event: "staff_download_csv", detail: "settlement \(date)", address: context.clientAddress)
        return Response(status: .ok, headers: [.contentType: "text/csv; charset=utf-8",
                                               .contentDisposition: "attachment; filename=\"settlement-\(date).csv\""],
                        body: .init(byteBuffer: ByteBuffer(string: report.renderCSV())))
    }

    func settlementPDF(_ request: Request, _ context: StaffRequestContext) async throws -> Response {
        guard let date = try await reportDate(request) else { return Pages.plain(.badRequest, "date must be YYYY-MM-DD") }
        let report = try await dependencies.settlement.report(date: date)
        // Printed: every column (the screen's scrolling tables would be cut at the page edge), A4
        // landscape, the totals once at the end, and who printed it when, from which release.
        let printed = "<p class=\"muted\">Printed \(HTML.escape(BusinessCalendar.witaTimestamp(Date()))) WITA by \(HTML.escape(context.staff.username)) "
            + "from Sasando \(HTML.escape(SasandoVersion.release)).</p>"
        let html = HTML.page(title: "Settlement report \(date.description)", staff: nil, body: Self.settlementBody(report) + printed)
        let pdf: [UInt8]
        do {
            pdf = try await PDFRenderer(chromiumPath: dependencies.chromiumPath, limits: limits).render(html: html)
        } catch let error as PDFRenderer.Failure {
            return Pages.error(.serviceUnavailable, error.description, staff: context.staff)
        }
        try await store.audit(actor: context.staff.username, event: "staff_download_pdf", detail: "settlement \(date)", address: context.clientAddress)
        return Response(status: .ok, headers: [.contentType: "application/pdf",
                                               .contentDisposition: "attachment; filename=\"settlement-\(date).pdf\""],
                        body: .init(byteBuffer: ByteBuffer(bytes: pdf)))
    }

    // MARK: Period summary

    /// The `from` and `to` query parameters (default: the current business date's month so far);
    /// a malformed one is refused with the 400 page.
    func periodRange(_ request: Request, _ context: StaffRequestContext) async throws -> (from: CalendarDate, to: CalendarDate) {
        let parameters = try query(request)
        let today = await currentDay().date
        func date(_ name: String, default value: CalendarDate) -> CalendarDate? {
            guard let text = parameters[name], !text.isEmpty else { return value }
            return CalendarDate(text)
        }
        guard let from = date("from", default: CalendarDate(year: today.year, month: today.month, day: 1)),
              let to = date("to", default: today) else {
            throw PageRefusal(.badRequest, "Dates are YYYY-MM-DD.", staff: context.staff)
        }
        return (from, to)
    }

    /// The summary; the service's refusal (a range too long, or after today) is the 400 page.
    func periodSummary(_ request: Request, _ context: StaffRequestContext) async throws -> PeriodSummary {
        let (from, to) = try await periodRange(request, context)
        do {
            return try await dependencies.settlement.periodSummary(
                from: from, to: to, statementTimeoutMilliseconds: limits.databaseQueryMillisecondsMax)
        } catch let refused as SettlementError {
            throw PageRefusal(.badRequest, "No summary: \(refused.description).", staff: context.staff)
        }
    }

    func periodPage(_ request: Request, _ context: StaffRequestContext) async throws -> Response {
        let summary = try await periodSummary(request, context)
        let range = "from=\(summary.from)&to=\(summary.requestedTo)"
        func numbers(_ t: SettlementReport.Totals) -> [String] {
            ["\(t.payments)", HTML.money(t.paymentAmount), "\(t.reversals)", HTML.money(t.reversalAmount), HTML.money(t.netPayable),
             HTML.money(t.feeIncome), HTML.money(t.commission)]
        }
        let dates = summary.dates.map { line in
            ["<a href=\"/settlement?date=\(line.businessDate)\">\(line.businessDate)</a>",
             HTML.escape(line.state.rawValue) + (line.settledBy.map { " by " + HTML.escape($0) } ?? "")] + numbers(line.totals)
        }
        let billers = summary.billers.map {
            [HTML.escape($0.billerID), "\($0.payments)", HTML.money($0.paymentAmount), "\($0.reversals)", HTML.money($0.reversalAmount),
             HTML.money($0.netPayable)]
        }
        let t = summary.totals
        let unsettled = summary.unsettledDates
        let notes = (summary.requestedTo != summary.to ? "<p class=\"muted\">Dates after \(summary.to), the current business date, have not happened yet.</p>" : "")
            + (unsettled.isEmpty ? "<p>Every date with payments in the range is settled.</p>"
               : "<p>Not settled yet (their figures may still change): \(unsettled.map(\.description).joined(separator: ", ")).</p>")
        let body = """
            <div class="card noprint"><form class="inline" method="get" action="/settlement/period">
            From <input name="from" type="date" value="\(summary.from)"> to <input name="to" type="date" value="\(summary.requestedTo)">\
            <button type="submit">Show</button></form> <a href="/settlement/period.csv?\(range)">Download CSV</a>
            <p class="muted">At most \(PeriodSummary.daysMax) days. A date's figures are its settlement report's: its payments, \
            and the reversals of them whenever posted.</p></div>
            <div class="card"><h2>By business date</h2>\(notes)
            \(HTML.table(["Business date", "State", "#Payments", "#Bills paid", "#Reversals", "#Reversed", "#Net to billers", "#Fee income", "#Commission"],
                         dates, footer: ["Total", ""] + numbers(t), id: "period-dates"))</div>
            <div class="card"><h2>Per biller over the period</h2>
            \(HTML.table(["Biller", "#Payments", "#Bills paid", "#Reversals", "#Reversed", "#Net payable"], billers,
                         footer: ["Total", "\(t.payments)", HTML.money(t.paymentAmount), "\(t.reversals)", HTML.money(t.reversalAmount), HTML.money(t.netPayable)],
                         id: "period-billers"))</div>
            """
        return Pages.html(.ok, HTML.page(title: "Period summary \(summary.from) to \(summary.to)", staff: context.staff, body: body))
    }

    func periodCSV(_ request: Request, _ context: StaffRequestContext) async throws -> Response {
        let summary = try await periodSummary(request, context)
        try await store.audit(actor: context.staff.username, event: "staff_download_csv", detail: "period \(summary.from) to \(summary.to)",
                              address: context.clientAddress)
        return Response(status: .ok, headers: [.contentType: "text/csv; charset=utf-8",
                                               .contentDisposition: "attachment; filename=\"period-\(summary.from)-\(summary.to).csv\""],
                        body: .init(byteBuffer: ByteBuffer(string: summary.renderCSV())))
    }

    func settle(_ context: StaffRequestContext) async throws -> Response {
        if let refused = try await requireSupervisor(context, action: "settlement") { return refused }
        guard let date = CalendarDate(context.form["date"] ?? "") else {
            return Pages.error(.badRequest, "date must be YYYY-MM-DD", staff: context.staff)
        }
        do {
            let outcome = try await dependencies.settlement.settle(date: date, actor: context.staff.username)
            let detail: String, notice: String
            switch outcome {
            case .settled(let r):
                detail = "\(date) settled: net payable \(Sen(r.totals.netPayable)), commission \(Sen(r.totals.commission))"
                notice = r.totals.payments == 0 ? "settled-empty" : "settled"
            case .alreadySettled:
                detail = "\(date) was already settled; nothing changed"
                notice = "already-settled"
            }
            try await store.audit(actor: context.staff.username, event: "staff_settle", detail: detail, address: context.clientAddress)
            return redirect("/settlement", notice: ["notice": notice, "date": date.description], context.staff)
        } catch {
            let reason = staffFacing(error)
            try await store.audit(actor: context.staff.username, event: "staff_settle_failed", detail: "\(date): \(reason)", address: context.clientAddress)
            return Pages.error(.conflict, "Settlement of \(date) refused: \(reason)", staff: context.staff)
        }
    }
}
