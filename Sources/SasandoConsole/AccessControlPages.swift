import Hummingbird
import SasandoCore
import SasandoLedger

/// Who may transact: the terminals page, and the supervisor's actions on terminals and payment
/// points (block, unblock, daily limit). Each action is one audited transaction
/// (`TerminalDirectory`), holds for the next request at every switch instance, and is idempotent:
/// sending the same form twice changes nothing the second time, and says so.
extension ConsolePages {
    func registerAccessControl(on group: RouterGroup<StaffRequestContext>) {
        group.page("/terminals") { request, context in try await terminalsPage(request, context) }
        group.post("/terminals/status") { _, context in try await terminalStatus(context) }
        group.post("/payment-points/status") { _, context in try await paymentPointStatus(context) }
        group.post("/payment-points/limit") { _, context in try await dailyLimit(context) }
    }

    func terminalsPage(_ request: Request, _ context: StaffRequestContext) async throws -> Response {
        let merchant = try query(request)["merchant"].flatMap { TerminalDirectory.isIdentifier($0, length: TerminalDirectory.merchantIDLength) ? $0 : nil }
        var rows: [[String]] = []
        let listing = try await TerminalDirectory(database: database).terminals(
            merchantID: merchant, limit: limits.terminalsMax, boundMilliseconds: limits.databaseQueryMillisecondsMax)
        for t in listing {
            let (terminal, point) = (t.terminalID, t.merchantID)
            var row = [HTML.escape(terminal), "<a href=\"/terminals?merchant=\(HTML.queryValue(point))\">\(HTML.escape(point))</a>",
                       HTML.escape(t.status.rawValue) + (t.paymentPointStatus == .blocked ? " (payment point blocked)" : "")]
            if context.staff.isSupervisor {
                row.append(statusForm(action: "/terminals/status", field: "terminal", id: terminal, blocked: t.status == .blocked,
                                      context.staff))
            }
            rows.append(row)
        }
        var headers = ["Terminal", "Payment point", "Status"]
        if context.staff.isSupervisor { headers.append("Block or unblock (supervisor)") }
        let scope = merchant.map { "Terminals of \(HTML.escape($0)). <a href=\"/terminals\">All terminals</a>." } ?? "All terminals"
        let body = """
            <div class="card"><p class="muted">\(scope) At most \(limits.terminalsMax). A blocked terminal's sign-ons, \
            inquiries and payments get 05 from its next request, at every switch instance.</p>
            \(HTML.table(headers, rows, id: "terminals"))</div>
            """
        return Pages.html(.ok, HTML.page(title: "Terminals", staff: context.staff, body: body, message: try notice(request, context.staff)))
    }

    /// A block (or unblock) form with its reason, for a terminal or a payment point.
    func statusForm(action: String, field: String, id: String, blocked: Bool, _ staff: StaffSession) -> String {
        """
        <form class="inline" method="post" action="\(action)">\(HTML.csrfField(staff))\
        <input type="hidden" name="\(field)" value="\(HTML.escape(id))">\
        <input type="hidden" name="status" value="\(blocked ? "active" : "blocked")">\
        <input name="reason" placeholder="Reason" size="16" maxlength="\(TerminalDirectory.statusReasonCharactersMax)" required>\
        <button type="submit">\(blocked ? "Unblock" : "Block")</button></form>
        """
    }

    func limitForm(merchant: String, _ staff: StaffSession) -> String {
        """
        <form class="inline" method="post" action="/payment-points/limit">\(HTML.csrfField(staff))\
        <input type="hidden" name="merchant" value="\(HTML.escape(merchant))">\
        <input name="limit" inputmode="numeric" placeholder="Daily limit, Rupiah" size="14" required>\
        <button type="submit">Set limit</button></form>
        """
    }

    /// A block/unblock form as sent: the terminal's or payment point's ID (`field`), the status and
    /// the reason; bad input is refused with the 400 page saying what is wrong.
    func statusChangeForm(_ context: StaffRequestContext, field: String, length: Int, unknown: String) throws
        -> (id: String, status: EntityStatus, reason: String) {
        let id = context.form[field] ?? ""
        guard TerminalDirectory.isIdentifier(id, length: length) else { throw PageRefusal(.badRequest, unknown, staff: context.staff) }
        guard let status = context.form["status"].flatMap(EntityStatus.init(rawValue:)) else {
            throw PageRefusal(.badRequest, "Nothing was changed: the form is out of date. Reload the page.", staff: context.staff)
        }
        let reason = context.form["reason"] ?? ""
        if let problem = TerminalDirectory.reasonProblem(reason) {
            throw PageRefusal(.badRequest, "Nothing was changed: \(problem).", staff: context.staff)
        }
        return (id, status, reason)
    }

    /// The notice after a block/unblock: `PREFIX-unchanged`, or `PREFIX-` and the new status.
    static func statusNotice(_ prefix: String, _ change: StatusChange, _ status: EntityStatus) -> String {
        change.outcome == .unchanged ? "\(prefix)-unchanged" : "\(prefix)-\(status.rawValue)"
    }

    func terminalStatus(_ context: StaffRequestContext) async throws -> Response {
        if let refused = try await requireSupervisor(context, action: "terminal block/unblock") { return refused }
        let form = try statusChangeForm(context, field: "terminal", length: TerminalDirectory.terminalIDLength, unknown: "Unknown terminal.")
        let change = try await TerminalDirectory(database: database).changeTerminalStatus(form.id, to: form.status, actor: context.staff.username,
                                                                                         reason: form.reason)
        guard let merchant = change.merchantID, change.outcome != .notFound else {
            throw PageRefusal(.badRequest, "Nothing was changed: there is no terminal \(form.id).", staff: context.staff)
        }
        return redirect("/terminals", notice: ["notice": Self.statusNotice("terminal", change, form.status), "terminal": form.id,
                                               "merchant": merchant], context.staff)
    }

    func paymentPointStatus(_ context: StaffRequestContext) async throws -> Response {
        if let refused = try await requireSupervisor(context, action: "payment point block/unblock") { return refused }
        let form = try statusChangeForm(context, field: "merchant", length: TerminalDirectory.merchantIDLength, unknown: "Unknown payment point.")
        let change = try await TerminalDirectory(database: database).changePaymentPointStatus(form.id, to: form.status, actor: context.staff.username,
                                                                                             reason: form.reason)
        guard change.outcome != .notFound else {
            throw PageRefusal(.badRequest, "Nothing was changed: there is no payment point \(form.id).", staff: context.staff)
        }
        return redirect("/payment-points", notice: ["notice": Self.statusNotice("point", change, form.status), "merchant": form.id], context.staff)
    }

    func dailyLimit(_ context: StaffRequestContext) async throws -> Response {
        if let refused = try await requireSupervisor(context, action: "daily limit") { return refused }
        let merchant = context.form["merchant"] ?? ""
        guard TerminalDirectory.isIdentifier(merchant, length: TerminalDirectory.merchantIDLength) else { return Pages.error(.badRequest, "Unknown payment point.", staff: context.staff) }
        let sen: Int64
        do {
            sen = try Sen.parseTypedRupiah(context.form["limit"] ?? "").value
        } catch {
            return Pages.error(.badRequest, "The daily limit was not changed. \(error.description)", staff: context.staff)
        }
        guard sen <= TerminalDirectory.dailyLimitSenMax else {
            return Pages.error(.badRequest, "The daily limit was not changed: it is at most \(Sen(TerminalDirectory.dailyLimitSenMax)).",
                               staff: context.staff)
        }
        let change = try await TerminalDirectory(database: database).setDailyLimit(merchant, sen: sen, actor: context.staff.username)
        guard change.previous != nil else {
            return Pages.error(.badRequest, "The daily limit was not changed: there is no payment point \(merchant).", staff: context.staff)
        }
        return redirect("/payment-points", notice: ["notice": change.changed ? "limit-set" : "limit-unchanged", "merchant": merchant,
                                                    "limit": Sen(sen).description], context.staff)
    }
}
