import ArgumentParser
import SasandoCore

@main
struct Sasando: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sasando",
        abstract: "Sasando: Bank NTT payment-point switch (ISO 8583 over mutual TLS).",
        version: SasandoVersion.release,
        subcommands: [Serve.self, DB.self, Provision.self, TerminalCommand.self, Terminals.self, PaymentPoints.self, Deposit.self, Ledger.self, Bench.self, Staff.self,
                      Cutover.self, Settle.self, Report.self, Biller.self])
}
