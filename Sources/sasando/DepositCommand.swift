import ArgumentParser
import SasandoCore
import SasandoLedger

struct Deposit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Payment point deposits.", subcommands: [TopUp.self])

    struct TopUp: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "topup", abstract: "Top up a payment point's deposit (clearing -> deposit).")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Payment point (merchant) ID, field 42.") var merchant: String
        @Option(parsing: .unconditional, help: "Amount in whole rupiah: 5000000, 5.000.000 or Rp 5.000.000,00 ('.' groups thousands).") var amount: String
        @Option(help: "Staff user recorded in the audit log.") var actor: String = "cli"

        func validate() throws { try validateActor(actor) }

        func run() async throws {
            let sen = Sen(try parseRupiah(amount))
            guard sen.value > 0, sen.value <= Limits.staffTopUpSenMax else {
                throw ValidationError("amount: a top-up is between Rp 1 and \(Sen(Limits.staffTopUpSenMax))")
            }
            let logger = makeLogger("sasando.deposit", level: .warning)
            let merchant = self.merchant, actor = self.actor
            let balance = try await withDatabase(database, logger: logger) { db in
                do {
                    let actor = try await recordedActor(actor, on: db)
                    return try await LedgerAccounts(database: db).topUp(merchantID: merchant, amount: sen, actor: actor).balance
                } catch let refused as LedgerError {
                    throw CommandFailure("nothing was topped up: \(refused.description)")
                }
            }
            print("topped up \(merchant) by \(sen); deposit balance \(balance)")
        }
    }
}
