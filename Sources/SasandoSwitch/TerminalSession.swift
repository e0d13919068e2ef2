import CoreMetrics
import Logging
import SasandoCore
import SasandoISO8583
import SasandoLedger
import SasandoTransport
import Synchronization

/// Everything a connection's requests need from the rest of the switch.
public protocol TransactionFlows: Sendable {
    /// Processes a signed-on, MAC-verified 0200/0400/0401/0500 and returns the response (MAC added
    /// by the caller). Never throws: every failure is a response code. Nil: do not answer (the
    /// outcome is unknown; the terminal's reversal will settle it).
    func process(_ request: ISOMessage, terminal: TerminalRecord) async -> ISOMessage?
    /// The business date for field 15 of answers the session gives itself (58, 63, 30): the
    /// cached one, else the database's within its bound, else the clock rule.
    func businessDateForAnswers() async -> CalendarDate
}

/// The switch side of one terminal connection: decode, bind field 41 to the certificate, check the
/// MAC, run the session state machine, and hand transactions to the flows.
public final class TerminalSession: TerminalConnectionDelegate {
    private let connection: TerminalConnection
    private let directory: TerminalDirectory
    private let flows: any TransactionFlows
    private let registry: ConnectionRegistry
    private let logger: Logger
    private let state = Mutex(SessionState())

    struct SessionState {
        var machine = SessionStateMachine()
        /// Transactions that arrived while the sign-on was being checked (`waitForSignOn`); resumed
        /// when the check ends. At most the in-flight window (32) of them.
        var waitingForSignOn: [CheckedContinuation<Void, Never>] = []
        /// Loaded at sign-on; the MAC key and status of the terminal on this connection.
        var terminal: TerminalRecord?
    }

    init(connection: TerminalConnection, directory: TerminalDirectory, flows: any TransactionFlows,
         registry: ConnectionRegistry, logger: Logger) {
        self.connection = connection
        self.directory = directory
        self.flows = flows
        self.registry = registry
        var logger = logger
        logger[metadataKey: "terminal"] = "\(connection.terminalID)"
        logger[metadataKey: "connection"] = "\(connection.connectionID)"
        self.logger = logger
    }

    public func connectionClosed() async {
        registry.remove(connection.connectionID)
    }

    public func handle(frame: [UInt8]) async -> FrameOutcome {
        let started = ContinuousClock.now
        let outcome = await handleFrame(frame)
        CoreMetrics.Timer(label: MetricNames.requestDuration).recordNanoseconds(started.duration(to: .now).wholeNanoseconds)
        return outcome
    }

    private func handleFrame(_ frame: [UInt8]) async -> FrameOutcome {
        let request: ISOMessage
        do {
            request = try ISO8583Codec.decode(frame)
        } catch {
            return await formatError(error)
        }
        if request.mti == "0810" {
            // A terminal acknowledging our cut-over notice (0800/201): nothing to answer.
            logger.debug("terminal acknowledged a network message", metadata: ["code": "\(request[70] ?? "")", "response": "\(request[39] ?? "")"])
            return .noReply
        }
        // Spec §1: field 41 must be the certificate's terminal ID, on every message (an unknown
        // MTI included); the answer is 63, audited, with a MAC when the terminal's key is known.
        guard request[41] == connection.terminalID else {
            await audit("terminal_mismatch", detail: "field 41 \(request[41] ?? "absent") on a connection authenticated as \(connection.terminalID)")
            guard let answerMTI = ISOMessageRules.responseMTI(for: request.mti) ?? Self.answerMTI(forUnknown: request.mti) else { return .noReply }
            return await reply(await respond(to: request, mti: answerMTI, code: .securityViolation), macKey: await macKeyIfKnown(for: request))
        }
        guard let responseMTI = ISOMessageRules.responseMTI(for: request.mti) else {
            return unsupportedMTI(request)
        }
        if let missing = ISOMessageRules.missingMandatoryField(in: request) {
            logger.notice("mandatory field missing", metadata: ["mti": "\(request.mti)", "field": "\(missing)"])
            return await reply(await respond(to: request, mti: responseMTI, code: .formatError), macKey: await macKeyIfKnown(for: request))
        }
        if request.mti == "0800" {
            return await network(request, responseMTI: responseMTI)
        }
        return await transaction(request, frame: frame, responseMTI: responseMTI)
    }

    // MARK: Network management (0800)

    private func network(_ request: ISOMessage, responseMTI: String) async -> FrameOutcome {
        let kind: SessionStateMachine.Request = switch request[70] {
        case "001": .signOn
        case "002": .signOff
        case "301": .echo
        default: .otherNetworkManagement
        }
        var action = state.withLock { $0.machine.received(kind) }
        if action == .checkTerminal {
            let check = await checkTerminalForSignOn()
            let waiting: [CheckedContinuation<Void, Never>]
            (action, waiting) = state.withLock { s in
                let action = s.machine.signOnChecked(check)
                defer { s.waitingForSignOn = [] }
                return (action, s.waitingForSignOn)
            }
            for request in waiting { request.resume() }
        }
        guard case .answer(let code) = action else {
            preconditionFailure("network management never proceeds to transaction flows")
        }
        if kind == .signOn, code == .approved {
            registry.add(connection)
        } else if kind == .signOff, code == .approved {
            registry.remove(connection.connectionID)
            await audit("sign_off")
        }
        return await reply(await respond(to: request, mti: responseMTI, code: code), macKey: nil)
    }

    private func checkTerminalForSignOn() async -> SessionStateMachine.SignOnCheck {
        let record: TerminalRecord?
        do {
            record = try await directory.database.withDeadline { [directory, connection] in
                try await directory.terminal(connection.terminalID)
            }
        } catch {
            logger.error("terminal look-up failed at sign-on", metadata: ["error": "\(error)"])
            return .unavailable
        }
        guard let record else {
            await audit("sign_on_refused", detail: "terminal not provisioned")
            return .unknownTerminal
        }
        state.withLock { $0.terminal = record }
        guard record.isActive else {
            await audit("sign_on_refused", detail: "terminal \(record.terminalStatus.rawValue), payment point \(record.merchantStatus.rawValue)")
            return .blocked
        }
        await audit("sign_on")
        return .permitted
    }

    // MARK: Transactions (0200, 0400, 0401, 0500)

    private func transaction(_ request: ISOMessage, frame: [UInt8], responseMTI: String) async -> FrameOutcome {
        var (action, terminal) = state.withLock { ($0.machine.received(.transaction), $0.terminal) }
        if action == .waitForSignOn {
            // The check is bounded (the database wait), so this wait is too.
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let stillSigningOn = state.withLock { s -> Bool in
                    guard s.machine.state == .signingOn else { return false }
                    s.waitingForSignOn.append(continuation)
                    return true
                }
                if !stillSigningOn { continuation.resume() }
            }
            (action, terminal) = state.withLock { ($0.machine.received(.transaction), $0.terminal) }
            if action == .waitForSignOn { action = .answer(.notPermitted) }  // another sign-on began meanwhile
        }
        if case .answer(let code) = action {
            // Before sign-on the session has no key yet: it looks the terminal's up, so the 58 is
            // MAC'd like every answer to a MAC-carrying request (spec §7).
            return await reply(await respond(to: request, mti: responseMTI, code: code), macKey: await macKeyIfKnown(for: request))
        }
        // Signed on implies the terminal was loaded at sign-on.
        guard let terminal else { preconditionFailure("signed on without a terminal record") }
        if ISOMessageRules.requiresMAC(mti: request.mti) {
            switch ISOMAC.verify(body: frame, message: request, key: terminal.macKey) {
            case .valid:
                break
            case .missing, .wrong:
                await audit("mac_failure", detail: "\(request.mti) STAN \(request[11] ?? "")")
                return await reply(await respond(to: request, mti: responseMTI, code: .securityViolation), macKey: terminal.macKey)
            }
        }
        guard let response = await flows.process(request, terminal: terminal) else { return .noReply }
        return await reply(response, macKey: ISOMessageRules.requiresMAC(mti: request.mti) ? terminal.macKey : nil)
    }

    // MARK: Answers

    /// Spec §3: a response echoes every request field it does not change, plus 39 (and 15 for
    /// financial and reconciliation responses). The MAC is recomputed on encoding, never echoed.
    func respond(to request: ISOMessage, mti: String, code: ResponseCode) async -> ISOMessage {
        var response = ISOMessageRules.answer(to: request, mti: mti, code: code.rawValue)
        if ISOMessageRules.carriesBusinessDate(responseMTI: mti) { response[15] = await flows.businessDateForAnswers().mmdd }
        return response
    }

    /// The key for an answer to a MAC-carrying request (spec §7): the session's, else (before
    /// sign-on) the certificate terminal's from the database. Nil for requests without a MAC, or
    /// a terminal that is not provisioned.
    private func macKeyIfKnown(for request: ISOMessage) async -> [UInt8]? {
        guard ISOMessageRules.requiresMAC(mti: request.mti) else { return nil }
        if let key = state.withLock({ $0.terminal?.macKey }) { return key }
        let record = try? await directory.database.withDeadline { [directory, connection] in try await directory.terminal(connection.terminalID) }
        return (record ?? nil)?.macKey
    }

    private func reply(_ response: ISOMessage, macKey: [UInt8]?) async -> FrameOutcome {
        Counter(label: MetricNames.responses, dimensions: [("mti", response.mti), ("response_code", response[39] ?? "none")]).increment()
        do {
            let body = if let macKey {
                try ISO8583Codec.encodeWithMAC(response, key: macKey)
            } else {
                try ISO8583Codec.encode(response)
            }
            logger.debug("response", metadata: ["mti": "\(response.mti)", "stan": "\(response[11] ?? "")", "code": "\(response[39] ?? "")"])
            return .reply(body)
        } catch {
            // Our own response failed the table: a programmer error in a flow, but the terminal still
            // deserves an answer. Fall back to the bare key fields with 96.
            logger.error("response failed to encode", metadata: ["error": "\(error)", "mti": "\(response.mti)"])
            var fallback = ISOMessage(mti: response.mti)
            for field in [7, 11, 41] { fallback[field] = response[field] }
            fallback[39] = ResponseCode.systemMalfunction.rawValue
            if let body = try? ISO8583Codec.encode(fallback) { return .reply(body) }
            return .close(reason: "cannot encode any response")
        }
    }

    private func formatError(_ error: ISODecodeError) async -> FrameOutcome {
        // Spec §2: answer 30 when MTI, 11 and 41 are readable; otherwise log and close.
        guard error.canAnswerFormatError, let mti = error.mti, let responseMTI = ISOMessageRules.responseMTI(for: mti) else {
            logger.warning("unreadable message; closing", metadata: ["error": "\(error.kind)"])
            return .close(reason: "format error without MTI, STAN and terminal ID")
        }
        logger.notice("format error", metadata: ["error": "\(error.kind)", "mti": "\(mti)"])
        // Spec §3: echo every field, here every one that decoded cleanly (all of them when only a
        // mandatory field is missing).
        var request = error.partial ?? ISOMessage(mti: mti)
        request.mti = mti
        request[11] = error.stan
        request[41] = error.terminalID
        // Spec §1 comes first: another terminal's ID in field 41 is 63 and audited, malformed or not.
        var code = ResponseCode.formatError
        if error.terminalID != connection.terminalID {
            await audit("terminal_mismatch", detail: "field 41 \(error.terminalID ?? "absent") in a malformed \(mti) on a connection authenticated as \(connection.terminalID)")
            code = .securityViolation
        }
        return await reply(await respond(to: request, mti: responseMTI, code: code), macKey: await macKeyIfKnown(for: request))
    }

    /// The answer MTI of a request MTI this switch does not handle (third digit even: a request),
    /// or nil for an unexpected response MTI (never answered).
    static func answerMTI(forUnknown mti: String) -> String? {
        let digits = Array(mti.utf8)
        guard digits.count == 4, (digits[2] - 48) % 2 == 0, digits[2] < 57 else { return nil }
        return String(decoding: [digits[0], digits[1], digits[2] + 1, digits[3]], as: UTF8.self)
    }

    private func unsupportedMTI(_ request: ISOMessage) -> FrameOutcome {
        // Only requests (third digit even) are answered; an unexpected response MTI is dropped.
        guard let answerMTI = Self.answerMTI(forUnknown: request.mti) else {
            logger.notice("unexpected message type ignored", metadata: ["mti": "\(request.mti)"])
            return .noReply
        }
        let response = ISOMessageRules.answer(to: request, mti: answerMTI, code: ResponseCode.invalidTransaction.rawValue)
        guard let body = try? ISO8583Codec.encode(response) else { return .close(reason: "cannot answer unknown MTI") }
        return .reply(body)
    }

    private func audit(_ event: String, detail: String = "") async {
        let entry = AuditEvent(actor: connection.terminalID, event: event, detail: detail, remoteAddress: connection.remoteAddress)
        logger.info("audit", metadata: ["event": "\(event)", "detail": "\(detail)"])
        do {
            try await directory.database.withDeadline { [directory] in try await directory.record(entry) }
        } catch {
            // The log line above keeps the event if the database is down.
            logger.error("audit write failed", metadata: ["error": "\(error)"])
        }
    }
}
