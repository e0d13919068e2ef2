import Foundation
import Hummingbird
import Logging
import PostgresNIO
import SasandoCore
import SasandoLedger

/// Response helpers and the pages that need no data.
enum Pages {
    static func html(_ status: HTTPResponse.Status, _ html: String) -> Response {
        Response(status: status, headers: [.contentType: "text/html; charset=utf-8"],
                 body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    static func plain(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(status: status, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text + "\n")))
    }

    static func error(_ status: HTTPResponse.Status, _ text: String, staff: StaffSession?) -> Response {
        html(status, HTML.page(title: "\(status.code) \(status.reasonPhrase)", staff: staff,
                               body: "<div class=\"card\"><p>\(HTML.escape(text))</p><p><a href=\"/dashboard\">Back to the dashboard</a></p></div>"))
    }

    static func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location])
    }

    static func login(csrf: String, message: String?) -> String {
        let body = """
            <div class="card" style="max-width:380px">
            <form method="post" action="/login">
            <input type="hidden" name="csrf" value="\(HTML.escape(csrf))">
            <p><label>Username<br><input name="username" autocomplete="username" required maxlength="32" autofocus></label></p>
            <p><label>Password<br><input name="password" type="password" autocomplete="current-password" required maxlength="72"></label></p>
            <p><button type="submit">Log in</button></p>
            </form>
            <p class="muted">Staff of Bank NTT only. Every login is recorded.</p>
            </div>
            """
        return HTML.page(title: "Staff console login", staff: nil, body: body, message: message.map { (false, $0) })
    }
}

/// Bad input found by a helper a handler calls: the page that says what is wrong, thrown so the
/// handler reads straight through (answered as it is by `ConsoleErrorPage`).
struct PageRefusal: Error {
    let response: Response
    init(_ status: HTTPResponse.Status, _ text: String, staff: StaffSession) {
        response = Pages.error(status, text, staff: staff)
    }
}

/// The page for an error a handler threw (see `SecurityHeadersMiddleware`).
enum ConsoleErrorPage {
    static func response(for error: any Error, request: Request, logger: Logger) -> Response {
        if let refusal = error as? PageRefusal { return refusal.response }
        if let http = error as? HTTPError {
            // Hummingbird's own answers: 404 for an unknown path or method, 401, 413...
            let text = http.body ?? (http.status == .notFound ? "There is no page here (or not for this kind of request)." : http.status.reasonPhrase)
            var response = Pages.error(http.status, text, staff: nil)
            for field in http.headers { response.headers.append(field) }
            return response
        }
        if isDatabaseTrouble(error) {
            logger.error("console: database unavailable", metadata: ["path": "\(request.uri.path)", "error": "\(String(reflecting: error))"])
            return Pages.error(.serviceUnavailable, """
                The database did not answer or refused the request. Try again in a moment. If you had sent an action \
                (cut-over, settlement, top-up), first look in the audit log whether it was done.
                """, staff: nil)
        }
        let reference = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        logger.error("console: request failed", metadata: ["reference": "\(reference)", "path": "\(request.uri.path)",
                                                          "error": "\(String(reflecting: error))"])
        return Pages.error(.internalServerError, """
            Something went wrong in the console (reference \(reference), written to the switch's log with the details). \
            If you had sent an action, look in the audit log whether it was done before sending it again.
            """, staff: nil)
    }

    /// PostgreSQL refused or failed a statement, a transaction, or did not answer within its bound.
    static func isDatabaseTrouble(_ error: any Error) -> Bool {
        error is PSQLError || error is PostgresTransactionError || error is DatabaseUnavailable
    }
}
