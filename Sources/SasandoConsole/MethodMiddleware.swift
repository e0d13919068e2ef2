import Hummingbird
import Synchronization

/// HTTP methods per path, as the router has them (filled once every route is registered).
final class AllowedMethods: Sendable {
    private let table = Mutex<[String: Set<HTTPRequest.Method>]>([:])

    func fill<Context>(from router: Router<Context>) {
        var table: [String: Set<HTTPRequest.Method>] = [:]
        for route in router.routes {
            let path = "\(route.path)"
            table[path.hasPrefix("/") ? path : "/" + path, default: []].insert(route.method)
        }
        self.table.withLock { $0 = table }
    }

    func methods(for path: String) -> Set<HTTPRequest.Method>? { table.withLock { $0[path] } }
}

/// A known path asked with a method it does not take gets 405 with `Allow` (RFC 9110 §15.5.6),
/// not the router's 404 ("no such page" would send staff looking for a typo). HEAD is a route of
/// every page (`page(_:use:)`); here its response loses the body, keeping GET's status and headers.
struct MethodMiddleware<Context: RequestContext>: RouterMiddleware {
    let allowed: AllowedMethods

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let methods = allowed.methods(for: request.uri.path)
        if request.method == .head, methods?.contains(.head) ?? false {
            var response = try await next(request, context)
            response.body = ResponseBody()
            return response
        }
        guard let methods, !methods.contains(request.method) else { return try await next(request, context) }
        let allow = methods.map(\.rawValue).sorted().joined(separator: ", ")
        throw HTTPError(.methodNotAllowed, headers: [.allow: allow], message: "This page does not take \(request.method.rawValue); it takes \(allow).")
    }
}

extension RouterMethods {
    /// A page: GET, and HEAD with the same handler (the middleware above drops HEAD's body).
    @discardableResult func page(
        _ path: RouterPath, use handler: @Sendable @escaping (Request, Context) async throws -> some ResponseGenerator
    ) -> Self {
        get(path, use: handler)
        return head(path, use: handler)
    }
}
