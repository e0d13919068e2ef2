import Foundation
import Hummingbird
import SasandoCore

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
