import SasandoCore

/// Sign-on state of one connection (spec §3 "Sign-on first"), as a pure value: events in, actions
/// out. The connection's delegate performs the actions (database look-up, answers).
public struct SessionStateMachine: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        case connected
        case signingOn
        case signedOn
        case signedOff
    }

    /// What a request asks of the session, already classified from MTI and field 70.
    public enum Request: Sendable, Equatable {
        case echo
        case signOn
        case signOff
        /// A network-management code terminals may not send (e.g. 201, which only the switch sends).
        case otherNetworkManagement
        /// 0200, 0400/0401, 0500.
        case transaction
    }

    public enum Action: Sendable, Equatable {
        case answer(ResponseCode)
        /// Look the terminal up (status, payment point), then call `signOnChecked`.
        case checkTerminal
        /// Signed on: hand the request to the transaction flows.
        case process
        /// A sign-on is being checked: wait for `signOnChecked`, then ask again. A terminal may
        /// pipeline its first request right behind its sign-on (spec §1: 32 in flight); answering
        /// it `58` because the check had not finished would be the switch's timing, not the
        /// terminal's mistake.
        case waitForSignOn
    }

    public enum SignOnCheck: Sendable, Equatable {
        case permitted
        /// Terminal or payment point blocked: `05`.
        case blocked
        /// Certificate valid but no such terminal provisioned: `58`.
        case unknownTerminal
        /// Database did not answer: `91`; the session stays as it was.
        case unavailable
    }

    public private(set) var state: State = .connected
    /// Where to return if a sign-on check cannot complete.
    private var stateBeforeSignOn: State = .connected

    public init() {}

    public var isSignedOn: Bool { state == .signedOn }

    public mutating func received(_ request: Request) -> Action {
        switch request {
        case .echo:
            // Spec §3: echo is allowed before sign-on, and keeps the link alive.
            return .answer(.approved)
        case .signOn:
            if state != .signingOn { stateBeforeSignOn = state }
            state = .signingOn
            return .checkTerminal
        case .signOff:
            guard state == .signedOn else { return .answer(.notPermitted) }
            state = .signedOff
            return .answer(.approved)
        case .otherNetworkManagement:
            return state == .signedOn ? .answer(.invalidTransaction) : .answer(.notPermitted)
        case .transaction:
            switch state {
            case .signedOn: return .process
            case .signingOn: return .waitForSignOn
            case .connected, .signedOff: return .answer(.notPermitted)
            }
        }
    }

    public mutating func signOnChecked(_ check: SignOnCheck) -> Action {
        // A sign-off may have raced the check; the latest sign-on still decides.
        switch check {
        case .permitted:
            state = .signedOn
            return .answer(.approved)
        case .blocked:
            state = .connected
            return .answer(.doNotHonour)
        case .unknownTerminal:
            state = .connected
            return .answer(.notPermitted)
        case .unavailable:
            state = stateBeforeSignOn
            return .answer(.systemUnavailable)
        }
    }
}
