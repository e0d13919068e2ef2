import SasandoCore
import SasandoSwitch
import Testing

@Suite("Session state machine (spec §3 sign-on first)")
struct SessionStateMachineTests {
    private func signedOn() -> SessionStateMachine {
        var machine = SessionStateMachine()
        #expect(machine.received(.signOn) == .checkTerminal)
        #expect(machine.signOnChecked(.permitted) == .answer(.approved))
        #expect(machine.isSignedOn)
        return machine
    }

    @Test func echoBeforeSignOnIsApproved() {
        var machine = SessionStateMachine()
        #expect(machine.received(.echo) == .answer(.approved))
        #expect(machine.state == .connected)
        #expect(!machine.isSignedOn)
    }

    @Test func echoWhenSignedOnIsApproved() {
        var machine = signedOn()
        #expect(machine.received(.echo) == .answer(.approved))
        #expect(machine.isSignedOn)
    }

    @Test func transactionBeforeSignOnIsNotPermitted() {
        var machine = SessionStateMachine()
        #expect(machine.received(.transaction) == .answer(.notPermitted))
        #expect(machine.state == .connected)
    }

    @Test func signOnPermittedThenTransactionIsProcessed() {
        var machine = SessionStateMachine()
        #expect(machine.received(.signOn) == .checkTerminal)
        #expect(machine.state == .signingOn)
        #expect(!machine.isSignedOn)
        #expect(machine.signOnChecked(.permitted) == .answer(.approved))
        #expect(machine.isSignedOn)
        #expect(machine.state == .signedOn)
        #expect(machine.received(.transaction) == .process)
    }

    /// Pipelined behind the sign-on: it waits for the check, then is processed (or 58 if refused).
    @Test func transactionWhileSigningOnWaitsForTheCheck() {
        var machine = SessionStateMachine()
        _ = machine.received(.signOn)
        #expect(machine.received(.transaction) == .waitForSignOn)
        _ = machine.signOnChecked(.permitted)
        #expect(machine.received(.transaction) == .process)
        var refused = SessionStateMachine()
        _ = refused.received(.signOn)
        #expect(refused.received(.transaction) == .waitForSignOn)
        _ = refused.signOnChecked(.unknownTerminal)
        #expect(refused.received(.transaction) == .answer(.notPermitted))
    }

    @Test func blockedTerminalGets05() {
        var machine = SessionStateMachine()
        _ = machine.received(.signOn)
        #expect(machine.signOnChecked(.blocked) == .answer(.doNotHonour))
        #expect(ResponseCode.doNotHonour.rawValue == "05")
        #expect(!machine.isSignedOn)
        #expect(machine.received(.transaction) == .answer(.notPermitted))
    }

    @Test func unknownTerminalGets58() {
        var machine = SessionStateMachine()
        _ = machine.received(.signOn)
        #expect(machine.signOnChecked(.unknownTerminal) == .answer(.notPermitted))
        #expect(ResponseCode.notPermitted.rawValue == "58")
        #expect(!machine.isSignedOn)
    }

    @Test func unavailableGets91AndRestoresNotSignedOn() {
        var machine = SessionStateMachine()
        _ = machine.received(.signOn)
        #expect(machine.signOnChecked(.unavailable) == .answer(.systemUnavailable))
        #expect(ResponseCode.systemUnavailable.rawValue == "91")
        #expect(machine.state == .connected)
        #expect(!machine.isSignedOn)
    }

    @Test func unavailableGets91AndRestoresSignedOn() {
        var machine = signedOn()
        #expect(machine.received(.signOn) == .checkTerminal)
        #expect(machine.signOnChecked(.unavailable) == .answer(.systemUnavailable))
        #expect(machine.state == .signedOn)
        #expect(machine.isSignedOn)
        #expect(machine.received(.transaction) == .process)
    }

    @Test func unavailableAfterSignOffRestoresSignedOff() {
        var machine = signedOn()
        #expect(machine.received(.signOff) == .answer(.approved))
        _ = machine.received(.signOn)
        #expect(machine.signOnChecked(.unavailable) == .answer(.systemUnavailable))
        #expect(machine.state == .signedOff)
    }

    @Test func signOffWhenSignedOnThenTransactionGets58() {
        var machine = signedOn()
        #expect(machine.received(.signOff) == .answer(.approved))
        #expect(machine.state == .signedOff)
        #expect(!machine.isSignedOn)
        #expect(machine.received(.transaction) == .answer(.notPermitted))
        // Echo still allowed after sign-off.
        #expect(machine.received(.echo) == .answer(.approved))
    }

    @Test func signOnAgainAfterSignOff() {
        var machine = signedOn()
        _ = machine.received(.signOff)
        #expect(machine.received(.signOn) == .checkTerminal)
        #expect(machine.signOnChecked(.permitted) == .answer(.approved))
        #expect(machine.received(.transaction) == .process)
    }

    @Test func signOffWhenNotSignedOnGets58() {
        var machine = SessionStateMachine()
        #expect(machine.received(.signOff) == .answer(.notPermitted))
        #expect(machine.state == .connected)
    }

    @Test func otherNetworkCodeGets12WhenSignedOn() {
        var machine = signedOn()
        #expect(machine.received(.otherNetworkManagement) == .answer(.invalidTransaction))
        #expect(ResponseCode.invalidTransaction.rawValue == "12")
        #expect(machine.isSignedOn)
    }

    @Test func otherNetworkCodeGets58WhenNotSignedOn() {
        var machine = SessionStateMachine()
        #expect(machine.received(.otherNetworkManagement) == .answer(.notPermitted))
    }

    @Test func valueSemantics() {
        let original = signedOn()
        var copy = original
        _ = copy.received(.signOff)
        #expect(original.isSignedOn)
        #expect(!copy.isSignedOn)
        #expect(original != copy)
    }
}

