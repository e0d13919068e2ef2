import ArgumentParser
import Foundation
import NIOCore
import NIOPosix
import SasandoCore
import SasandoISO8583
import SasandoPKI
import SasandoSwitch
import SasandoTransport

/// A small terminal for people: each run opens one mutual-TLS connection with the credentials in
/// DIR, signs on where the action needs it, and prints every request and response readably
/// (customer IDs masked).
struct TerminalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "terminal",
        abstract: "Act as a payment-point terminal: signon | echo | signoff | inquiry | pay | reverse.")

    enum Action: String, ExpressibleByArgument, CaseIterable {
        case signon, echo, signoff, inquiry, pay, reverse
    }

    @Option(help: "Terminal credential folder (cert.pem, key.pem, ca.pem, mac.key, terminal.json).") var credentials: String
    @Argument(help: "signon | echo | signoff | inquiry | pay | reverse") var action: Action
    @Option(help: "Product code for inquiry/pay: PLNPOST, PLNPRE, PDAMKPG, IPL, KINET, BPJSKS.") var product: String?
    @Option(help: "Customer ID (meter number, account number) for inquiry/pay.") var customer: String?
    @Option(help: "PLNPRE denomination in whole rupiah (inquiry/pay).") var amount: String?
    @Option(help: "Switch host (default: terminal.json).") var host: String?
    @Option(help: "Switch port (default: terminal.json).") var port: Int?
    @Flag(help: "Reverse with a 0401 repeat instead of 0400.") var `repeat` = false

    static let lastPaymentFile = "last-payment.json"

    func run() async throws {
        let folder: TerminalCredentialFolder
        do { folder = try TerminalCredentialFolder.load(from: credentials) } catch {
            throw ValidationError("cannot load credentials from \(credentials): \(error)")
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

        switch action {
        case .echo:
            _ = try await exchange(requests.echo(), mac: false)
        case .signon:
            _ = try await exchange(requests.signOn(), mac: false)
        case .signoff:
            let on = try await exchange(requests.signOn(), mac: false)
            guard on[39] == "00" else { throw ExitCode(1) }
            _ = try await exchange(requests.signOff(), mac: false)
        case .inquiry, .pay:
            guard let product, let customer else { throw ValidationError("inquiry and pay need --product and --customer") }
            let on = try await exchange(requests.signOn(), mac: false)
            guard on[39] == "00" else { throw ExitCode(1) }
            let denomination = try amount.map(parseRupiah) ?? 0
            let inquiry = try await exchange(requests.inquiry(product: product, customerID: customer, amount: denomination), mac: true)
            guard action == .pay else { break }
            guard inquiry[39] == "00" else { print("not paying: inquiry declined"); throw ExitCode(1) }
            let payment = requests.payment(from: inquiry)
            let response = try await exchange(payment, mac: true)
            try save(payment)
            if response[39] == "00" {
                print("saved as \(Self.lastPaymentFile); `sasando terminal --credentials \(credentials) reverse` reverses it")
            }
        case .reverse:
            let original = try loadLastPayment()
            let on = try await exchange(requests.signOn(), mac: false)
            guard on[39] == "00" else { throw ExitCode(1) }
            _ = try await exchange(requests.reversal(of: original, repeat: self.repeat), mac: true)
        }
    }

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

    func save(_ payment: ISOMessage) throws {
        let data = try JSONEncoder().encode(["mti": payment.mti].merging(payment.fields.map { ("\($0.key)", $0.value) }) { a, _ in a })
        try data.write(to: URL(fileURLWithPath: (credentials as NSString).appendingPathComponent(Self.lastPaymentFile)))
    }

    func loadLastPayment() throws -> ISOMessage {
        let path = (credentials as NSString).appendingPathComponent(Self.lastPaymentFile)
        guard let data = FileManager.default.contents(atPath: path),
              let dict = try? JSONDecoder().decode([String: String].self, from: data), let mti = dict["mti"] else {
            throw ValidationError("no payment to reverse: run `pay` first (\(path) missing)")
        }
        var message = ISOMessage(mti: mti)
        for (k, v) in dict where k != "mti" { if let n = Int(k) { message[n] = v } }
        return message
    }
}
