import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Prometheus
import SasandoConsole
import SasandoCore
import SasandoLedger
import SasandoSettlement
import Testing

/// Router tests (no sockets) against the real PostgreSQL that scripts/test starts.
enum ConsoleTestEnvironment {
    static var databaseURL: String? {
        let url = ProcessInfo.processInfo.environment["SASANDO_DATABASE_URL"]
        return (url?.isEmpty ?? true) ? nil : url
    }
    static let password = "correct horse battery staple"

    static var schemaSQL: String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return try! String(contentsOf: root.appendingPathComponent("schema.sql"), encoding: .utf8)
    }
}

/// One console on a fresh pair of staff users (operator, supervisor) and a payment point.
struct ConsoleFixture: Sendable {
    let database: SasandoDatabase
    let operatorName: String
    let supervisorName: String
    let merchantID: String
    let registry: PrometheusCollectorRegistry

    static func run(limits: ConsoleLimits = ConsoleFixture.testLimits,
                    _ body: @Sendable (any TestClientProtocol, ConsoleFixture) async throws -> Void) async throws {
        let url = try #require(ConsoleTestEnvironment.databaseURL, "SASANDO_DATABASE_URL is not set: run ./scripts/test")
        var logger = Logger(label: "console-test")
        logger.logLevel = .critical
        let database = try SasandoDatabase(url: url, connectionsMax: 4, logger: logger)
        let databaseTask = Task { try await database.run() }
        defer { databaseTask.cancel() }
        // scripts/test applies schema.sql first; migrate only when run on a bare database.
        var hasStaffTables = false
        for try await exists in try await database.client.query("SELECT to_regclass('staff_users') IS NOT NULL").decode(Bool.self) {
            hasStaffTables = exists
        }
        if !hasStaffTables { try await database.migrate(schemaSQL: ConsoleTestEnvironment.schemaSQL) }

        let tag = String(UInt32.random(in: 0...UInt32.max), radix: 36)
        let store = StaffStore(database: database, limits: limits)
        let fixture = ConsoleFixture(database: database, operatorName: "op-\(tag)", supervisorName: "sup-\(tag)",
                                     merchantID: "CONSOLE" + String(format: "%08d", Int.random(in: 0...99_999_999)),
                                     registry: PrometheusCollectorRegistry())
        try await store.addUser(username: fixture.operatorName, password: ConsoleTestEnvironment.password, role: .operator, cost: 4)
        try await store.addUser(username: fixture.supervisorName, password: ConsoleTestEnvironment.password, role: .supervisor, cost: 4)
        try await TerminalDirectory(database: database).upsertPaymentPoint(merchantID: fixture.merchantID, name: "Console <Test> & Co")
        try await LedgerAccounts(database: database).openPaymentPoint(merchantID: fixture.merchantID, openingDeposit: .rupiah(1_000_000))

        let dependencies = ConsoleDependencies(
            database: database, businessDay: BusinessDayService(database: database), settlement: SettlementService(database: database),
            metrics: fixture.registry, limits: limits, logger: logger)
        let app = Application(router: buildRouter(dependencies))
        try await app.test(.router) { client in try await body(client, fixture) }
    }

    static var testLimits: ConsoleLimits {
        var limits = ConsoleLimits()
        // Every router test comes from the same (socketless) address; per-user limits are what is tested.
        limits.loginFailuresPerAddressMax = 1_000_000
        return limits
    }

    func auditEvents(actor: String) async throws -> [String] {
        var events: [String] = []
        for try await event in try await database.client.query("SELECT event FROM audit_events WHERE actor = \(actor) ORDER BY id").decode(String.self) {
            events.append(event)
        }
        return events
    }

    func depositBalance() async throws -> Int64 {
        try #require(try await LedgerAccounts(database: database).balance(code: AccountCode.deposit(merchantID))).value
    }
}

/// A logged-in browser, as far as the router can tell: the session cookie and the page's CSRF token.
struct Session: Sendable {
    let cookie: String
    let csrf: String
}

extension TestClientProtocol {
    func getLoginForm() async throws -> (cookie: String, csrf: String) {
        let response = try await execute(uri: "/login", method: .get)
        #expect(response.status == .ok)
        let setCookie = response.headers[values: .setCookie].first { $0.hasPrefix("__Host-sasando_login=") } ?? ""
        let value = String(setCookie.dropFirst("__Host-sasando_login=".count).prefix { $0 != ";" })
        let csrf = try #require(Self.hiddenCSRF(in: String(buffer: response.body)))
        return (value, csrf)
    }

    func postLogin(_ username: String, _ password: String) async throws -> TestResponse {
        let form = try await getLoginForm()
        let body = "csrf=\(form.csrf)&username=\(username)&password=\(password.replacingOccurrences(of: " ", with: "+"))"
        return try await execute(uri: "/login", method: .post,
                                 headers: [.cookie: "__Host-sasando_login=\(form.cookie)", .contentType: "application/x-www-form-urlencoded"],
                                 body: ByteBuffer(string: body))
    }

    func login(_ username: String) async throws -> Session {
        let response = try await postLogin(username, ConsoleTestEnvironment.password)
        #expect(response.status == .seeOther)
        #expect(response.headers[.location] == "/dashboard")
        let setCookie = try #require(response.headers[values: .setCookie].first { $0.hasPrefix("__Host-sasando_session=") })
        for attribute in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] { #expect(setCookie.contains(attribute)) }
        let token = String(setCookie.dropFirst("__Host-sasando_session=".count).prefix { $0 != ";" })
        let dashboard = try await get("/dashboard", cookie: token)
        #expect(dashboard.status == .ok)
        let csrf = try #require(Self.hiddenCSRF(in: String(buffer: dashboard.body)))
        return Session(cookie: token, csrf: csrf)
    }

    func get(_ uri: String, cookie: String?) async throws -> TestResponse {
        var headers: HTTPFields = [:]
        if let cookie { headers[.cookie] = "__Host-sasando_session=\(cookie)" }
        return try await execute(uri: uri, method: .get, headers: headers)
    }

    func post(_ uri: String, session: Session?, form: String) async throws -> TestResponse {
        var headers: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
        if let session { headers[.cookie] = "__Host-sasando_session=\(session.cookie)" }
        return try await execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(string: form))
    }

    static func hiddenCSRF(in html: String) -> String? {
        guard let range = html.range(of: "name=\"csrf\" value=\"") else { return nil }
        return String(html[range.upperBound...].prefix { $0 != "\"" })
    }
}

/// The one-time key of a top-up form on the page (each form has its own).
func topUpKey(in html: String) -> String? {
    guard let key = html.range(of: "name=\"request\" value=\"") else { return nil }
    return String(html[key.upperBound...].prefix { $0 != "\"" })
}

/// A key as the page makes them (43 URL-safe base64 characters), for forms the test sends itself.
func newTopUpKey() -> String {
    let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    return String((0..<43).map { _ in alphabet.randomElement()! })
}

@Suite("Staff console router", .serialized)
struct ConsoleRouterTests {
    static let pages = ["/dashboard", "/transactions", "/settlement", "/settlement/period", "/payment-points", "/terminals", "/audit"]

    @Test("no session: pages redirect to the login page, actions get 401")
    func noSession() async throws {
        try await ConsoleFixture.run { client, _ in
            for page in Self.pages + ["/settlement.csv", "/settlement.pdf", "/settlement/period.csv"] {
                let response = try await client.get(page, cookie: nil)
                #expect(response.status == .seeOther, "\(page)")
                #expect(response.headers[.location] == "/login")
            }
            let forged = try await client.get("/dashboard", cookie: String(repeating: "A", count: 43))
            #expect(forged.status == .seeOther)
            for action in ["/cutover", "/settle", "/payment-points/topup"] {
                let response = try await client.post(action, session: nil, form: "csrf=x")
                #expect(response.status == .unauthorized, "\(action)")
            }
        }
    }

    @Test("login page: form with CSRF token, security headers; login without its cookie is refused")
    func loginPage() async throws {
        try await ConsoleFixture.run { client, fixture in
            let response = try await client.execute(uri: "/login", method: .get)
            #expect(response.status == .ok)
            let html = String(buffer: response.body)
            #expect(html.contains("<form method=\"post\" action=\"/login\">"))
            #expect(response.headers[.contentSecurityPolicy]?.contains("default-src 'none'") == true)
            #expect(response.headers[.cacheControl] == "no-store")
            let cookie = try #require(response.headers[values: .setCookie].first)
            #expect(cookie.contains("Secure") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"))
            // Correct password, but no login-form cookie (cross-site form): 403.
            let forged = try await client.execute(
                uri: "/login", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                body: ByteBuffer(string: "csrf=abc&username=\(fixture.operatorName)&password=correct+horse+battery+staple"))
            #expect(forged.status == .forbidden)
        }
    }

    @Test("operator: every page renders; downloads are audited")
    func operatorPages() async throws {
        try await ConsoleFixture.run { client, fixture in
            let session = try await client.login(fixture.operatorName)
            let expectations = [
                "/dashboard": "id=\"approved-count\"", "/transactions": "id=\"transactions\"",
                "/settlement": "id=\"trial-balance-total\"", "/payment-points": "id=\"payment-points\"", "/audit": "id=\"audit\"",
            ]
            for (page, marker) in expectations {
                let response = try await client.get(page, cookie: session.cookie)
                #expect(response.status == .ok, "\(page)")
                let html = String(buffer: response.body)
                #expect(html.contains(marker), "\(page) lacks \(marker)")
                #expect(html.contains("name=\"csrf\""), "\(page) has no CSRF field in its logout form")
                #expect(!html.contains("action=\"/cutover\"") && !html.contains("action=\"/settle\"")
                        && !html.contains("action=\"/payment-points/topup\""),
                        "\(page) shows a supervisor form to an operator")
            }
            // Escaped output: the payment point's name has < > &.
            let points = String(buffer: try await client.get("/payment-points", cookie: session.cookie).body)
            #expect(points.contains("Console &lt;Test&gt; &amp; Co"))
            #expect(!points.contains("Console <Test>"))

            let search = try await client.get("/transactions?merchant=\(fixture.merchantID)&date=2001-01-01", cookie: session.cookie)
            #expect(search.status == .ok)
            let bad = try await client.get("/transactions?terminal=%3Cscript%3E", cookie: session.cookie)
            #expect(bad.status == .badRequest)
            #expect(!String(buffer: bad.body).contains("<script>"))

            let csv = try await client.get("/settlement.csv?date=2001-01-01", cookie: session.cookie)
            #expect(csv.status == .ok)
            #expect(csv.headers[.contentType]?.hasPrefix("text/csv") == true)
            #expect(String(buffer: csv.body).hasPrefix(SettlementReport.csvHeader))
            let pdf = try await client.get("/settlement.pdf?date=2001-01-01", cookie: session.cookie)
            if pdf.status == .ok {
                #expect(String(buffer: pdf.body).hasPrefix("%PDF"))
            } else {
                // No Chromium on this machine: a clear page, not a crash.
                #expect(pdf.status == .serviceUnavailable)
                #expect(String(buffer: pdf.body).contains("Chromium"))
            }
            let badDate = try await client.get("/settlement?date=2001-13-01", cookie: session.cookie)
            #expect(badDate.status == .badRequest)
            let events = try await fixture.auditEvents(actor: fixture.operatorName)
            #expect(events.contains("staff_login"))
            #expect(events.contains("staff_download_csv"))
        }
    }

    @Test("operator: cut-over, settlement and top-up are refused with 403 and audited")
    func operatorRefused() async throws {
        try await ConsoleFixture.run { client, fixture in
            let session = try await client.login(fixture.operatorName)
            let before = try await fixture.depositBalance()
            for (action, form) in [("/cutover", ""), ("/settle", "&date=2001-01-01"), ("/payment-points/topup", "&merchant=\(fixture.merchantID)&amount=1000")] {
                let response = try await client.post(action, session: session, form: "csrf=\(session.csrf)\(form)")
                #expect(response.status == .forbidden, "\(action)")
            }
            #expect(try await fixture.depositBalance() == before)
            let events = try await fixture.auditEvents(actor: fixture.operatorName)
            #expect(events.filter { $0 == "staff_forbidden" }.count == 3)
        }
    }

    @Test("missing or wrong CSRF token: 403, nothing changes")
    func csrfRefused() async throws {
        try await ConsoleFixture.run { client, fixture in
            let session = try await client.login(fixture.supervisorName)
            let before = try await fixture.depositBalance()
            for form in ["merchant=\(fixture.merchantID)&amount=1000", "csrf=wrong&merchant=\(fixture.merchantID)&amount=1000",
                         "csrf=&merchant=\(fixture.merchantID)&amount=1000"] {
                let response = try await client.post("/payment-points/topup", session: session, form: form)
                #expect(response.status == .forbidden)
            }
            for action in ["/cutover", "/settle", "/logout"] {
                let response = try await client.post(action, session: session, form: "date=2001-01-01")
                #expect(response.status == .forbidden, "\(action)")
            }
            #expect(try await fixture.depositBalance() == before)
            #expect(try await client.get("/dashboard", cookie: session.cookie).status == .ok, "logout without CSRF must not end the session")
        }
    }

    @Test("supervisor: top-up, settlement of a date, logout; each audited")
    func supervisorActions() async throws {
        try await ConsoleFixture.run { client, fixture in
            let session = try await client.login(fixture.supervisorName)
            let dashboard = String(buffer: try await client.get("/dashboard", cookie: session.cookie).body)
            #expect(dashboard.contains("action=\"/cutover\""))
            let points = String(buffer: try await client.get("/payment-points", cookie: session.cookie).body)
            #expect(points.contains("action=\"/payment-points/topup\""))

            let before = try await fixture.depositBalance()
            let key = try #require(topUpKey(in: points))
            let topUp = try await client.post("/payment-points/topup", session: session,
                                              form: "csrf=\(session.csrf)&merchant=\(fixture.merchantID)&amount=2.500.000&request=\(key)")
            #expect(topUp.status == .seeOther)
            #expect(topUp.headers[.location]?.contains("notice=topup&") == true)
            #expect(try await fixture.depositBalance() == before + 250_000_000)
            // The same form again (a double click): nothing more is credited, and staff are told.
            let again = try await client.post("/payment-points/topup", session: session,
                                              form: "csrf=\(session.csrf)&merchant=\(fixture.merchantID)&amount=2.500.000&request=\(key)")
            #expect(again.headers[.location]?.contains("notice=topup-repeat") == true)
            #expect(try await fixture.depositBalance() == before + 250_000_000)
            // The banner shows for the redirect the console made, not for a link someone crafted.
            let shown = String(buffer: try await client.get(try #require(topUp.headers[.location]), cookie: session.cookie).body)
            #expect(shown.contains("topped up; balance"))
            let crafted = String(buffer: try await client.get("/payment-points?notice=topup&merchant=\(fixture.merchantID)&balance=Rp%20999.999.999",
                                                              cookie: session.cookie).body)
            #expect(!crafted.contains("topped up; balance"))
            for (amount, reason) in [("99999999999", "between Rp 1 and"), ("5000000.00", "not a decimal point"), ("1.5", "not a decimal point"),
                                     ("1+0+0", "An amount is digits"), ("5%2C50", "Whole rupiah only")] {
                let refused = try await client.post("/payment-points/topup", session: session,
                                                    form: "csrf=\(session.csrf)&merchant=\(fixture.merchantID)&amount=\(amount)&request=\(newTopUpKey())")
                #expect(refused.status == .badRequest, "\(amount)")
                #expect(String(buffer: refused.body).contains(reason), "\(amount)")
            }
            let unknown = try await client.post("/payment-points/topup", session: session,
                                                form: "csrf=\(session.csrf)&merchant=NTTPP0000000099&amount=1000&request=\(newTopUpKey())")
            #expect(unknown.status == .badRequest)
            #expect(String(buffer: unknown.body).contains("no payment point NTTPP0000000099"))
            let keyless = try await client.post("/payment-points/topup", session: session,
                                                form: "csrf=\(session.csrf)&merchant=\(fixture.merchantID)&amount=1000")
            #expect(keyless.status == .badRequest)
            #expect(try await fixture.depositBalance() == before + 250_000_000)

            // Cut-over closes only the date the dashboard showed: an old form, or none, changes nothing.
            let day = try await BusinessDayService(database: fixture.database).refresh().date
            let stale = try await client.post("/cutover", session: session, form: "csrf=\(session.csrf)&from=2001-01-01")
            #expect(stale.status == .conflict)
            #expect(String(buffer: stale.body).contains("already closed"))
            #expect(try await client.post("/cutover", session: session, form: "csrf=\(session.csrf)").status == .badRequest)
            #expect(try await BusinessDayService(database: fixture.database).refresh().date == day)
            #expect(dashboard.contains("name=\"from\" value=\"\(day)\""))

            // A date before the ledger began (a typo): refused, with the reason; no batch is written.
            let settle = try await client.post("/settle", session: session, form: "csrf=\(session.csrf)&date=2001-01-01")
            #expect(settle.status == .conflict)
            #expect(String(buffer: settle.body).contains("the switch never ran on it"))
            let report = String(buffer: try await client.get("/settlement?date=2001-01-01", cookie: session.cookie).body)
            #expect(!report.contains("Settled at"))
            #expect(!report.contains("action=\"/settle\""))   // no payments on it: nothing to settle, no button

            let logout = try await client.post("/logout", session: session, form: "csrf=\(session.csrf)")
            #expect(logout.status == .seeOther)
            #expect(try await client.get("/dashboard", cookie: session.cookie).status == .seeOther)

            let events = try await fixture.auditEvents(actor: fixture.supervisorName)
            for event in ["staff_login", "deposit_topup", "staff_settle_failed", "staff_logout"] { #expect(events.contains(event), "\(event)") }
        }
    }

    @Test("repeated bad passwords: 429 for the lockout period, even with the right password")
    func throttling() async throws {
        var limits = ConsoleFixture.testLimits
        limits.loginFailuresPerUserMax = 3
        try await ConsoleFixture.run(limits: limits) { client, fixture in
            for _ in 0..<3 {
                let response = try await client.postLogin(fixture.operatorName, "wrong password here")
                #expect(response.status == .unauthorized)
                #expect(String(buffer: response.body).contains("Wrong username or password"))
            }
            let locked = try await client.postLogin(fixture.operatorName, ConsoleTestEnvironment.password)
            #expect(locked.status == .tooManyRequests)
            #expect(!locked.headers[values: .setCookie].contains { $0.hasPrefix("__Host-sasando_session=") })
            // Another user is not affected.
            _ = try await client.login(fixture.supervisorName)
            let events = try await fixture.auditEvents(actor: fixture.operatorName)
            #expect(events.filter { $0 == "staff_login_failed" }.count == 3)
            #expect(events.contains("staff_login_locked_out"))
        }
    }

    @Test("throttling per client address")
    func addressThrottling() async throws {
        var limits = ConsoleFixture.testLimits
        limits.loginFailuresPerAddressMax = 2
        limits.loginFailuresPerUserMax = 1_000
        try await ConsoleFixture.run(limits: limits) { client, fixture in
            // Earlier runs' failures from the same socketless address count too: at most 2 more are needed.
            var statuses: [HTTPResponse.Status] = []
            for i in 0..<3 { statuses.append(try await client.postLogin("nobody-\(i)", "wrong password here").status) }
            #expect(statuses.last == .tooManyRequests)
            #expect(try await client.postLogin(fixture.operatorName, ConsoleTestEnvironment.password).status == .tooManyRequests)
        }
    }

    @Test("failed login: what was typed as a username is kept only if it is a staff user; filters are escaped")
    func failedLoginNames() async throws {
        try await ConsoleFixture.run { client, fixture in
            // A password typed into the username box must not end up in the append-only audit log.
            let typed = "secretpass-\(UInt32.random(in: 0...UInt32.max))"
            #expect(try await client.postLogin(typed, "x").status == .unauthorized)
            #expect(try await client.postLogin("%3Cscript%3Ealert(\(UInt32.random(in: 0...UInt32.max)))%3C%2Fscript%3E", "x").status == .unauthorized)
            #expect(try await client.postLogin(fixture.supervisorName, "wrong password here").status == .unauthorized)
            let session = try await client.login(fixture.operatorName)
            let html = String(buffer: try await client.get("/audit?event=staff_login_failed", cookie: session.cookie).body)
            #expect(!html.contains(typed))
            #expect(html.contains("(unknown user)"))
            #expect(try await fixture.auditEvents(actor: fixture.supervisorName).contains("staff_login_failed"))
            let filtered = String(buffer: try await client.get("/audit?actor=%3Cscript%3E", cookie: session.cookie).body)
            #expect(filtered.contains("value=\"&lt;script&gt;\""))
            #expect(!filtered.contains("<script>"))
        }
    }

    @Test("parallel wrong passwords: no more are checked than the lockout allows")
    func parallelGuesses() async throws {
        var limits = ConsoleFixture.testLimits
        limits.loginFailuresPerUserMax = 3
        try await ConsoleFixture.run(limits: limits) { client, fixture in
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for i in 0..<10 { group.addTask { try await client.postLogin(fixture.operatorName, "wrong password \(i)").status } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            // Each attempt is counted before its password is checked, so at most 3 were checked (attempts
            // that all arrive before any is checked may all be refused: none checked is fine too).
            let checked = statuses.filter { $0 == .unauthorized }.count
            #expect(checked <= 3, "\(statuses)")
            #expect(statuses.allSatisfy { $0 == .unauthorized || $0 == .tooManyRequests }, "\(statuses)")
            let failed = try await fixture.auditEvents(actor: fixture.operatorName).filter { $0 == "staff_login_failed" }
            #expect(failed.count == checked)
            // Three more, one at a time, lock the user out, the right password included.
            for _ in checked..<3 { _ = try await client.postLogin(fixture.operatorName, "wrong password here") }
            #expect(try await client.postLogin(fixture.operatorName, ConsoleTestEnvironment.password).status == .tooManyRequests)
        }
    }

    @Test("errors are pages with the security headers; bad input is 400, never 500")
    func errorPages() async throws {
        try await ConsoleFixture.run { client, fixture in
            let missing = try await client.get("/no-such-page", cookie: nil)
            #expect(missing.status == .notFound)
            #expect(String(buffer: missing.body).contains("There is no page here"))
            #expect(missing.headers[.contentSecurityPolicy]?.contains("default-src 'none'") == true)
            #expect(missing.headers[.cacheControl] == "no-store")
            // A NUL cannot reach a query: the field is dropped.
            // (The field is dropped, so every such login counts under the empty name: after a few
            // runs on one database that name is locked out, 429; either way never a 500.)
            let nul = try await client.postLogin("rv%00op", "x").status
            #expect(nul == .unauthorized || nul == .tooManyRequests, "\(nul)")
            let session = try await client.login(fixture.supervisorName)
            for uri in ["/audit?actor=%00", "/audit?event=%00&actor=x%00"] {
                #expect(try await client.get(uri, cookie: session.cookie).status == .ok, "\(uri)")
            }
            // Year 0 is no date (PostgreSQL refuses it): 400 on every page that takes a date.
            for uri in ["/transactions?date=0000-01-01", "/settlement?date=0000-01-01", "/settlement.csv?date=0000-01-01", "/settlement?date=%2B001-01-01"] {
                #expect(try await client.get(uri, cookie: session.cookie).status == .badRequest, "\(uri)")
            }
            let settle = try await client.post("/settle", session: session, form: "csrf=\(session.csrf)&date=0000-01-01")
            #expect(settle.status == .badRequest)
            #expect(!String(buffer: settle.body).contains("PSQLError"))

            // A known page asked with a method it does not take: 405 with Allow, the page's headers.
            for (uri, method, allow) in [("/dashboard", HTTPRequest.Method.post, "GET, HEAD"), ("/cutover", .get, "POST"),
                                         ("/payment-points", .delete, "GET, HEAD"), ("/login", .put, "GET, HEAD, POST"),
                                         ("/settlement.csv", .head, "GET")] {
                let wrong = try await client.execute(uri: uri, method: method, headers: [.cookie: "__Host-sasando_session=\(session.cookie)"])
                #expect(wrong.status == .methodNotAllowed, "\(method) \(uri)")
                #expect(wrong.headers[.allow] == allow, "\(method) \(uri)")
                #expect(wrong.headers[.contentSecurityPolicy]?.contains("default-src 'none'") == true)
            }
            // HEAD: GET's status and headers, no body; and an unknown path is still 404.
            let head = try await client.execute(uri: "/payment-points", method: .head, headers: [.cookie: "__Host-sasando_session=\(session.cookie)"])
            #expect(head.status == .ok && head.body.readableBytes == 0, "\(head.status) \(String(buffer: head.body).prefix(300))")
            #expect(head.headers[.contentType]?.hasPrefix("text/html") == true)
            #expect(try await client.execute(uri: "/dashboard", method: .head).status == .seeOther)
            #expect(try await client.execute(uri: "/no-such-page", method: .post).status == .notFound)
            // More fields than any page or form has: refused, not cut short.
            let many = (1...33).map { "f\($0)=x" }.joined(separator: "&")
            let address = try await client.get("/audit?\(many)", cookie: session.cookie)
            #expect(address.status == .badRequest && String(buffer: address.body).contains("Too many fields"))
            #expect(try await client.get("/audit?\((1...32).map { "f\($0)=x" }.joined(separator: "&"))", cookie: session.cookie).status == .ok)
            let form = try await client.post("/payment-points/limit", session: session, form: "csrf=\(session.csrf)&\(many)")
            #expect(form.status == .contentTooLarge, "\(form.status)")
        }
    }

    @Test("offboarding: a disabled user cannot log in and loses every session; a new password ends the old sessions")
    func offboarding() async throws {
        try await ConsoleFixture.run { client, fixture in
            let store = StaffStore(database: fixture.database)
            let session = try await client.login(fixture.operatorName)
            try await store.setDisabled(username: fixture.operatorName, true, actor: fixture.supervisorName)
            #expect(try await client.get("/dashboard", cookie: session.cookie).status == .seeOther)
            #expect(try await client.postLogin(fixture.operatorName, ConsoleTestEnvironment.password).status == .unauthorized)
            try await store.setDisabled(username: fixture.operatorName, false, actor: fixture.supervisorName)
            let again = try await client.login(fixture.operatorName)

            let newPassword = "another horse battery staple"
            await #expect(throws: StaffError.self) {
                try await store.setPassword(username: fixture.operatorName, password: "aaaaaaaaaaaaaaaa", actor: "test", cost: 4)
            }
            try await store.setPassword(username: fixture.operatorName, password: newPassword, actor: fixture.supervisorName, cost: 4)
            #expect(try await client.get("/dashboard", cookie: again.cookie).status == .seeOther)
            #expect(try await client.postLogin(fixture.operatorName, ConsoleTestEnvironment.password).status == .unauthorized)
            #expect(try await client.postLogin(fixture.operatorName, newPassword.replacingOccurrences(of: " ", with: "+")).status == .seeOther)
            #expect(try await store.endSessions(username: fixture.operatorName) == 1)
            await #expect(throws: StaffError.self) { try await store.setDisabled(username: "nobody-\(UInt16.random(in: 0...9999))", true, actor: "test") }
            let events = try await fixture.auditEvents(actor: fixture.supervisorName)
            for event in ["staff_user_disabled", "staff_user_enabled", "staff_password_set"] { #expect(events.contains(event), "\(event)") }
        }
    }

    @Test("a database that does not answer gets the 503 page within the bound, not a hang")
    func databaseSilence() async throws {
        var limits = ConsoleFixture.testLimits
        limits.databaseQueryMillisecondsMax = 500
        try await ConsoleFixture.run(limits: limits) { client, fixture in
            let session = try await client.login(fixture.operatorName)
            // Another session holds the sessions table: every console request's session lookup waits.
            try await fixture.database.client.withConnection { holder in
                // `.get()`: on a connection, `query(String)` is PostgresNIO's future API, and
                // awaiting it without `.get()` does not wait: the lock must be held before the request.
                _ = try await holder.query("BEGIN").get()
                _ = try await holder.query("LOCK TABLE staff_sessions IN ACCESS EXCLUSIVE MODE").get()
                let started = ContinuousClock.now
                let page = try await client.get("/dashboard", cookie: session.cookie)
                let waited = ContinuousClock.now - started
                _ = try await holder.query("ROLLBACK").get()
                #expect(page.status == .serviceUnavailable)
                #expect(String(buffer: page.body).contains("The database did not answer"))
                #expect(waited < .seconds(5), "\(waited)")
            }
            #expect(try await client.get("/dashboard", cookie: session.cookie).status == .ok)
        }
    }

    @Test("/metrics serves the Prometheus registry")
    func metrics() async throws {
        try await ConsoleFixture.run { client, fixture in
            // Through the swift-metrics factory, as the switch's counters are made.
            PrometheusMetricsFactory(registry: fixture.registry)
                .makeCounter(label: MetricNames.responses, dimensions: [("mti", "0210"), ("response_code", "00")]).increment(by: 1)
            let response = try await client.execute(uri: "/metrics", method: .get)
            #expect(response.status == .ok)
            #expect(String(buffer: response.body).contains("sasando_responses_total{mti=\"0210\",response_code=\"00\"} 1"))
        }
    }

    @Test("supervisor: block and unblock a terminal and a payment point, set a daily limit; operators refused; each audited once")
    func accessControl() async throws {
        try await ConsoleFixture.run { client, fixture in
            let terminal = "CT" + String(format: "%06d", Int.random(in: 0...999_999))
            let directory = TerminalDirectory(database: fixture.database)
            try await directory.insertTerminal(terminalID: terminal, merchantID: fixture.merchantID, macKey: Array(repeating: 7, count: 32))
            func status() async throws -> TerminalListing? {
                let listings = try await directory.terminals(merchantID: fixture.merchantID)
                return listings.first
            }

            let operatorSession = try await client.login(fixture.operatorName)
            let list = String(buffer: try await client.get("/terminals?merchant=\(fixture.merchantID)", cookie: operatorSession.cookie).body)
            #expect(list.contains(terminal) && !list.contains("action=\"/terminals/status\""))
            let forbidden = try await client.post("/terminals/status", session: operatorSession,
                                                  form: "csrf=\(operatorSession.csrf)&terminal=\(terminal)&status=blocked&reason=lost")
            #expect(forbidden.status == .forbidden)
            #expect(try await status()?.status == .active)

            let session = try await client.login(fixture.supervisorName)
            let page = String(buffer: try await client.get("/terminals?merchant=\(fixture.merchantID)", cookie: session.cookie).body)
            #expect(page.contains("action=\"/terminals/status\""))
            let block = try await client.post("/terminals/status", session: session,
                                              form: "csrf=\(session.csrf)&terminal=\(terminal)&status=blocked&reason=stolen+at+night")
            #expect(block.status == .seeOther)
            #expect(try await status()?.status == .blocked)
            let shown = String(buffer: try await client.get(try #require(block.headers[.location]), cookie: session.cookie).body)
            #expect(shown.contains("Terminal \(terminal) of \(fixture.merchantID) blocked"))
            let twice = try await client.post("/terminals/status", session: session,
                                              form: "csrf=\(session.csrf)&terminal=\(terminal)&status=blocked&reason=stolen+at+night")
            #expect(twice.headers[.location]?.contains("notice=terminal-unchanged") == true)
            for form in ["terminal=\(terminal)&status=blocked&reason=+", "terminal=\(terminal)&status=gone&reason=x",
                         "terminal=ZZZZZZZZ&status=active&reason=x", "terminal=%00&status=active&reason=x"] {
                #expect(try await client.post("/terminals/status", session: session, form: "csrf=\(session.csrf)&\(form)").status == .badRequest, "\(form)")
            }
            #expect(try await client.post("/terminals/status", session: session,
                                          form: "csrf=\(session.csrf)&terminal=\(terminal)&status=active&reason=found").status == .seeOther)
            #expect(try await status()?.status == .active)

            let point = try await client.post("/payment-points/status", session: session,
                                              form: "csrf=\(session.csrf)&merchant=\(fixture.merchantID)&status=blocked&reason=audit")
            #expect(point.headers[.location]?.contains("notice=point-blocked") == true)
            #expect(try await status()?.paymentPointStatus == .blocked)
            let points = String(buffer: try await client.get("/payment-points", cookie: session.cookie).body)
            #expect(points.contains("value=\"active\""))   // the row now offers Unblock
            #expect(try await client.post("/payment-points/status", session: session,
                                          form: "csrf=\(session.csrf)&merchant=\(fixture.merchantID)&status=active&reason=cleared").status == .seeOther)
            #expect(try await status()?.paymentPointStatus == .active)

            let limit = try await client.post("/payment-points/limit", session: session,
                                              form: "csrf=\(session.csrf)&merchant=\(fixture.merchantID)&limit=Rp+25.000.000")
            #expect(limit.headers[.location]?.contains("notice=limit-set") == true)
            #expect(try await directory.paymentPoints().first { $0.merchantID == fixture.merchantID }?.dailyLimit == Sen.rupiah(25_000_000))
            for bad in ["25000000.00", "99.999.999.999", "-5"] {
                #expect(try await client.post("/payment-points/limit", session: session,
                                              form: "csrf=\(session.csrf)&merchant=\(fixture.merchantID)&limit=\(bad)").status == .badRequest, "\(bad)")
            }
            #expect(try await client.post("/payment-points/limit", session: session,
                                          form: "csrf=\(session.csrf)&merchant=NTTPP0000000099&limit=1000").status == .badRequest)
            #expect(try await directory.paymentPoints().first { $0.merchantID == fixture.merchantID }?.dailyLimit == Sen.rupiah(25_000_000))

            let events = try await fixture.auditEvents(actor: fixture.supervisorName)
            for (event, times) in [("terminal_blocked", 1), ("terminal_unblocked", 1), ("payment_point_blocked", 1),
                                   ("payment_point_unblocked", 1), ("payment_point_daily_limit_set", 1)] {
                #expect(events.filter { $0 == event }.count == times, "\(event)")
            }
            #expect(try await fixture.auditEvents(actor: fixture.operatorName).contains("staff_forbidden"))
        }
    }

    @Test("audit log: filtered by WITA dates; a bad date is 400")
    func auditLogByDate() async throws {
        try await ConsoleFixture.run { client, fixture in
            let session = try await client.login(fixture.supervisorName)
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(secondsFromGMT: 8 * 3600)
            formatter.dateFormat = "yyyy-MM-dd"
            let today = formatter.string(from: Date())
            let todays = String(buffer: try await client.get("/audit?actor=\(fixture.supervisorName)&from=\(today)&to=\(today)", cookie: session.cookie).body)
            #expect(todays.contains("staff_login"))
            let long_ago = String(buffer: try await client.get("/audit?actor=\(fixture.supervisorName)&from=2001-01-01&to=2001-01-02", cookie: session.cookie).body)
            #expect(!long_ago.contains("staff_login") && long_ago.contains("id=\"audit\""))
            let fromToday = String(buffer: try await client.get("/audit?actor=\(fixture.supervisorName)&from=\(today)", cookie: session.cookie).body)
            #expect(fromToday.contains("staff_login"))
            #expect(try await client.get("/audit?from=2001-13-01", cookie: session.cookie).status == .badRequest)
        }
    }

    @Test("period summary: a page and a CSV of business dates (default: the month so far); a bad or too long range is 400; the download audited")
    func periodSummary() async throws {
        try await ConsoleFixture.run { client, fixture in
            let session = try await client.login(fixture.operatorName)
            let month = try await client.get("/settlement/period", cookie: session.cookie)
            #expect(month.status == .ok)
            let page = String(buffer: month.body)
            #expect(page.contains("id=\"period-dates\"") && page.contains("id=\"period-billers\""))
            let old = String(buffer: try await client.get("/settlement/period?from=2001-01-01&to=2001-01-03", cookie: session.cookie).body)
            // Dates without payments need no settlement: not listed as waiting for one.
            #expect(old.contains("2001-01-02") && old.contains("Every date with payments in the range is settled."))
            let tooLong = try await client.get("/settlement/period?from=2001-01-01&to=2001-03-01", cookie: session.cookie)
            #expect(tooLong.status == .badRequest)
            #expect(String(buffer: tooLong.body).contains("at most \(PeriodSummary.daysMax) days"))
            #expect(try await client.get("/settlement/period?from=2001-02-30", cookie: session.cookie).status == .badRequest)
            #expect(try await client.get("/settlement/period?from=2001-01-05&to=2001-01-01", cookie: session.cookie).status == .badRequest)
            let csv = try await client.get("/settlement/period.csv?from=2001-01-01&to=2001-01-03", cookie: session.cookie)
            #expect(csv.status == .ok && csv.headers[.contentType]?.hasPrefix("text/csv") == true)
            let lines = String(buffer: csv.body).split(separator: "\n")
            #expect(lines.first?.hasPrefix("row,business_date,state,") == true)
            #expect(lines.last == "total,2001-01-01..2001-01-03,,,0,0,0,0,0,0,0,0,0")
            let audit = String(buffer: try await client.get("/audit?event=staff_download_csv&actor=\(fixture.operatorName)", cookie: session.cookie).body)
            #expect(audit.contains("period 2001-01-01 to 2001-01-03"))
        }
    }

    @Test("a session idle longer than sessionIdleSecondsMax has ended; each request moves its idle clock on")
    func idleSessionEnds() async throws {
        try await ConsoleFixture.run { client, fixture in
            let session = try await client.login(fixture.supervisorName)
            // The fixture's supervisor is this test's own: its one session is this one.
            func idleFor(minutes: Int) async throws {
                try await fixture.database.client.query(
                    "UPDATE staff_sessions SET last_seen_at = now() - \(minutes) * interval '1 minute' WHERE username = \(fixture.supervisorName)")
            }
            try await idleFor(minutes: 14)
            #expect(try await client.get("/dashboard", cookie: session.cookie).status == .ok)
            // That request moved the idle clock on, to now.
            var movedOn = false
            for try await fresh in try await fixture.database.client.query(
                "SELECT last_seen_at > now() - interval '1 minute' FROM staff_sessions WHERE username = \(fixture.supervisorName)").decode(Bool.self) {
                movedOn = fresh
            }
            #expect(movedOn, "a request moves the session's idle clock on")
            try await idleFor(minutes: 16)
            let ended = try await client.get("/dashboard", cookie: session.cookie)
            #expect(ended.status == .seeOther && ended.headers[.location] == "/login")
            #expect(try await client.post("/cutover", session: session, form: "csrf=\(session.csrf)").status == .unauthorized)
        }
    }
}
