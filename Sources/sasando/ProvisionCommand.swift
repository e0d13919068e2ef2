import ArgumentParser
import Foundation
import SasandoCore
import SasandoLedger
import SasandoSwitch

struct Provision: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create the terminal CA, server certificate, payment points and terminals.",
        subcommands: [CA.self, Terminals.self, Demo.self])

    struct CA: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create the terminal CA and the switch certificate if missing.")
        @Option(help: "PKI folder.") var out: String = ".data/pki"
        func run() async throws {
            let (_, created) = try Provisioning(pkiDirectory: out).ensureCertificateAuthority()
            print(created ? "created CA and server certificate in \(out)" : "CA already in \(out); kept")
        }
    }

    struct Terminals: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Provision terminals (one credential folder each) in payment points.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Number of terminals.") var count: Int
        @Option(name: .customLong("payment-points"), help: "Number of payment points; terminals are spread round-robin.") var paymentPoints: Int
        @Option(help: "Folder for the terminal credential folders.") var out: String
        @Option(help: "PKI folder (CA created if missing).") var pki: String = ".data/pki"
        @Option(help: "Switch host written into terminal.json.") var host: String = "127.0.0.1"
        @Option(help: "Switch port written into terminal.json.") var port: Int = 8583
        @Option(name: .customLong("terminal-prefix"), help: "Terminal ID prefix (IDs are 8 characters).") var terminalPrefix: String = "KPG"
        @Option(name: .customLong("merchant-prefix"), help: "Payment point ID prefix (IDs are 15 characters).") var merchantPrefix: String = "NTTPP"
        @Option(name: .customLong("opening-deposit"), parsing: .unconditional, help: "Opening deposit of each new payment point, in whole rupiah.") var openingDeposit: String = "50000000"

        func run() async throws {
            var plan = Provisioning.TerminalPlan(count: count, paymentPoints: paymentPoints, outputDirectory: out)
            plan.host = host
            plan.port = port
            plan.terminalPrefix = terminalPrefix
            plan.merchantPrefix = merchantPrefix
            plan.openingDeposit = Sen(try parseRupiah(openingDeposit))
            try await provision(plan: plan, pki: pki, database: database)
        }
    }

    struct Demo: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The demo set: CA, server certificate, 20 terminals in 5 payment points (idempotent).")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Project data folder.") var data: String = ".data"

        func run() async throws {
            let plan = Provisioning.TerminalPlan(count: 20, paymentPoints: 5, outputDirectory: (data as NSString).appendingPathComponent("terminals"))
            try await provision(plan: plan, pki: (data as NSString).appendingPathComponent("pki"), database: database)
        }
    }
}

func provision(plan: Provisioning.TerminalPlan, pki: String, database: DatabaseOptions) async throws {
    let logger = makeLogger("sasando.provision", level: .warning)
    let written = try await withDatabase(database, logger: logger) { db in
        try await Provisioning(pkiDirectory: pki).provisionTerminals(
            plan, directory: TerminalDirectory(database: db), ledger: LedgerAccounts(database: db))
    }
    let kept = plan.count - written.written.count
    print("terminals: \(written.written.count) created, \(kept) already present, in \(plan.outputDirectory) (\(plan.paymentPoints) payment points)")
    if !written.existingPaymentPoints.isEmpty {
        print("payment points that existed already (terminals added, no opening deposit): \(written.existingPaymentPoints.joined(separator: ", "))")
    }
}
