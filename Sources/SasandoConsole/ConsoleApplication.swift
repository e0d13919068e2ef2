import Foundation
import Hummingbird
import HummingbirdTLS
import Logging
import NIOSSL
import Prometheus
import SasandoCore
import SasandoLedger
import SasandoSettlement
import SasandoSwitch
import SasandoTransport

/// What the console's pages need from the rest of the switch.
public struct ConsoleDependencies: Sendable {
    public var database: SasandoDatabase
    public var businessDay: BusinessDayService
    public var settlement: SettlementService
    /// The registry `/metrics` serves (the one bootstrapped in `serve`); nil serves an empty page.
    public var metrics: PrometheusCollectorRegistry?
    public var limits: ConsoleLimits
    /// Headless Chromium for PDF downloads; nil looks for it on PATH (`SASANDO_CHROMIUM` overrides).
    public var chromiumPath: String?
    public var logger: Logger

    public init(database: SasandoDatabase, businessDay: BusinessDayService, settlement: SettlementService,
                metrics: PrometheusCollectorRegistry? = nil, limits: ConsoleLimits = ConsoleLimits(),
                chromiumPath: String? = nil, logger: Logger) {
        self.database = database
        self.businessDay = businessDay
        self.settlement = settlement
        self.metrics = metrics
        self.limits = limits
        self.chromiumPath = chromiumPath
        self.logger = logger
    }
}

/// The console as a Hummingbird application served over HTTPS with the switch's server certificate
/// (`server.pem`, `server-key.pem` in the PKI folder) on `configuration.consolePort`. It is a
/// `Service`: `sasando serve` puts it in the switch's ServiceGroup, which shuts it down gracefully.
/// `onListening` gets the bound port once the server listens (port 0 in the configuration picks
/// a free one: tests use it instead of probing for a port another process could take meanwhile).
public func buildApplication(configuration: SwitchConfiguration, dependencies: ConsoleDependencies,
                             onListening: @escaping @Sendable (_ port: Int?) async -> Void = { _ in }) async throws -> some ApplicationProtocol {
    let tls = try ConsoleTLS.serverConfiguration(configuration)
    let logger = dependencies.logger
    return Application(
        router: buildRouter(dependencies),
        // A connection that sends no request for this long (never finishes its TLS handshake, sends
        // half a header, or sits idle between requests) is closed, so idle sockets cannot pile up.
        server: try .tls(.http1(configuration: .init(idleTimeout: .seconds(Int64(dependencies.limits.connectionIdleSecondsMax)))),
                         tlsConfiguration: tls),
        configuration: .init(address: .hostname(configuration.consoleHost, port: configuration.consolePort)),
        onServerRunning: { channel in
            logger.info("staff console up", metadata: ["address": "https://\(channel.localAddress.map { "\($0)" } ?? "?")"])
            await onListening(channel.localAddress?.port)
        },
        logger: logger)
}

public enum ConsoleTLS {
    /// The console's certificate and key: `consoleCertificateFile` and `consoleKeyFile` when set,
    /// else the switch's `server.pem` and `server-key.pem` in the PKI folder. A key readable by
    /// group or others is refused, as the switch's own is.
    public static func serverConfiguration(_ configuration: SwitchConfiguration) throws -> TLSConfiguration {
        let pki = configuration.pkiDirectory as NSString
        let certificatePath = configuration.consoleCertificateFile ?? pki.appendingPathComponent("server.pem")
        let keyPath = configuration.consoleKeyFile ?? pki.appendingPathComponent("server-key.pem")
        guard FileManager.default.isReadableFile(atPath: certificatePath), FileManager.default.isReadableFile(atPath: keyPath) else {
            let hint = configuration.consoleCertificateFile == nil ? "; run `sasando provision demo` (scripts/run does)" : " (consoleCertificateFile, consoleKeyFile)"
            throw ConfigurationError(description: "console: cannot read \(certificatePath) and \(keyPath)\(hint)")
        }
        try ConfigurationError.requireOwnerOnly(keyPath, context: "console: ")
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(certificatePath).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: keyPath, format: .pem)))
        tls.minimumTLSVersion = .tlsv12
        tls.cipherSuites = TLSSetup.tls12CipherSuites
        return tls
    }
}

/// Every route of the console. Pages behind the login use `StaffRequestContext`.
public func buildRouter(_ dependencies: ConsoleDependencies) -> Router<ConsoleRequestContext> {
    let store = StaffStore(database: dependencies.database, limits: dependencies.limits)
    let router = Router(context: ConsoleRequestContext.self)
    let allowedMethods = AllowedMethods()
    router.add(middleware: SecurityHeadersMiddleware())
    router.add(middleware: MethodMiddleware(allowed: allowedMethods))
    LoginRoutes(store: store, limits: dependencies.limits).register(on: router)
    MetricsRoute(registry: dependencies.metrics).register(on: router)

    let staff = router.group()
        .add(middleware: SessionMiddleware(store: store, limits: dependencies.limits))
        .group(context: StaffRequestContext.self)
    let pages = ConsolePages(dependencies: dependencies, store: store)
    pages.register(on: staff)
    allowedMethods.fill(from: router)
    return router
}

/// Login and logout. The login form is protected against CSRF by a double-submit cookie; logins are
/// throttled per username and per client address; every outcome is audited.
struct LoginRoutes: Sendable {
    let store: StaffStore
    let limits: ConsoleLimits
    static let loginTokenSeconds = 1_800

    func register(on router: Router<ConsoleRequestContext>) {
        router.page("/") { _, _ in Response(status: .seeOther, headers: [.location: "/dashboard"]) }
        router.page("/login") { request, _ in try await showLogin(request) }
        router.post("/login") { request, context in try await login(request, context: context) }
        router.post("/logout") { request, context in try await logout(request, context: context) }
    }

    func showLogin(_ request: Request, message: String? = nil, status: HTTPResponse.Status = .ok) async throws -> Response {
        if message == nil, let token = request.cookies[ConsoleCookies.session]?.value, try await store.session(token: token) != nil {
            return Response(status: .seeOther, headers: [.location: "/dashboard"])
        }
        let loginToken = StaffStore.randomToken()
        var response = Pages.html(status, Pages.login(csrf: loginToken, message: message))
        response.setCookie(ConsoleCookies.make(ConsoleCookies.login, value: loginToken, maxAgeSeconds: Self.loginTokenSeconds))
        return response
    }

    func login(_ request: Request, context: ConsoleRequestContext) async throws -> Response {
        let form: [String: String]
        do {
            form = try await FormBody.read(request, limit: limits.requestBodyBytesMax)
        } catch {
            return Pages.plain(.contentTooLarge, "The form is too large.")
        }
        guard let cookie = request.cookies[ConsoleCookies.login]?.value, let sent = form["csrf"],
              StaffStore.constantTimeEqual(cookie, sent) else {
            return Pages.error(.forbidden, "The login form has expired. Open the login page again.", staff: nil)
        }
        let username = (form["username"] ?? "").trimmingCharacters(in: .whitespaces).lowercased()
        let password = form["password"] ?? ""
        let address = context.clientAddress
        // Counted before the password is checked (StaffStore.beginLogin); only a real username is recorded.
        let attempt = try await store.beginLogin(typedUsername: username, address: address)
        if attempt.lockedOut {
            try await store.audit(actor: attempt.auditName, event: "staff_login_locked_out", address: address)
            return try await showLogin(request, message: "Too many failed logins. Try again in \(limits.lockoutSeconds / 60) minutes.",
                                       status: .tooManyRequests)
        }
        guard let role = try await store.verify(username: username, password: password) else {
            try await store.audit(actor: attempt.auditName, event: "staff_login_failed", address: address)
            return try await showLogin(request, message: "Wrong username or password.", status: .unauthorized)
        }
        try await store.loginSucceeded(attempt)
        let (token, _) = try await store.createSession(username: username, role: role, remoteAddress: address)
        try await store.audit(actor: username, event: "staff_login", detail: role.rawValue, address: address)
        var response = Response(status: .seeOther, headers: [.location: "/dashboard"])
        response.setCookie(ConsoleCookies.make(ConsoleCookies.session, value: token, maxAgeSeconds: limits.sessionSecondsMax))
        response.setCookie(ConsoleCookies.make(ConsoleCookies.login, value: "", maxAgeSeconds: 0))
        return response
    }

    func logout(_ request: Request, context: ConsoleRequestContext) async throws -> Response {
        guard let token = request.cookies[ConsoleCookies.session]?.value, let staff = try await store.session(token: token) else {
            return Response(status: .seeOther, headers: [.location: "/login"])
        }
        switch await FormBody.readChecked(request, staff: staff, limit: limits.requestBodyBytesMax) {
        case .success:
            break
        case .failure(.tooLarge):
            return Pages.plain(.contentTooLarge, "The form is too large.")
        case .failure(.csrfMismatch):
            return Pages.error(.forbidden, "The form has expired. Reload the page and try again.", staff: staff)
        }
        try await store.deleteSession(token: token)
        try await store.audit(actor: staff.username, event: "staff_logout", address: context.clientAddress)
        var response = Response(status: .seeOther, headers: [.location: "/login"])
        response.setCookie(ConsoleCookies.make(ConsoleCookies.session, value: "", maxAgeSeconds: 0))
        return response
    }
}

/// Prometheus text exposition of the registry bootstrapped in `serve`. No customer data; no login
/// (a scraper cannot log in): restrict the console port to the bank's network.
struct MetricsRoute: Sendable {
    let registry: PrometheusCollectorRegistry?

    func register(on router: Router<ConsoleRequestContext>) {
        router.page("/metrics") { _, _ in
            let bytes = registry?.emitToBuffer() ?? []
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
    }
}
