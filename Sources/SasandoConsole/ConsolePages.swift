import Crypto
import Foundation
import Hummingbird
import Logging
import PostgresNIO
import SasandoCore
import SasandoLedger
import SasandoSettlement

/// The pages behind the login. Operators read; supervisors also run cut-over, settlement and
/// top-ups (operators get 403). Every action and download is audited with the staff user as actor.
struct ConsolePages: Sendable {
    let dependencies: ConsoleDependencies
    let store: StaffStore
    var database: SasandoDatabase { dependencies.database }
    var limits: ConsoleLimits { dependencies.limits }
    /// Every page's reads answer within `databaseQueryMillisecondsMax` (else the 503 page).
    var queries: BoundedQueries { BoundedQueries(database: database, milliseconds: limits.databaseQueryMillisecondsMax) }

    func register(on group: RouterGroup<StaffRequestContext>) {
        group.page("/dashboard") { request, context in try await dashboard(request, context) }
        group.page("/transactions") { request, context in try await transactions(request, context) }
        group.page("/payment-points") { request, context in try await paymentPoints(request, context) }
        group.page("/audit") { request, context in try await auditLog(request, context) }
        group.page("/settlement") { request, context in try await settlementPage(request, context) }
        // Downloads: GET only. A HEAD would render the file (Chromium, for the PDF) and audit a
        // download nobody received.
        group.get("/settlement.csv") { request, context in try await settlementCSV(request, context) }
        group.get("/settlement.pdf") { request, context in try await settlementPDF(request, context) }
        group.page("/settlement/period") { request, context in try await periodPage(request, context) }
        group.get("/settlement/period.csv") { request, context in try await periodCSV(request, context) }
        group.post("/cutover") { _, context in try await cutover(context) }
        group.post("/settle") { _, context in try await settle(context) }
        group.post("/payment-points/topup") { _, context in try await topUp(context) }
        registerAccessControl(on: group)
    }

    // MARK: Helpers

    func query(_ request: Request) throws -> [String: String] {
        do {
            return try FormDecoding.parse(request.uri.query ?? "")
        } catch {
            throw HTTPError(.badRequest, message: "Too many fields in the address (at most \(FormDecoding.fieldsMax)).")
        }
    }

    /// The details a notice may carry, in the order they are signed.
    static let noticeFields = ["notice", "date", "merchant", "balance", "terminal", "limit"]

    /// A redirect after a POST to a page that shows what was done. The notice is signed with the
    /// session's own secret (its CSRF token), so a crafted link cannot show a staff user a false
    /// "topped up" or "settled" banner: only the session that did it sees it.
    func redirect(_ path: String, notice fields: [String: String], _ staff: StaffSession) -> Response {
        let query = Self.noticeFields.compactMap { key in fields[key].map { "\(key)=\(HTML.queryValue($0))" } }.joined(separator: "&")
        return Pages.redirect("\(path)?\(query)&sig=\(Self.noticeSignature(fields, staff))")
    }

    static func noticeSignature(_ fields: [String: String], _ staff: StaffSession) -> String {
        let message = noticeFields.map { "\($0)=\(fields[$0] ?? "")" }.joined(separator: "\n")
        let mac = HMAC<SHA256>.authenticationCode(for: Data(message.utf8), using: SymmetricKey(data: Data(staff.csrfToken.utf8)))
        return lowercaseHex(mac.prefix(16))
    }

    /// Messages after a POST/redirect/GET: fixed texts chosen by code, plus escaped details; shown
    /// only with this session's signature (`redirect(_:notice:_:)`).
    func notice(_ request: Request, _ staff: StaffSession) throws -> (ok: Bool, text: String)? {
        let q = try query(request)
        var fields: [String: String] = [:]
        for key in Self.noticeFields { fields[key] = q[key] }
        guard let sig = q["sig"], StaffStore.constantTimeEqual(sig, Self.noticeSignature(fields, staff)) else { return nil }
        switch q["notice"] {
        case "cutover": return (true, "Cut-over done; the business date is now \(q["date"] ?? "?").")
        case "settled": return (true, "Settlement of \(q["date"] ?? "?") recorded.")
        case "settled-empty": return (false, "Settlement of \(q["date"] ?? "?") recorded: there were no payments on that date. Check the date was the one meant.")
        case "already-settled": return (false, "\(q["date"] ?? "?") was already settled: nothing changed.")
        case "topup": return (true, "Deposit of \(q["merchant"] ?? "?") topped up; balance \(q["balance"] ?? "?").")
        case "topup-repeat": return (false, "That top-up form had already been sent: nothing more was credited to \(q["merchant"] ?? "?"); balance \(q["balance"] ?? "?").")
        case "terminal-blocked": return (true, "Terminal \(q["terminal"] ?? "?") of \(q["merchant"] ?? "?") blocked: its requests get 05 from now on.")
        case "terminal-active": return (true, "Terminal \(q["terminal"] ?? "?") of \(q["merchant"] ?? "?") unblocked.")
        case "terminal-unchanged": return (false, "Terminal \(q["terminal"] ?? "?") was already so: nothing changed.")
        case "point-blocked": return (true, "Payment point \(q["merchant"] ?? "?") blocked: all its terminals get 05 from now on.")
        case "point-active": return (true, "Payment point \(q["merchant"] ?? "?") unblocked.")
        case "point-unchanged": return (false, "Payment point \(q["merchant"] ?? "?") was already so: nothing changed.")
        case "limit-set": return (true, "The daily limit of \(q["merchant"] ?? "?") is now \(q["limit"] ?? "?").")
        case "limit-unchanged": return (false, "The daily limit of \(q["merchant"] ?? "?") was already \(q["limit"] ?? "?"): nothing changed.")
        default: return nil
        }
    }

    func requireSupervisor(_ context: StaffRequestContext, action: String) async throws -> Response? {
        guard !context.staff.isSupervisor else { return nil }
        try await store.audit(actor: context.staff.username, event: "staff_forbidden", detail: action, address: context.clientAddress)
        return Pages.error(.forbidden, "Only supervisors may do this (\(action)).", staff: context.staff)
    }

    func currentDay() async -> (date: CalendarDate, cuttingOver: Bool) {
        do {
            return try await dependencies.businessDay.current()
        } catch {
            dependencies.logger.warning("console: business day unavailable; using the clock rule", metadata: ["error": "\(error)"])
            return (dependencies.businessDay.clockBusinessDate(), false)
        }
    }

    // MARK: Dashboard

    func dashboard(_ request: Request, _ context: StaffRequestContext) async throws -> Response {
        let day = await currentDay()
        let date = day.date.description
        let minutes = limits.tpsChartMinutes
        var perMinute: [SVGChart.Bar] = []
        let tps = try await queries.query("""
            SELECT to_char(m AT TIME ZONE INTERVAL '+08:00', 'HH24:MI'), coalesce(x.c, 0)::int8
            FROM generate_series(date_trunc('minute', now()) - make_interval(mins => \(minutes - 1)::int), date_trunc('minute', now()), interval '1 minute') m
            LEFT JOIN (SELECT date_trunc('minute', created_at) AS t, count(*) AS c FROM transactions
                       WHERE created_at >= date_trunc('minute', now()) - make_interval(mins => \(minutes - 1)::int) GROUP BY 1) x ON x.t = m
            ORDER BY m
            """)
        for try await (label, count) in tps.decode((String, Int64).self) {
            perMinute.append(.init(label: label, value: Double(count) / 60))
        }
        var byCode: [SVGChart.Bar] = []
        let codes = try await queries.query("""
            SELECT kind, response_code, count(*)::int8 FROM transactions WHERE business_date = \(date)::date
            GROUP BY kind, response_code ORDER BY kind, count(*) DESC
            """)
        for try await (kind, code, count) in codes.decode((String, String, Int64).self) {
            let meaning = ResponseCode(rawValue: code).map { " " + String($0.meaning.prefix(30)) } ?? ""
            byCode.append(.init(label: "\(kind) \(code)\(meaning)", value: Double(count), color: code == "00" ? "#2e7d32" : "#c62828"))
        }
        // Gross approvals, and how many of them were reversed since (the settlement nets them out).
        var approved: (count: Int64, amount: Int64, fees: Int64, declined: Int64, reversed: Int64, reversedAmount: Int64) = (0, 0, 0, 0, 0, 0)
        let totals = try await queries.query("""
            SELECT count(*) FILTER (WHERE p.response_code = '00')::int8,
                   coalesce(sum(p.amount_sen) FILTER (WHERE p.response_code = '00'), 0)::int8,
                   coalesce(sum(p.fee_sen) FILTER (WHERE p.response_code = '00'), 0)::int8,
                   count(*) FILTER (WHERE p.response_code <> '00')::int8,
                   count(r.id)::int8,
                   coalesce(sum(p.amount_sen) FILTER (WHERE r.id IS NOT NULL), 0)::int8
            FROM transactions p
            LEFT JOIN transactions r ON r.original_id = p.id AND r.journal_id IS NOT NULL
            WHERE p.business_date = \(date)::date AND p.kind = 'payment'
            """)
        for try await row in totals.decode((Int64, Int64, Int64, Int64, Int64, Int64).self) { approved = row }
        var alerts: [[String]] = []
        let low = try await queries.query("""
            SELECT p.merchant_id, p.name, a.balance FROM payment_points p JOIN accounts a ON a.code = 'DEP:' || p.merchant_id
            WHERE a.balance < \(limits.depositAlertSenMin) ORDER BY a.balance LIMIT \(limits.paymentPointsMax)
            """)
        for try await (merchant, name, balance) in low.decode((String, String, Int64).self) {
            alerts.append([HTML.escape(merchant), HTML.escape(name), HTML.money(balance)])
        }
        // The last 60 seconds, not the current minute so far (which read low early in each minute).
        var lastMinute: Int64 = 0
        for try await n in try await queries.query("SELECT count(*)::int8 FROM transactions WHERE created_at > now() - interval '60 seconds'").decode(Int64.self) {
            lastMinute = n
        }
        let tpsNow = SVGChart.fmt(Double(lastMinute) / 60, decimals: 2)
        var cutoverForm = ""
        if context.staff.isSupervisor {
            cutoverForm = """
                <form class="inline" method="post" action="/cutover">\(HTML.csrfField(context.staff))\
                <input type="hidden" name="from" value="\(HTML.escape(date))">\
                <button class="warn" type="submit">Cut over to the next business date</button></form>
                """
        }
        let body = """
            <div class="grid">
            <div class="card"><div class="muted">Business date</div><div class="stat" id="business-date">\(HTML.escape(date))</div>
            <div class="muted">\(day.cuttingOver ? "cut-over in progress" : "open")</div>\(cutoverForm)</div>
            <div class="card"><div class="muted">Approved payments today (gross)</div><div class="stat" id="approved-count">\(approved.count)</div>
            <div id="approved-amount">\(HTML.money(approved.amount)) bills + \(HTML.money(approved.fees)) fees</div>
            <div class="muted" id="reversed">of which reversed since: \(approved.reversed) (\(HTML.money(approved.reversedAmount)) bills); \
            net bills \(HTML.money(approved.amount - approved.reversedAmount)), as the settlement report counts them</div></div>
            <div class="card"><div class="muted">Declined payments today</div><div class="stat" id="declined-count">\(approved.declined)</div></div>
            <div class="card"><div class="muted">TPS (last minute)</div><div class="stat" id="tps-now">\(tpsNow)</div>
            <div class="muted">Deposit alerts: \(alerts.count)</div></div>
            </div>
            <div class="card"><h2>Transactions per second, last \(minutes) minutes (WITA)</h2>\(SVGChart.columns(perMinute, title: "TPS per minute", unit: "TPS"))</div>
            <div class="card"><h2>Approvals and declines by response code, business date \(HTML.escape(date))</h2>\(SVGChart.rows(byCode, title: "responses by code"))</div>
            <div class="card"><h2>Deposit alerts (below \(HTML.money(limits.depositAlertSenMin)))</h2>
            \(HTML.table(["Payment point", "Name", "#Deposit"], alerts, id: "deposit-alerts"))</div>
            """
        return Pages.html(.ok, HTML.page(title: "Dashboard", staff: context.staff, body: body, message: try notice(request, context.staff)))
    }

    // MARK: Transactions

    func transactions(_ request: Request, _ context: StaffRequestContext) async throws -> Response {
        let q = try query(request)
        func field(_ name: String, max: Int) -> String? {
            guard let value = q[name]?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
            return value
        }
        var problems: [String] = []
        let rrn = field("rrn", max: 12), terminal = field("terminal", max: 8), merchant = field("merchant", max: 15)
        for (name, value, length) in [("RRN", rrn, 12), ("terminal", terminal, 8), ("merchant", merchant, 15)] {
            if let value, value.count > length || !value.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) {
                problems.append("\(name) must be at most \(length) letters or digits")
            }
        }
        var date = field("date", max: 10)
        if let d = date, CalendarDate(d) == nil { problems.append("date must be YYYY-MM-DD") }
        if rrn == nil && terminal == nil && merchant == nil && date == nil { date = await currentDay().date.description }
        let form = """
            <div class="card"><form class="inline" method="get" action="/transactions">
            <input name="rrn" placeholder="RRN" maxlength="12" value="\(HTML.escape(rrn ?? ""))">
            <input name="terminal" placeholder="Terminal" maxlength="8" value="\(HTML.escape(terminal ?? ""))">
            <input name="merchant" placeholder="Payment point" maxlength="15" value="\(HTML.escape(merchant ?? ""))">
            <input name="date" type="date" value="\(HTML.escape(date ?? ""))">
            <button type="submit">Search</button></form></div>
            """
        guard problems.isEmpty else {
            return Pages.html(.badRequest, HTML.page(title: "Transactions", staff: context.staff, body: form,
                                                     message: (false, problems.joined(separator: "; "))))
        }
        var rows: [[String]] = []
        let result = try await queries.query("""
            SELECT to_char(created_at AT TIME ZONE INTERVAL '+08:00', 'YYYY-MM-DD HH24:MI:SS'), business_date::text, kind, terminal_id,
                   merchant_id, rrn, stan, coalesce(product, ''), coalesce(customer_id, ''), amount_sen, fee_sen, response_code,
                   coalesce(biller_reference, '')
            FROM transactions
            WHERE (\(rrn)::text IS NULL OR rrn = \(rrn)) AND (\(terminal)::text IS NULL OR terminal_id = \(terminal))
              AND (\(merchant)::text IS NULL OR merchant_id = \(merchant)) AND (\(date)::date IS NULL OR business_date = \(date)::date)
            ORDER BY id DESC LIMIT \(limits.searchRowsMax)
            """)
        for try await (time, businessDate, kind, terminalID, merchantID, rrnValue, stan, product, customer, amount, fee, code, reference)
            in result.decode((String, String, String, String, String, String, String, String, String, Int64, Int64, String, String).self) {
            rows.append([HTML.escape(time), HTML.escape(businessDate), HTML.escape(kind), HTML.escape(terminalID), HTML.escape(merchantID),
                         HTML.escape(rrnValue), HTML.escape(stan), HTML.escape(product),
                         HTML.escape(customer.isEmpty ? "" : Masking.maskCustomerID(customer)),
                         HTML.money(amount), HTML.money(fee), HTML.escape(code), HTML.escape(reference)])
        }
        let body = form + """
            <div class="card"><p class="muted">\(rows.count) transaction(s), newest first (at most \(limits.searchRowsMax)); customer IDs masked.</p>
            \(HTML.table(["Time (WITA)", "Business date", "Kind", "Terminal", "Payment point", "RRN", "STAN", "Product", "Customer",
                          "#Amount", "#Fee", "RC", "Biller ref"], rows, id: "transactions"))</div>
            """
        return Pages.html(.ok, HTML.page(title: "Transactions", staff: context.staff, body: body))
    }

    // MARK: Payment points and top-up

    func paymentPoints(_ request: Request, _ context: StaffRequestContext) async throws -> Response {
        var rows: [[String]] = []
        let listing = try await TerminalDirectory(database: database).paymentPoints(
            limit: limits.paymentPointsMax, boundMilliseconds: limits.databaseQueryMillisecondsMax)
        for p in listing {
            let merchant = p.merchantID
            let (deposit, limit, collected) = (p.deposit.value, p.dailyLimit.value, p.collectedToday.value)
            let terminalsCell = "<a href=\"/terminals?merchant=\(HTML.queryValue(merchant))\">\(p.terminals)</a>"
                + (p.blockedTerminals > 0 ? " (\(p.blockedTerminals) blocked)" : "")
            var row = [HTML.escape(merchant), HTML.escape(p.name), HTML.escape(p.status.rawValue), terminalsCell,
                       HTML.money(deposit) + (deposit < limits.depositAlertSenMin ? " ⚠" : ""), HTML.money(p.commission.value),
                       HTML.money(limit), HTML.money(collected) + (collected >= limit ? " ⚠" : "")]
            if context.staff.isSupervisor {
                row.append("""
                    <form class="inline" method="post" action="/payment-points/topup">\(HTML.csrfField(context.staff))\
                    <input type="hidden" name="merchant" value="\(HTML.escape(merchant))">\
                    <input type="hidden" name="request" value="\(StaffStore.randomToken())">\
                    <input name="amount" inputmode="numeric" placeholder="Rupiah" size="12" required>\
                    <button type="submit">Top up</button></form>
                    """)
                row.append(limitForm(merchant: merchant, context.staff)
                           + statusForm(action: "/payment-points/status", field: "merchant", id: merchant, blocked: p.status == .blocked, context.staff))
            }
            rows.append(row)
        }
        var headers = ["Payment point", "Name", "Status", "#Terminals", "#Deposit", "#Commission", "#Daily limit", "#Collected today"]
        if context.staff.isSupervisor { headers += ["Top-up (supervisor)", "Limit, block or unblock (supervisor)"] }
        let body = """
            <div class="card"><p class="muted">Collected today: bills and fees of the current business date, held against the \
            daily limit (past it, payments get 61). A blocked payment point's terminals get 05.</p>
            \(HTML.table(headers, rows, id: "payment-points"))</div>
            """
        return Pages.html(.ok, HTML.page(title: "Payment points and deposits", staff: context.staff, body: body, message: try notice(request, context.staff)))
    }

    func topUp(_ context: StaffRequestContext) async throws -> Response {
        if let refused = try await requireSupervisor(context, action: "deposit top-up") { return refused }
        let merchant = context.form["merchant"] ?? ""
        guard TerminalDirectory.isIdentifier(merchant, length: TerminalDirectory.merchantIDLength) else {
            return Pages.error(.badRequest, "Unknown payment point.", staff: context.staff)
        }
        let sen: Int64
        do {
            sen = try Sen.parseTypedRupiah(context.form["amount"] ?? "").value
        } catch {
            return Pages.error(.badRequest, "Nothing was topped up. \(error.description)", staff: context.staff)
        }
        guard sen > 0, sen <= limits.topUpSenMax else {
            return Pages.error(.badRequest, "Nothing was topped up: the amount must be between Rp 1 and \(Sen(limits.topUpSenMax)).",
                               staff: context.staff)
        }
        // The form's one-time key: the same form sent twice tops up once (LedgerAccounts.topUp).
        guard let requestKey = context.form["request"], StaffStore.looksLikeToken(requestKey) else {
            return Pages.error(.badRequest, "Nothing was topped up: the form is out of date. Reload the page and try again.", staff: context.staff)
        }
        let result: TopUpResult
        do {
            // LedgerAccounts.topUp writes the journal and the audit event (actor = staff user) in one transaction.
            result = try await LedgerAccounts(database: database).topUp(merchantID: merchant, amount: Sen(sen), actor: context.staff.username,
                                                                          address: context.clientAddress, requestKey: requestKey)
        } catch let error as LedgerError {
            return Pages.error(.badRequest, "Nothing was topped up: \(error.description).", staff: context.staff)
        }
        let notice = result.repeated ? "topup-repeat" : "topup"
        return redirect("/payment-points", notice: ["notice": notice, "merchant": merchant, "balance": result.balance.description], context.staff)
    }

    // MARK: Audit log

    func auditLog(_ request: Request, _ context: StaffRequestContext) async throws -> Response {
        let q = try query(request)
        let actor = q["actor"].flatMap { $0.isEmpty ? nil : String($0.prefix(64)) }
        let event = q["event"].flatMap { $0.isEmpty ? nil : String($0.prefix(64)) }
        // Dates in WITA, both included: what an auditor asks for ("everything staff did on the 30th").
        var range: [String: CalendarDate] = [:]
        for key in ["from", "to"] {
            guard let text = q[key], !text.isEmpty else { continue }
            guard let date = CalendarDate(text) else { return Pages.error(.badRequest, "\(key) must be a date, YYYY-MM-DD.", staff: context.staff) }
            range[key] = date
        }
        let from = range["from"]?.description, to = range["to"]?.description
        var rows: [[String]] = []
        let result = try await queries.query("""
            SELECT to_char(occurred_at AT TIME ZONE INTERVAL '+08:00', 'YYYY-MM-DD HH24:MI:SS'), actor, event, detail, coalesce(remote_address, '')
            FROM audit_events WHERE (\(actor)::text IS NULL OR actor = \(actor)) AND (\(event)::text IS NULL OR event = \(event))
              AND (\(from)::date IS NULL OR occurred_at >= \(from)::date::timestamp AT TIME ZONE INTERVAL '+08:00')
              AND (\(to)::date IS NULL OR occurred_at < (\(to)::date + 1)::timestamp AT TIME ZONE INTERVAL '+08:00')
            ORDER BY id DESC LIMIT \(limits.auditRowsMax)
            """)
        for try await (time, actorValue, eventValue, detail, address) in result.decode((String, String, String, String, String).self) {
            rows.append([HTML.escape(time), HTML.escape(actorValue), HTML.escape(eventValue), HTML.escape(detail), HTML.escape(address)])
        }
        let cut = rows.count == limits.auditRowsMax ? " This list stops there: narrow it by date, actor or event." : ""
        let body = """
            <div class="card"><form class="inline" method="get" action="/audit">
            <input name="actor" placeholder="Actor (staff user or terminal)" value="\(HTML.escape(actor ?? ""))">
            <input name="event" placeholder="Event" value="\(HTML.escape(event ?? ""))">
            <label>From <input name="from" type="date" value="\(HTML.escape(from ?? ""))"></label>
            <label>to <input name="to" type="date" value="\(HTML.escape(to ?? ""))"></label> (WITA)
            <button type="submit">Filter</button></form></div>
            <div class="card"><p class="muted">Newest first, at most \(limits.auditRowsMax).\(cut)</p>
            \(HTML.table(["Time (WITA)", "Actor", "Event", "Detail", "Address"], rows, id: "audit"))</div>
            """
        return Pages.html(.ok, HTML.page(title: "Audit log", staff: context.staff, body: body))
    }

    // MARK: Cut-over

    /// Closes the business date the dashboard showed (the form's `from`), once: a second click,
    /// or a second supervisor, finds it closed and changes nothing. A date already ahead of the
    /// calendar is not closed again from here (the CLI's `--from` can, deliberately).
    func cutover(_ context: StaffRequestContext) async throws -> Response {
        if let refused = try await requireSupervisor(context, action: "cut-over") { return refused }
        guard let from = CalendarDate(context.form["from"] ?? "") else {
            return Pages.error(.badRequest, "Nothing was done: the form is out of date. Reload the dashboard and try again.", staff: context.staff)
        }
        let businessDay = dependencies.businessDay
        let day = try await businessDay.refresh()
        guard day.date == from else {
            return Pages.error(.conflict, "Nothing was done: business date \(from) is already closed; the business date is now \(day.date).",
                               staff: context.staff)
        }
        let clockDate = businessDay.clockBusinessDate()
        guard from <= clockDate else {
            try await store.audit(actor: context.staff.username, event: "staff_cutover_refused", detail: "\(from) is ahead of the calendar (\(clockDate))",
                                  address: context.clientAddress)
            return Pages.error(.conflict, """
                Nothing was done: business date \(from) is already ahead of the calendar (by the clock it is \(clockDate)). \
                Closing it too would open a date two days ahead. If that is really wanted, run `sasando cutover --from \(from)`.
                """, staff: context.staff)
        }
        do {
            let date = try await businessDay.cutover(actor: context.staff.username, from: from)
            try await store.audit(actor: context.staff.username, event: "staff_cutover", detail: "\(from) -> \(date)", address: context.clientAddress)
            return redirect("/dashboard", notice: ["notice": "cutover", "date": date.description], context.staff)
        } catch {
            try await store.audit(actor: context.staff.username, event: "staff_cutover_failed", detail: "\(from): \(staffFacing(error))", address: context.clientAddress)
            return Pages.error(.conflict, "Cut-over of \(from) failed: \(staffFacing(error))", staff: context.staff)
        }
    }

    /// An error as staff may read it (pages and the audit log): our own refusals say why; anything
    /// else (SQL, library internals) is logged in full and named only by its kind.
    func staffFacing(_ error: any Error) -> String {
        switch error {
        case let refused as SettlementError: return refused.description
        case let refused as LedgerError: return refused.description
        default:
            dependencies.logger.error("console: action failed", metadata: ["error": "\(String(reflecting: error))"])
            return ConsoleErrorPage.isDatabaseTrouble(error)
                ? "the database did not answer or refused it (details in the switch's log); check the audit log before trying again"
                : "an internal error (details in the switch's log)"
        }
    }
}
