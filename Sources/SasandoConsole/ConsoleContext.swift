import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Context of every console request: the client address (for throttling and audit), and, once the
/// session middleware has run, the staff user and the parsed form of a POST.
public struct ConsoleRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: String?
    public var staff: StaffSession?
    public var form: [String: String] = [:]

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress?.ipAddress
    }

    /// Used for throttling and audit when there is no socket (router tests).
    public var clientAddress: String { remoteAddress ?? "unknown" }
}

/// Context of the pages behind the login: the staff user is always there.
public struct StaffRequestContext: ChildRequestContext {
    public typealias ParentContext = ConsoleRequestContext
    public var coreContext: CoreRequestContextStorage
    public let staff: StaffSession
    public let form: [String: String]
    public let clientAddress: String

    public init(context: ConsoleRequestContext) throws {
        // The session middleware answers first (redirect or 401); this is the type-level guarantee.
        guard let staff = context.staff else { throw HTTPError(.unauthorized) }
        coreContext = context.coreContext
        self.staff = staff
        self.form = context.form
        self.clientAddress = context.clientAddress
    }
}

/// `application/x-www-form-urlencoded` bodies and query strings.
enum FormDecoding {
    static let fieldsMax = 32

    /// A field whose name or value holds a control character (NUL, say: PostgreSQL text cannot
    /// store it) is dropped: no console form takes one, and it must not reach a query.
    /// More than `fieldsMax` fields: no console form or page has that many, so it is refused
    /// (400 for an address, 413 for a form) rather than cut short without a word.
    struct TooManyFields: Error {}

    static func parse(_ text: String) throws(TooManyFields) -> [String: String] {
        var fields: [String: String] = [:]
        let pairs = text.split(separator: "&")
        guard pairs.count <= fieldsMax else { throw TooManyFields() }
        for pair in pairs {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let key = decode(parts[0]), !key.isEmpty, !hasControlCharacter(key) else { continue }
            let value = parts.count > 1 ? (decode(parts[1]) ?? "") : ""
            guard !hasControlCharacter(value) else { continue }
            fields[key] = value
        }
        return fields
    }

    static func hasControlCharacter(_ text: String) -> Bool {
        text.unicodeScalars.contains { $0.value < 0x20 && $0 != "\t" && $0 != "\r" && $0 != "\n" || $0.value == 0x7F }
    }

    private static func decode(_ text: Substring) -> String? {
        text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }
}

/// Security headers on every response, error pages included: no caching of pages with ledger
/// data, no framing, no scripts at all (the console has none), inline styles only.
///
/// It is also where a thrown error becomes a page: an `HTTPError` (404 for an unknown path, say)
/// keeps its status; a database that failed or did not answer gives 503 with what to do; anything
/// else 500 with a reference that is also in the log. Never an empty page, never the error's own
/// text (it can carry SQL or library internals).
struct SecurityHeadersMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            response = ConsoleErrorPage.response(for: error, request: request, logger: context.logger)
        }
        response.headers[.contentSecurityPolicy] =
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[.cacheControl] = "no-store"
        response.headers[.strictTransportSecurity] = "max-age=31536000"
        if let name = HTTPField.Name("Referrer-Policy") { response.headers[name] = "no-referrer" }
        if let name = HTTPField.Name("X-Frame-Options") { response.headers[name] = "DENY" }
        return response
    }
}

/// Loads the session from its cookie. Without one: GET is redirected to the login page, anything
/// else gets 401. For a POST it reads the form (bounded) and checks its CSRF token (403 otherwise).
struct SessionMiddleware: RouterMiddleware {
    typealias Context = ConsoleRequestContext
    let store: StaffStore
    let limits: ConsoleLimits

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        guard let token = request.cookies[ConsoleCookies.session]?.value,
              let staff = try await store.session(token: token) else {
            if request.method == .get || request.method == .head {
                return Response(status: .seeOther, headers: [.location: "/login"])
            }
            return Pages.plain(.unauthorized, "Log in first.")
        }
        context.staff = staff
        if request.method == .post {
            switch await FormBody.readChecked(request, staff: staff, limit: limits.requestBodyBytesMax) {
            case .success(let form):
                context.form = form
            case .failure(.tooLarge):
                return Pages.plain(.contentTooLarge, "The form is too large.")
            case .failure(.csrfMismatch):
                try? await store.audit(actor: staff.username, event: "staff_csrf_refused", detail: request.uri.path, address: context.clientAddress)
                return Pages.error(.forbidden, "The form has expired or did not come from this console. Reload the page and try again.", staff: staff)
            }
        }
        return try await next(request, context)
    }
}

enum FormBody {
    enum Refusal: Error { case tooLarge, csrfMismatch }

    /// A session's POST: the form, read within `limit` bytes, whose CSRF token matches the session's.
    static func readChecked(_ request: Request, staff: StaffSession, limit: Int) async -> Result<[String: String], Refusal> {
        guard let form = try? await read(request, limit: limit) else { return .failure(.tooLarge) }
        guard let sent = form["csrf"], StaffStore.constantTimeEqual(sent, staff.csrfToken) else { return .failure(.csrfMismatch) }
        return .success(form)
    }

    static func read(_ request: Request, limit: Int) async throws -> [String: String] {
        var request = request
        let buffer = try await request.collectBody(upTo: limit)
        return try FormDecoding.parse(String(buffer: buffer))
    }
}

enum ConsoleCookies {
    /// `__Host-`: the browser accepts it only over HTTPS, for this host, with Path=/.
    static let session = "__Host-sasando_session"
    /// Double-submit token for the login form (there is no session yet to hold a CSRF token).
    static let login = "__Host-sasando_login"

    static func make(_ name: String, value: String, maxAgeSeconds: Int) -> Cookie {
        Cookie(name: name, value: value, maxAge: maxAgeSeconds, path: "/", secure: true, httpOnly: true, sameSite: .strict)
    }
}
