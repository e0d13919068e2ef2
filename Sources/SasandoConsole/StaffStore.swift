import Crypto
import Foundation
import HummingbirdBcrypt
import NIOPosix
import PostgresNIO
import SasandoCore
import SasandoLedger

public enum StaffRole: String, Sendable, CaseIterable {
    /// Reads every page; changes nothing.
    case `operator`
    /// Also runs cut-over and settlement and tops up deposits.
    case supervisor
}

/// The staff user behind a request, loaded from the session cookie.
public struct StaffSession: Sendable {
    public var username: String
    public var role: StaffRole
    /// Embedded in every form of this session and checked on every POST.
    public var csrfToken: String
    public var isSupervisor: Bool { role == .supervisor }
}

public struct StaffError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Staff accounts, sessions and login throttling, all in PostgreSQL so that several switch
/// instances behind one address share them. Only a session token's SHA-256 is stored.
public struct StaffStore: Sendable {
    public let database: SasandoDatabase
    let limits: ConsoleLimits

    public init(database: SasandoDatabase, limits: ConsoleLimits = ConsoleLimits()) {
        self.database = database
        self.limits = limits
    }

    /// Sessions, logins and audit writes answer within `databaseQueryMillisecondsMax` (else 503).
    var queries: BoundedQueries { BoundedQueries(database: database, milliseconds: limits.databaseQueryMillisecondsMax) }

    /// `[a-z0-9._-]{3,32}`: safe in logs, URLs and the audit trail.
    public static func isValidUsername(_ name: String) -> Bool {
        (3...32).contains(name.count) && name.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || "._-".contains($0) }
    }

    // MARK: Accounts

    /// Creates a staff user; fails if the username exists. The password is hashed with bcrypt and
    /// never stored, logged or audited.
    public func addUser(username: String, password: String, role: StaffRole, cost: UInt8 = ConsoleLimits.bcryptCost, actor: String = "cli") async throws {
        guard Self.isValidUsername(username) else { throw StaffError("username must be 3-32 characters of a-z 0-9 . _ -") }
        let hash = try await Self.hash(password, of: username, cost: cost)
        let rows = try await queries.query("""
            INSERT INTO staff_users (username, password_hash, role) VALUES (\(username), \(hash), \(role.rawValue))
            ON CONFLICT (username) DO NOTHING RETURNING username
            """)
        guard try await rows.returnedAnyRow() else { throw StaffError("staff user \(username) already exists") }
        try await audit(actor: actor, event: "staff_user_added", detail: "\(username) \(role.rawValue)", address: nil)
    }

    /// Guessed first by anyone: never part of a password.
    static let passwordDenyList = ["password", "sasando", "12345678", "qwerty", "bankntt"]

    /// A bcrypt hash of an acceptable password (off the event loops).
    static func hash(_ password: String, of username: String, cost: UInt8) async throws -> String {
        let bytes = password.utf8.count
        guard bytes >= ConsoleLimits.passwordBytesMin else { throw StaffError("password must be at least \(ConsoleLimits.passwordBytesMin) bytes") }
        guard bytes <= ConsoleLimits.passwordBytesMax else { throw StaffError("password must be at most \(ConsoleLimits.passwordBytesMax) bytes (bcrypt limit)") }
        // Length alone let "            " (12 spaces) or "aaaaaaaaaaaa" through.
        guard Set(password.unicodeScalars).count >= ConsoleLimits.passwordDistinctCharactersMin,
              password.unicodeScalars.contains(where: { !$0.properties.isWhitespace }) else {
            throw StaffError("password must have at least \(ConsoleLimits.passwordDistinctCharactersMin) different characters, not only spaces")
        }
        let lowered = password.lowercased()
        guard !lowered.contains(username), !Self.passwordDenyList.contains(where: { lowered.contains($0) }) else {
            throw StaffError("password must not contain the username or a common word (\(Self.passwordDenyList.joined(separator: ", ")))")
        }
        return try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(password, cost: cost) }
    }

    // MARK: Offboarding and password changes (`sasando staff ...`)

    /// A disabled user cannot log in (answered like a wrong password) and loses every session at
    /// once; the account and its audit trail stay. Enabling lets them log in again.
    public func setDisabled(username: String, _ disabled: Bool, actor: String) async throws {
        let rows = try await queries.query("""
            UPDATE staff_users SET disabled_at = CASE WHEN \(disabled) THEN coalesce(disabled_at, now()) END
            WHERE username = \(username) RETURNING 1
            """)
        guard try await rows.returnedAnyRow() else { throw StaffError("no staff user \(username)") }
        if disabled { _ = try await endSessions(username: username) }
        try await audit(actor: actor, event: disabled ? "staff_user_disabled" : "staff_user_enabled", detail: username, address: nil)
    }

    /// A new password (same rules as a new user's); every session of the user ends.
    public func setPassword(username: String, password: String, actor: String, cost: UInt8 = ConsoleLimits.bcryptCost) async throws {
        let hash = try await Self.hash(password, of: username, cost: cost)
        let rows = try await queries.query("UPDATE staff_users SET password_hash = \(hash) WHERE username = \(username) RETURNING 1")
        guard try await rows.returnedAnyRow() else { throw StaffError("no staff user \(username)") }
        _ = try await endSessions(username: username)
        try await audit(actor: actor, event: "staff_password_set", detail: username, address: nil)
    }

    /// Staff ends every session of a user (a lost phone, a shared screen), audited. Returns how many.
    public func logOut(username: String, actor: String) async throws -> Int {
        let ended = try await endSessions(username: username)
        try await audit(actor: actor, event: "staff_sessions_ended", detail: "\(username): \(ended)", address: nil)
        return ended
    }

    /// Ends every session of the user. Returns how many.
    public func endSessions(username: String) async throws -> Int {
        let rows = try await queries.query("DELETE FROM staff_sessions WHERE username = \(username) RETURNING 1")
        var ended = 0
        for try await _ in rows { ended += 1 }
        return ended
    }

    public struct UserSummary: Sendable {
        public let username: String
        public let role: String
        public let disabled: Bool
        public let openSessions: Int
    }

    /// The role of an enabled staff user; nil for a disabled or unknown name.
    public func activeRole(username: String) async throws -> StaffRole? {
        let rows = try await queries.query("SELECT role FROM staff_users WHERE username = \(username) AND disabled_at IS NULL")
        for try await role in rows.decode(String.self) { return StaffRole(rawValue: role) }
        return nil
    }

    public func users() async throws -> [UserSummary] {
        let rows = try await queries.query("""
            SELECT u.username, u.role, u.disabled_at IS NOT NULL,
                   (SELECT count(*) FROM staff_sessions s WHERE s.username = u.username AND s.expires_at > now()
                       AND s.last_seen_at > now() - make_interval(secs => \(Double(limits.sessionIdleSecondsMax))))::int8
            FROM staff_users u ORDER BY u.username
            """)
        var users: [UserSummary] = []
        for try await (name, role, disabled, sessions) in rows.decode((String, String, Bool, Int64).self) {
            users.append(UserSummary(username: name, role: role, disabled: disabled, openSessions: Int(sessions)))
        }
        return users
    }

    /// The user's role if the password matches. Unknown users cost the same bcrypt work as known
    /// ones, so response time does not reveal which usernames exist.
    public func verify(username: String, password: String) async throws -> StaffRole? {
        guard Self.isValidUsername(username), password.utf8.count <= ConsoleLimits.passwordBytesMax else { return nil }
        var stored: (hash: String, role: String)?
        let rows = try await queries.query("SELECT password_hash, role FROM staff_users WHERE username = \(username) AND disabled_at IS NULL")
        for try await (hash, role) in rows.decode((String, String).self) { stored = (hash, role) }
        let hash = stored?.hash ?? Self.dummyHash
        let matches = try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(password, hash: hash) }
        guard matches, let stored else { return nil }
        return StaffRole(rawValue: stored.role)
    }

    /// A valid hash of nothing anyone types, for unknown usernames.
    static let dummyHash = Bcrypt.hash("sasando-unknown-user-\(UInt64.random(in: 0...UInt64.max))", cost: ConsoleLimits.bcryptCost)

    // MARK: Sessions

    /// A new session: 256 random bits for the cookie (returned, never stored) and a CSRF token.
    public func createSession(username: String, role: StaffRole, remoteAddress: String?) async throws -> (token: String, session: StaffSession) {
        let token = Self.randomToken()
        let csrf = Self.randomToken()
        let digest = Self.digest(token)
        _ = try await queries.query("""
            DELETE FROM staff_sessions
            WHERE expires_at < now() OR last_seen_at < now() - make_interval(secs => \(Double(limits.sessionIdleSecondsMax)))
            """)
        _ = try await queries.query("""
            INSERT INTO staff_sessions (token_sha256, username, csrf_token, expires_at, remote_address)
            VALUES (\(digest), \(username), \(csrf), now() + make_interval(secs => \(Double(limits.sessionSecondsMax))), \(remoteAddress))
            """)
        return (token, StaffSession(username: username, role: role, csrfToken: csrf))
    }

    /// The live session for a cookie value, or nil: not past its absolute expiry, not idle longer
    /// than `sessionIdleSecondsMax`, its user enabled. Each use moves its idle clock on.
    public func session(token: String) async throws -> StaffSession? {
        guard Self.looksLikeToken(token) else { return nil }
        let rows = try await queries.query("""
            UPDATE staff_sessions s SET last_seen_at = now() FROM staff_users u
            WHERE u.username = s.username AND s.token_sha256 = \(Self.digest(token)) AND s.expires_at > now()
              AND s.last_seen_at > now() - make_interval(secs => \(Double(limits.sessionIdleSecondsMax))) AND u.disabled_at IS NULL
            RETURNING s.username, u.role, s.csrf_token
            """)
        for try await (username, role, csrf) in rows.decode((String, String, String).self) {
            guard let role = StaffRole(rawValue: role) else { return nil }
            return StaffSession(username: username, role: role, csrfToken: csrf)
        }
        return nil
    }

    public func deleteSession(token: String) async throws {
        guard Self.looksLikeToken(token) else { return }
        _ = try await queries.query("DELETE FROM staff_sessions WHERE token_sha256 = \(Self.digest(token))")
    }

    // MARK: Throttling

    /// A login attempt, counted before its password is checked (`beginLogin`).
    public struct LoginAttempt: Sendable {
        let id: Int64
        /// What its failures are counted under: the username if such a staff user exists, else a
        /// digest of what was typed (`unknownUserKey`).
        let throttleKey: String
        /// The name for the audit log: the username if such a staff user exists, else
        /// "(unknown user)". A password typed into the username box must not be kept in the
        /// append-only log every operator reads.
        public let auditName: String
        /// The name or the address had used up its failures before this attempt.
        public let lockedOut: Bool
    }

    static let unknownUser = "(unknown user)"

    /// The throttling key of a name that is no staff user: a digest, so the typed text is not kept,
    /// yet each typed name is counted on its own, exactly like a real one (a lockout shared by all
    /// unknown names would answer 429 where a real name gets 401, and so tell which names exist).
    static func unknownUserKey(_ typed: String) -> String {
        "?" + lowercaseHex(SHA256.hash(data: Data(typed.utf8)).prefix(12))
    }

    /// Records the attempt as a failure first, then checks the lockout against the failures before
    /// it. Attempts sent at once then count against each other: at most `loginFailuresPerUserMax`
    /// passwords are ever checked per window, however many requests arrive together (checking
    /// first and recording after let ten parallel guesses through). `loginSucceeded` takes the row
    /// back; a locked-out attempt's row is taken back too, so the lockout runs from the last real guess.
    public func beginLogin(typedUsername: String, address: String) async throws -> LoginAttempt {
        // Only a well-formed name reaches the query (and never a NUL, which text cannot hold).
        let candidate = Self.isValidUsername(typedUsername) ? typedUsername : nil
        let rows = try await queries.query("""
            INSERT INTO staff_login_failures (username, remote_address)
            SELECT coalesce((SELECT username FROM staff_users WHERE username = \(candidate)), \(Self.unknownUserKey(typedUsername))), \(address)
            RETURNING id, username
            """)
        var inserted: (Int64, String)?
        for try await row in rows.decode((Int64, String).self) { inserted = row }
        guard let (id, key) = inserted else { throw StaffError("login attempt not recorded") }
        async let user = locked(column: "username", value: key, failuresMax: limits.loginFailuresPerUserMax, excluding: id)
        async let client = locked(column: "remote_address", value: address, failuresMax: limits.loginFailuresPerAddressMax, excluding: id)
        let (u, c) = try await (user, client)
        let lockedOut = u || c
        if lockedOut { _ = try await queries.query("DELETE FROM staff_login_failures WHERE id = \(id)") }
        return LoginAttempt(id: id, throttleKey: key, auditName: key == typedUsername ? key : Self.unknownUser, lockedOut: lockedOut)
    }

    /// The password was right: this attempt and the user's earlier failures no longer count (the
    /// audit trail keeps them); failures older than a day are pruned.
    public func loginSucceeded(_ attempt: LoginAttempt) async throws {
        _ = try await queries.query("""
            DELETE FROM staff_login_failures WHERE id = \(attempt.id) OR username = \(attempt.throttleKey) OR occurred_at < now() - interval '1 day'
            """)
    }

    /// True while the last `failuresMax` failures of `value` (other than the attempt `excluding`)
    /// fell within the window and the latest of them is younger than the lockout period.
    private func locked(column: String, value: String, failuresMax: Int, excluding: Int64) async throws -> Bool {
        let window = Double(limits.loginFailureWindowSeconds), lockout = Double(limits.lockoutSeconds)
        // Two fixed queries (no SQL built from input): the column name only picks one of them.
        let query: PostgresQuery = column == "username"
            ? """
              WITH f AS (SELECT occurred_at FROM staff_login_failures WHERE username = \(value) AND id <> \(excluding)
                         ORDER BY occurred_at DESC LIMIT \(failuresMax))
              SELECT count(*) >= \(failuresMax) AND max(occurred_at) - min(occurred_at) <= make_interval(secs => \(window))
                     AND max(occurred_at) > now() - make_interval(secs => \(lockout)) FROM f
              """
            : """
              WITH f AS (SELECT occurred_at FROM staff_login_failures WHERE remote_address = \(value) AND id <> \(excluding)
                         ORDER BY occurred_at DESC LIMIT \(failuresMax))
              SELECT count(*) >= \(failuresMax) AND max(occurred_at) - min(occurred_at) <= make_interval(secs => \(window))
                     AND max(occurred_at) > now() - make_interval(secs => \(lockout)) FROM f
              """
        let rows = try await queries.query(query)
        for try await locked in rows.decode(Bool?.self) { return locked ?? false }
        return false
    }

    // MARK: Audit

    public func audit(actor: String, event: String, detail: String = "", address: String?) async throws {
        _ = try await queries.query("""
            INSERT INTO audit_events (actor, event, detail, remote_address)
            VALUES (\(String(actor.prefix(64))), \(event), \(detail), \(address))
            """)
    }

    // MARK: Tokens

    static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func looksLikeToken(_ token: String) -> Bool {
        token.utf8.count == 43 && token.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 45 || $0 == 95 }
    }

    static func digest(_ token: String) -> ByteBuffer {
        ByteBuffer(bytes: Array(SHA256.hash(data: Data(token.utf8))))
    }

    /// Constant-time comparison for CSRF tokens.
    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for i in x.indices { difference |= x[i] ^ y[i] }
        return difference == 0
    }
}
