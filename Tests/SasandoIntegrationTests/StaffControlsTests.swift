import Foundation
import PostgresNIO
import SasandoCore
import SasandoISO8583
import SasandoLedger
import SasandoSettlement
import Testing

/// Bank staff's controls (`sasando terminals`, `sasando payment-points`) against a real switch:
/// a block holds for a live session's next request, is audited once, leaves the payment point's
/// other terminals alone and is undone by unblock; a daily limit set by staff holds (`61`).
@Suite struct StaffControlsTests {
    static func audits(_ h: SwitchHarness, _ event: String, mentioning id: String) async throws -> Int64 {
        try await IntegrationEnvironment.int(h.database, "SELECT count(*) FROM audit_events WHERE event = \(event) AND detail LIKE \(id + "%")")
    }

    @Test func blockedTerminalIsRefusedAtItsNextRequestAndUnblockRestoresIt() async throws {
        let h = try await SwitchHarness.start()
        let (client, requests, folder) = try await h.signedOn(0)
        let (neighbour, neighbourRequests, neighbourFolder) = try await h.signedOn(1)
        let id = folder.info.terminalID

        let blocked = try await h.directory.changeTerminalStatus(id, to: .blocked, actor: "ops.test", reason: "stolen from the shop")
        #expect(blocked == StatusChange(outcome: .changed, merchantID: folder.info.merchantID))
        let refused = try await client.send(requests.inquiry(product: "PLNPOST", customerID: PaymentFlowTests.customer(12)), macKey: folder.macKey)
        #expect(refused[39] == "05")
        // The same payment point's other terminal goes on.
        let other = try await neighbour.send(neighbourRequests.inquiry(product: "PLNPOST", customerID: PaymentFlowTests.customer(12)),
                                             macKey: neighbourFolder.macKey)
        #expect(other[39] == "00")
        #expect(try await neighbour.send(neighbourRequests.payment(from: other), macKey: neighbourFolder.macKey)[39] == "00")

        // Blocking again changes and audits nothing.
        #expect(try await h.directory.changeTerminalStatus(id, to: .blocked, actor: "ops.test", reason: "again").outcome == .unchanged)
        #expect(try await Self.audits(h, "terminal_blocked", mentioning: id) == 1)

        #expect(try await h.directory.changeTerminalStatus(id, to: .active, actor: "ops.test", reason: "found").outcome == .changed)
        #expect(try await Self.audits(h, "terminal_unblocked", mentioning: id) == 1)
        let inquiry = try await client.send(requests.inquiry(product: "PLNPOST", customerID: PaymentFlowTests.customer(12)), macKey: folder.macKey)
        #expect(inquiry[39] == "00")
        #expect(try await client.send(requests.payment(from: inquiry), macKey: folder.macKey)[39] == "00")

        #expect(try await h.directory.changeTerminalStatus("ZZZZZZZZ", to: .blocked, actor: "ops.test", reason: "x").outcome == .notFound)
        await h.stop()
    }

    @Test func blockedPaymentPointRefusesEveryTerminalUntilUnblocked() async throws {
        let h = try await SwitchHarness.start(paymentPoints: 1)
        let (client, requests, folder) = try await h.signedOn(0)
        let merchant = folder.info.merchantID
        #expect(try await h.directory.changePaymentPointStatus(merchant, to: .blocked, actor: "ops.test", reason: "audit finding").outcome == .changed)
        #expect(try await client.send(requests.inquiry(product: "PDAMKPG", customerID: PaymentFlowTests.customer(8)), macKey: folder.macKey)[39] == "05")
        // A terminal that signs on now is refused too.
        let (late, lateRequests, _) = try await h.connect(2)
        #expect(try await late.send(lateRequests.signOn())[39] == "05")
        let listed = try await h.directory.terminals(merchantID: merchant, blockedOnly: true)
        #expect(listed.count == h.folders.count && listed.allSatisfy { $0.paymentPointStatus == .blocked && $0.status == .active })

        #expect(try await h.directory.changePaymentPointStatus(merchant, to: .active, actor: "ops.test", reason: "cleared").outcome == .changed)
        #expect(try await Self.audits(h, "payment_point_unblocked", mentioning: merchant) == 1)
        #expect(try await client.send(requests.inquiry(product: "PDAMKPG", customerID: PaymentFlowTests.customer(8)), macKey: folder.macKey)[39] == "00")
        await late.close()
        await h.stop()
    }

    @Test func dailyLimitSetByStaffHoldsForTheNextPayment() async throws {
        let h = try await SwitchHarness.start()
        let (client, requests, folder) = try await h.signedOn(0)
        let merchant = folder.info.merchantID
        let change = try await h.directory.setDailyLimit(merchant, sen: 100, actor: "ops.test")
        #expect(change == DailyLimitChange(previous: 100_000_000_000, changed: true))
        let before = try await PaymentFlowTests.deposit(h, merchant)
        let inquiry = try await client.send(requests.inquiry(product: "IPL", customerID: PaymentFlowTests.customer(10)), macKey: folder.macKey)
        #expect(inquiry[39] == "00")
        #expect(try await client.send(requests.payment(from: inquiry), macKey: folder.macKey)[39] == "61")
        #expect(try await PaymentFlowTests.deposit(h, merchant) == before)
        #expect(try await h.directory.setDailyLimit(merchant, sen: 100, actor: "ops.test") == DailyLimitChange(previous: 100, changed: false))
        #expect(try await Self.audits(h, "payment_point_daily_limit_set", mentioning: merchant) == 1)
        #expect(try await h.directory.setDailyLimit("NOSUCHMERCHANT0", sen: 100, actor: "ops.test").previous == nil)

        let listing = try #require(try await h.directory.paymentPoints().first { $0.merchantID == merchant })
        #expect(listing.dailyLimit == Sen(100) && listing.terminals == h.folders.count && listing.deposit.value == before)
        await h.stop()
    }

    /// The commands themselves (the real binary): a block from the CLI holds for the live session;
    /// a typo is a usage error (64), an unknown terminal a failure (1), a repeat changes nothing (0).
    @Test func cliBlocksAndUnblocksALiveTerminal() async throws {
        let binary = try #require(CrashRecoveryTests.binary, "SASANDO_BIN is not set: run ./scripts/test")
        let h = try await SwitchHarness.start()
        let (client, requests, folder) = try await h.signedOn(0)
        let id = folder.info.terminalID

        // --actor must be an enabled supervisor: an operator, or nobody at all, is refused and nothing changes.
        let tag = String(UInt32.random(in: 0...UInt32.max), radix: 36)
        let (supervisor, operatorName) = ("sup-\(tag)", "op-\(tag)")
        let hash = "$2b$04$" + String(repeating: "x", count: 53)
        try await h.database.client.query("""
            INSERT INTO staff_users (username, password_hash, role)
            VALUES (\(supervisor), \(hash), 'supervisor'), (\(operatorName), \(hash), 'operator')
            """)
        for actor in [operatorName, "nobody-\(tag)"] {
            let refused = try await SasandoCLI.run(binary, ["terminals", "block", "--terminal", id, "--reason", "lost", "--actor", actor])
            #expect(refused.status == 1 && refused.output.contains("is not an enabled supervisor"), "\(refused.output)")
        }
        #expect(try await h.directory.terminals(merchantID: folder.info.merchantID).first { $0.terminalID == id }?.status == .active)

        let block = try await SasandoCLI.run(binary, ["terminals", "block", "--terminal", id, "--reason", "lost", "--actor", supervisor])
        #expect(block.status == 0 && block.output.contains("\(id) (\(folder.info.merchantID)) blocked; audited as \(supervisor)"), "\(block.output)")
        #expect(try await client.send(requests.inquiry(product: "PLNPOST", customerID: PaymentFlowTests.customer(12)), macKey: folder.macKey)[39] == "05")
        let repeated = try await SasandoCLI.run(binary, ["terminals", "block", "--terminal", id, "--reason", "lost"])
        #expect(repeated.status == 0 && repeated.output.contains("already blocked"), "\(repeated.output)")
        let listed = try await SasandoCLI.run(binary, ["terminals", "list", "--merchant", folder.info.merchantID, "--blocked"])
        #expect(listed.status == 0 && listed.output.contains("\(id)  \(folder.info.merchantID)  blocked"), "\(listed.output)")

        #expect(try await SasandoCLI.run(binary, ["terminals", "block", "--terminal", "ZZZZZZZZ", "--reason", "x"]).status == 1)
        // A password on the command line is public (ps): refused before anything connects.
        let exposed = try await SasandoCLI.run(binary, ["terminals", "list", "--database-url", "postgres://postgres:secret@127.0.0.1:1/sasando"])
        #expect(exposed.status == 64 && exposed.output.contains("set SASANDO_DATABASE_URL instead"), "\(exposed.output)")
        #expect(try await SasandoCLI.run(binary, ["terminals", "block", "--terminal", "short", "--reason", "x"]).status == 64)
        #expect(try await SasandoCLI.run(binary, ["terminals", "block", "--terminal", id, "--reason", " "]).status == 64)
        #expect(try await SasandoCLI.run(binary, ["payment-points", "limit", "--merchant", folder.info.merchantID,
                                                    "--daily-limit", "5000000.00"]).status == 64)

        // Without --actor: recorded as cli: and the operating-system user and host.
        let unblock = try await SasandoCLI.run(binary, ["terminals", "unblock", "--terminal", id, "--reason", "found"])
        #expect(unblock.status == 0 && unblock.output.contains("active; audited as cli:"), "\(unblock.output)")
        #expect(try await IntegrationEnvironment.int(h.database, """
            SELECT count(*) FROM audit_events WHERE event = 'terminal_unblocked' AND actor LIKE 'cli:%@%' AND detail LIKE \(id + "%")
            """) == 1)
        #expect(try await client.send(requests.inquiry(product: "PLNPOST", customerID: PaymentFlowTests.customer(12)), macKey: folder.macKey)[39] == "00")
        #expect(try await Self.audits(h, "terminal_blocked", mentioning: id) == 1)
        // The test's staff users go: left enabled, anyone could name them as --actor on this database.
        try await h.database.client.query("DELETE FROM staff_users WHERE username IN (\(supervisor), \(operatorName))")
        await h.stop()
    }

    /// Changes at once from several supervisors: each is decided on the row as the one before left
    /// it, so every audited change names the true old value (the audit reads as one chain from
    /// the first limit to the last), and every change reported is audited once.
    @Test func concurrentChangesAreAuditedAsTheyHappened() async throws {
        let h = try await SwitchHarness.start(paymentPoints: 1)
        let merchant = h.folders[0].info.merchantID
        let limits: [Int64] = (1...8).map { Int64($0) * 1_000 }
        let outcomes = try await withThrowingTaskGroup(of: DailyLimitChange.self) { group in
            for sen in limits { group.addTask { try await h.directory.setDailyLimit(merchant, sen: sen, actor: "ops.test") } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(outcomes.allSatisfy { $0.changed })
        var edges: [Int64: Int64] = [:]
        let rows = try await h.database.client.query("""
            SELECT detail FROM audit_events WHERE event = 'payment_point_daily_limit_set' AND detail LIKE \(merchant + ":%") ORDER BY id
            """)
        for try await detail in rows.decode(String.self) {
            let parts = detail.split(separator: " ")   // "<merchant>: <old> -> <new> sen"
            edges[Int64(parts[1])!] = Int64(parts[3])!
        }
        #expect(edges.count == limits.count)
        var value: Int64 = 100_000_000_000   // the default limit
        for _ in limits { value = try #require(edges[value], "the chain breaks at \(value): \(edges)") }
        #expect(try await h.directory.paymentPoints().first { $0.merchantID == merchant }?.dailyLimit == Sen(value))

        // A block and an unblock at once, from active: the unblock, if it came second, found it blocked.
        let terminal = h.folders[1].info.terminalID
        async let block = h.directory.changeTerminalStatus(terminal, to: .blocked, actor: "ops.test", reason: "at once")
        async let unblock = h.directory.changeTerminalStatus(terminal, to: .active, actor: "ops.test", reason: "at once")
        let (b, u) = try await (block, unblock)
        let final = try await h.directory.terminals(merchantID: merchant).first { $0.terminalID == terminal }?.status
        #expect(b.outcome == .changed)
        // Either the unblock ran first (nothing to do) and the terminal ends blocked, or it ran
        // second, undid the block, and says so: never "already active" with the terminal blocked.
        #expect((u.outcome == .unchanged && final == .blocked) || (u.outcome == .changed && final == .active), "\(u) \(String(describing: final))")
        await h.stop()
    }

    /// A payment point's deposit statement ties to the ledger: opening plus every line is the
    /// closing balance, which is the deposit now (nothing dated later); payments, their reversal
    /// and a top-up each show as their own line with the amounts the terminal was told.
    @Test func depositStatementTiesToTheLedger() async throws {
        let h = try await SwitchHarness.start(paymentPoints: 1)
        let (client, requests, folder) = try await h.signedOn(0)
        let merchant = folder.info.merchantID
        var taken: Int64 = 0
        var payments: [ISOMessage] = []
        for customer in [PaymentFlowTests.customer(12), PaymentFlowTests.customer(12)] {
            let inquiry = try await client.send(requests.inquiry(product: "PLNPOST", customerID: customer), macKey: folder.macKey)
            let payment = requests.payment(from: inquiry)
            #expect(try await client.send(payment, macKey: folder.macKey)[39] == "00")
            taken += Int64(payment[4]!)! + Int64(payment[28]!.dropFirst())!
            payments.append(payment)
        }
        #expect(try await client.send(requests.reversal(of: payments[0]), macKey: folder.macKey)[39] == "00")
        let givenBack = Int64(payments[0][4]!)! + Int64(payments[0][28]!.dropFirst())!
        _ = try await h.ledger.topUp(merchantID: merchant, amount: .rupiah(1_000), actor: "ops.test")

        let day = try await h.businessDay.refresh().date
        let statement = try await h.settlement.statement(merchantID: merchant, from: day, to: day)
        #expect(statement.closingSen == (try await PaymentFlowTests.deposit(h, merchant)))
        #expect(statement.openingSen + statement.lines.reduce(0) { $0 + $1.netSen } == statement.closingSen)
        let byKind = Dictionary(uniqueKeysWithValues: statement.lines.map { ($0.kind, $0) })
        #expect(byKind["payment"]?.count == 2 && byKind["payment"]?.netSen == -taken)
        #expect(byKind["reversal"]?.count == 1 && byKind["reversal"]?.netSen == givenBack)
        #expect(byKind["topup"]?.netSen == Sen.rupiah(1_000).value)
        #expect(statement.renderCSV().hasPrefix("business_date,kind,count,net_sen\nopening,,,\(statement.openingSen)\n"))
        await #expect(throws: SettlementError.self) { try await h.settlement.statement(merchantID: merchant, from: day, to: day.adding(days: 400)) }
        await #expect(throws: SettlementError.self) { try await h.settlement.statement(merchantID: "NOSUCHMERCHANT0", from: day, to: day) }
        await h.stop()
    }
}
