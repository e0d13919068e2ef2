import ArgumentParser
import Foundation
import NIOCore
import NIOPosix
import SasandoCore
import SasandoISO8583
import SasandoPKI
import SasandoSettlement
import SasandoSwitch
import SasandoTransport

/// A small terminal for people: each run opens one mutual-TLS connection with the credentials in
/// DIR, signs on where the action needs it, and prints every request and response readably
/// (customer IDs masked).
struct TerminalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "terminal",
        abstract: "Act as a payment-point terminal: signon | echo | signoff | inquiry | pay | reverse | reconcile.")

    enum Action: String, ExpressibleByArgument, CaseIterable {
        case signon, echo, signoff, inquiry, pay, reverse, reconcile
    }

    @Option(help: "Terminal credential folder (cert.pem, key.pem, ca.pem, mac.key, terminal.json).") var credentials: String
    @Argument(help: "signon | echo | signoff | inquiry | pay | reverse | reconcile") var action: Action
    @Option(help: "Product code for inquiry/pay: PLNPOST, PLNPRE, PDAMKPG, IPL, KINET, BPJSKS.") var product: String?
    @Option(help: "Customer ID (meter number, account number) for inquiry/pay.") var customer: String?
    @Option(parsing: .unconditional, help: "PLNPRE denomination in whole rupiah (inquiry/pay).") var amount: String?
    @Option(help: "Switch host (default: terminal.json).") var host: String?
    @Option(help: "Switch port (default: terminal.json).") var port: Int?
    @Flag(help: "Reverse with a 0401 repeat instead of 0400.") var `repeat` = false
    @Option(help: "reconcile: business date MMDD (default: that of this terminal's last approved payment).") var date: String?

    static let lastPaymentFile = "last-payment.json"

    /// Before any connection: a mistyped option must not cost a sign-on (or send a payment).
    func validate() throws {
        if action == .inquiry || action == .pay {
            guard let product, let customer else { throw ValidationError("inquiry and pay need --product and --customer") }
            guard Product(rawValue: product) != nil else {
                throw ValidationError("unknown product \(product): one of \(Product.allCases.map(\.rawValue).joined(separator: ", ")) (upper case)")
            }
            // Field 48 holds 20 characters of customer ID: a longer one would be cut, not sent whole.
            guard (1...20).contains(customer.count), customer.allSatisfy({ $0.isASCII && !$0.isWhitespace }) else {
                throw ValidationError("--customer: 1 to 20 characters, no spaces")
            }
            if let amount { _ = try parseRupiah(amount) }
            if action == .pay, product == Product.plnPrepaid.rawValue, amount == nil {
                throw ValidationError("PLNPRE is prepaid: pay needs --amount, a denomination in rupiah (e.g. 50000)")
            }
        }
        if `repeat`, action != .reverse { throw ValidationError("--repeat goes with reverse") }
        if let date {
            guard action == .reconcile else { throw ValidationError("--date goes with reconcile") }
            // Digits only (Int("+1") parses), and a day the month has (February 29 allowed: a leap year's days).
            guard date.utf8.count == 4, date.utf8.allSatisfy({ (0x30...0x39).contains($0) }), let month = Int(date.prefix(2)),
                  let day = Int(date.suffix(2)), (1...12).contains(month), (1...CalendarDate.daysIn(year: 2024, month: month)).contains(day) else {
                throw ValidationError("--date is MMDD, e.g. 1130")
            }
        }
    }

    func run() async throws {
        let folder: TerminalCredentialFolder
        do { folder = try TerminalCredentialFolder.load(from: credentials) } catch {
            throw CommandFailure("cannot load credentials from \(credentials): \(error)")
        }
        let ssl = try TLSSetup.clientContext(certificatePEM: folder.certificatePEM, privateKeyPEM: folder.privateKeyPEM, caPEM: folder.caCertificatePEM)
        let client = try await TerminalClient.connect(
            host: host ?? folder.info.host, port: port ?? folder.info.port, sslContext: ssl,
            group: MultiThreadedEventLoopGroup.singleton, responseTimeoutSeconds: 30)
        defer { Task { await client.close() } }
        let requests = TerminalRequests(terminalID: folder.info.terminalID, merchantID: folder.info.merchantID)
        let key = folder.macKey

        func exchange(_ request: ISOMessage, mac: Bool) async throws -> ISOMessage {
            print("→ \(describe(request))")
            let response = try await client.send(request, macKey: mac ? key : nil)
            print("← \(describe(response))")
            return response
        }

        /// A financial request whose missing answer leaves something to do: says what, exits 1.
        func exchange(_ request: ISOMessage, mac: Bool, ifNoAnswer advice: String) async throws -> ISOMessage {
            do {
                return try await exchange(request, mac: mac)
            } catch {
                print("no answer (\(error)): \(advice)")
                throw ExitCode(1)
            }
        }

        // Exit status: 0 only when the switch approved (39 = 00), so scripts can rely on it.
        func approved(_ response: ISOMessage) throws {
            guard response[39] == "00" else { throw ExitCode(1) }
        }

        switch action {
        case .echo:
            try approved(try await exchange(requests.echo(), mac: false))
        case .signon:
            try approved(try await exchange(requests.signOn(), mac: false))
        case .signoff:
            try approved(try await exchange(requests.signOn(), mac: false))
            try approved(try await exchange(requests.signOff(), mac: false))
        case .inquiry, .pay:
            guard let product, let customer else { throw ValidationError("inquiry and pay need --product and --customer") }
            let denomination = try amount.map(parseRupiah) ?? 0
            try approved(try await exchange(requests.signOn(), mac: false))
            let inquiry = try await exchange(requests.inquiry(product: product, customerID: customer, amount: denomination), mac: true)
            guard action == .pay else { try approved(inquiry); break }
            guard inquiry[39] == "00" else { print("not paying: inquiry declined"); throw ExitCode(1) }
            let payment = requests.payment(from: inquiry)
            // Saved before it is sent: if no answer comes, its outcome is unknown and it is the one
            // to reverse (spec: a payment without an answer is reversed), not the one before it.
            try save(payment, as: Self.unansweredPaymentFile)
            let response = try await exchange(payment, mac: true,
                                              ifNoAnswer: "its outcome is unknown; `sasando terminal \(rerun) reverse` reverses it")
            if response[39] == "00" {
                try move(Self.unansweredPaymentFile, to: Self.lastPaymentFile)
                recordOrWarn(.payment(payment, businessDate: response[15]))
                print("saved as \(Self.lastPaymentFile); `sasando terminal \(rerun) reverse` reverses it")
            } else {
                // Declined: nothing to reverse, and the last approved payment stays the one `reverse` takes.
                try remove(Self.unansweredPaymentFile)
            }
            try approved(response)
        case .reverse:
            // A 0401 repeats the 0400 that got no answer, same key (STAN, field 7): the switch
            // answers it as the same reversal. A new 0400 reverses the unanswered payment, else the
            // last approved one.
            let reversal: ISOMessage, paymentFile: String
            if self.repeat {
                (reversal, paymentFile) = try loadUnansweredReversal()
            } else {
                let (original, file) = try loadPaymentToReverse()
                (reversal, paymentFile) = (requests.reversal(of: original), file)
                try save(reversal, as: Self.unansweredReversalFile, source: file)
            }
            try approved(try await exchange(requests.signOn(), mac: false))
            let response = try await exchange(reversal, mac: true,
                                              ifNoAnswer: "`sasando terminal \(rerun) reverse --repeat` sends it again as 0401")
            // 90 (cut-over in progress) and 91 (switch or database unavailable) mean nothing was
            // recorded: the reversal still has to happen (spec: repeat until answered), so both
            // files stay for `reverse --repeat`. Any other answer is final: done with both.
            if let code = response[39], Self.notRecordedCodes.contains(code) {
                print("the reversal was not recorded (\(code)); the payment is not reversed yet: `sasando terminal \(rerun) reverse --repeat` sends it again")
                throw ExitCode(1)
            }
            if response[39] == "00", let original = reversal[90] {
                // A payment that got no answer and is reversed now was recorded and approved by the
                // switch (else the reversal would be `25`): the terminal's totals count it too.
                if paymentFile == Self.unansweredPaymentFile, let (payment, _) = try? loadMessage(paymentFile) {
                    recordOrWarn(.payment(payment, businessDate: response[15]))
                }
                recordOrWarn(JournalLine(kind: .reversal, businessDate: response[15] ?? "", stan: reversal[11] ?? "",
                                         transmittedAt: reversal[7] ?? "", amountSen: 0, original: JournalLine.key(fromField90: original)))
            }
            try remove(Self.unansweredReversalFile)
            try remove(paymentFile)
            try approved(response)
        case .reconcile:
            // Spec §3: this terminal's own totals for a business date, from its journal here.
            let lines = try loadJournal()
            guard let mmdd = date ?? lines.last(where: { $0.kind == .payment })?.businessDate, !mmdd.isEmpty else {
                throw CommandFailure("no approved payment in \(path(Self.journalFile)) to take the date from: give --date MMDD")
            }
            let ours = JournalLine.totals(lines, businessDate: mmdd)
            print("this terminal's journal for \(mmdd): \(ours.payments) payments \(Sen(ours.paymentAmount)), "
                  + "\(ours.reversals) reversed \(Sen(ours.reversalAmount)) (amount + fee)")
            try approved(try await exchange(requests.signOn(), mac: false))
            let response = try await exchange(requests.reconciliation(mmdd: mmdd, totals: ours), mac: true)
            if response[39] == "95" {
                print("the switch's totals differ (its 76/77/88/89/97 above): the journal knows only what was made from this folder; "
                      + "another tool using this terminal, a journal moved or not written (a warning said so) explains a difference")
            }
            try approved(response)
        }
    }

    // MARK: The terminal's journal (for reconciliation)

    /// Approved payments and reversals made from this folder, one JSON line each, as a terminal
    /// keeps them for its end-of-day 0500.
    static let journalFile = "journal.jsonl"
    /// Read whole for a 0500: past this, start a new folder's journal (move the file away).
    static let journalBytesMax = 16 * 1024 * 1024

    struct JournalLine: Codable, Equatable {
        enum Kind: String, Codable { case payment, reversal }
        var kind: Kind
        /// Field 15 of the answer (MMDD): the business date the switch put it on.
        var businessDate: String
        var stan: String
        var transmittedAt: String
        /// Field 4 + fee (28), in sen (payments).
        var amountSen: Int64
        /// Reversals: the payment's key, "STAN|field 7".
        var original: String?
        /// The local date it was written (YYYY-MM-DD): field 15 has no year, so a date's totals
        /// take only lines of the last `sameDateDaysMax` days (not the same day a year before).
        var recordedOn: String? = BusinessCalendar.witaDate(at: Date()).description

        static let sameDateDaysMax = 200

        static func payment(_ payment: ISOMessage, businessDate: String?) -> JournalLine {
            JournalLine(kind: .payment, businessDate: businessDate ?? "", stan: payment[11] ?? "", transmittedAt: payment[7] ?? "",
                        amountSen: TerminalCommand.amountAndFee(payment), original: nil)
        }

        /// Written within `sameDateDaysMax` days before `now` (lines of an older journal without a date count).
        func isRecent(_ now: Date = Date()) -> Bool {
            guard let day = recordedOn.flatMap({ CalendarDate($0) }) else { return true }
            return !(day.adding(days: Self.sameDateDaysMax) < BusinessCalendar.witaDate(at: now))
        }

        var key: String { "\(stan)|\(transmittedAt)" }

        /// Field 90: original MTI (4), STAN (6), transmission date and time (10), ...
        static func key(fromField90 field: String) -> String {
            let chars = Array(field)
            guard chars.count >= 20 else { return "" }
            return String(chars[4..<10]) + "|" + String(chars[10..<20])
        }

        /// Spec §3: 76/88 the date's approved payments (reversed ones included), 77/89 those reversed.
        static func totals(_ lines: [JournalLine], businessDate: String) -> TerminalTotals {
            let reversed = Set(lines.filter { $0.kind == .reversal }.compactMap(\.original))
            let payments = lines.filter { $0.kind == .payment && $0.businessDate == businessDate && $0.isRecent() }
            let taken = payments.filter { reversed.contains($0.key) }
            return TerminalTotals(payments: Int64(payments.count), paymentAmount: payments.reduce(0) { $0 + $1.amountSen },
                                  reversals: Int64(taken.count), reversalAmount: taken.reduce(0) { $0 + $1.amountSen })
        }
    }

    static func amountAndFee(_ payment: ISOMessage) -> Int64 {
        (Int64(payment[4] ?? "") ?? 0) + (payment[28].flatMap { Int64($0.dropFirst()) } ?? 0)
    }

    /// The payment or reversal happened whatever the journal says: a journal that cannot be
    /// written is a warning (reconcile will then disagree), never a failed command.
    func recordOrWarn(_ line: JournalLine) {
        do { try record(line) } catch { print("warning: not written to \(path(Self.journalFile)) (\(error)): `reconcile` will not count it") }
    }

    func record(_ line: JournalLine) throws {
        var data = try JSONEncoder().encode(line)
        data.append(UInt8(ascii: "\n"))
        let file = path(Self.journalFile)
        if !FileManager.default.fileExists(atPath: file) {
            guard FileManager.default.createFile(atPath: file, contents: nil, attributes: [.posixPermissions: 0o600]) else {
                throw CommandFailure("cannot write \(file)")
            }
        }
        guard let handle = FileHandle(forWritingAtPath: file) else { throw CommandFailure("cannot write \(file)") }
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: data)
    }

    func loadJournal() throws -> [JournalLine] {
        let file = path(Self.journalFile)
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: file) else { return [] }
        guard let size = attributes[.size] as? Int, size <= Self.journalBytesMax else {
            throw CommandFailure("\(file) is over \(Self.journalBytesMax / 1_048_576) MiB: move it away (an archive) and reconcile by --date from a new one")
        }
        guard let text = FileManager.default.contents(atPath: file).map({ String(decoding: $0, as: UTF8.self) }) else { return [] }
        return try text.split(separator: "\n").enumerated().map { index, line in
            do { return try JSONDecoder().decode(JournalLine.self, from: Data(line.utf8)) } catch {
                throw CommandFailure("\(file) line \(index + 1) is not a journal line")
            }
        }
    }

    /// Answers that record nothing and ask the terminal to try again.
    static let notRecordedCodes: Set<String> = [ResponseCode.cutoverInProgress.rawValue, ResponseCode.systemUnavailable.rawValue]

    func describe(_ message: ISOMessage) -> String {
        var text = "\(message.mti)"
        if let code = message[39] {
            let meaning = ResponseCode(rawValue: code)?.meaning ?? "unknown code"
            text += "  response \(code) (\(meaning))"
        }
        text += "\n" + message.redactedDescription.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n")
        if let f48 = message[48], let bills = BillData.parse(String(f48.prefix(f48.count - (message.mti == "0210" && message[3] == "180000" ? BillData.billerReferenceWidth : 0)))) {
            text += "\n    bills for \(bills.customerName) (\(Masking.maskCustomerID(bills.customerID))):"
            for bill in bills.bills { text += "\n      \(bill.period)  \(bill.amount)" }
            if bills.bills.isEmpty { text += " none listed (prepaid)" }
        }
        if let fee = message[28], let sen = Int64(fee.dropFirst()) { text += "\n    admin fee \(Sen(sen))" }
        if let amount = message[4], let sen = Int64(amount) { text += "\n    amount \(Sen(sen))" }
        if message.mti == "0210", message[3] == "180000", let f48 = message[48], f48.count >= BillData.billerReferenceWidth {
            text += "\n    biller reference / token: \(f48.suffix(BillData.billerReferenceWidth).trimmingTrailingSpaces())"
        }
        return text
    }

    /// A payment sent but not answered (outcome unknown): `reverse` takes it first.
    static let unansweredPaymentFile = "unanswered-payment.json"
    /// A reversal sent but not answered: `reverse --repeat` sends it again as 0401.
    static let unansweredReversalFile = "unanswered-reversal.json"

    /// This run's connection options, for the next command we suggest.
    var rerun: String {
        "--credentials \(credentials)" + (host.map { " --host \($0)" } ?? "") + (port.map { " --port \($0)" } ?? "")
    }

    func path(_ file: String) -> String { (credentials as NSString).appendingPathComponent(file) }

    /// The request's fields, customer ID included (a reversal repeats them): readable by the owner only.
    func save(_ payment: ISOMessage, as file: String, source: String? = nil) throws {
        var fields = ["mti": payment.mti].merging(payment.fields.map { ("\($0.key)", $0.value) }) { a, _ in a }
        if let source { fields["source"] = source }
        let data = try JSONEncoder().encode(fields)
        guard FileManager.default.createFile(atPath: path(file), contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw CommandFailure("cannot write \(path(file))")
        }
    }

    func move(_ file: String, to target: String) throws {
        try? FileManager.default.removeItem(atPath: path(target))
        try FileManager.default.moveItem(atPath: path(file), toPath: path(target))
    }

    func remove(_ file: String) throws {
        if FileManager.default.fileExists(atPath: path(file)) { try FileManager.default.removeItem(atPath: path(file)) }
    }

    func loadMessage(_ file: String) throws -> (ISOMessage, [String: String])? {
        guard let data = FileManager.default.contents(atPath: path(file)) else { return nil }
        guard let dict = try? JSONDecoder().decode([String: String].self, from: data), let mti = dict["mti"] else {
            throw CommandFailure("\(path(file)) is not a saved message")
        }
        var message = ISOMessage(mti: mti)
        for (k, v) in dict { if let n = Int(k) { message[n] = v } }
        return (message, dict)
    }

    /// The reversal that got no answer, as a 0401 with its key unchanged, and the payment file it reverses.
    func loadUnansweredReversal() throws -> (ISOMessage, String) {
        guard let (reversal, dict) = try loadMessage(Self.unansweredReversalFile) else {
            throw CommandFailure("no unanswered reversal to repeat: `reverse` without --repeat sends a new one")
        }
        var repeated = reversal
        repeated.mti = "0401"
        print("repeating the reversal that got no answer (STAN \(reversal[11] ?? "?"), RRN \(reversal[37] ?? "?"))")
        return (repeated, dict["source"] ?? Self.lastPaymentFile)
    }

    /// The unanswered payment if there is one, else the last approved one not yet reversed.
    func loadPaymentToReverse() throws -> (ISOMessage, String) {
        for file in [Self.unansweredPaymentFile, Self.lastPaymentFile] {
            guard let (message, _) = try loadMessage(file) else { continue }
            print(file == Self.unansweredPaymentFile ? "reversing the payment that got no answer (RRN \(message[37] ?? "?"))"
                                                     : "reversing the last approved payment (RRN \(message[37] ?? "?"))")
            return (message, file)
        }
        throw CommandFailure("no payment to reverse: every approved payment made here has been reversed, or none was made (`pay` first)")
    }
}
