import Foundation
import SasandoCore

/// The settlement report as text, CSV and JSON (`sasando report settlement --format`, console downloads).
extension SettlementReport {
    public enum Format: String, Sendable, CaseIterable { case text, csv, json }

    public func rendered(_ format: Format) throws -> String {
        switch format {
        case .text: renderText()
        case .csv: renderCSV()
        case .json: try renderJSON()
        }
    }

    public func renderJSON() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self) + "\n"
    }

    /// One table: `section` tells biller, payment_point, trial_balance and total rows apart. Amounts in sen.
    public static let csvHeader = "section,id,name,payments,payment_amount_sen,reversals,reversal_amount_sen,net_sen,commission_sen,balance_sen"

    public func renderCSV() -> String {
        // Names and ids are text (quoted, formulas guarded: the file is opened in a spreadsheet).
        func q(_ s: String) -> String { CSV.field(s) }
        var out = Self.csvHeader + "\n"
        for b in billers {
            out += "biller,\(q(b.billerID)),\(q(b.payableAccount)),\(b.payments),\(b.paymentAmount),\(b.reversals),\(b.reversalAmount),\(b.netPayable),,\n"
        }
        for p in paymentPoints {
            out += "payment_point,\(q(p.merchantID)),\(q(p.name)),\(p.payments),\(p.debits),\(p.reversals),\(p.reversalDebits),\(p.netDebits),\(p.commission),\(p.depositBalance)\n"
        }
        for t in trialBalance {
            out += "trial_balance,\(q(t.account)),\(q(t.kind)),,,,,,,\(t.balance)\n"
        }
        let t = totals
        out += "total_billers,\(businessDate),,\(t.payments),\(t.paymentAmount),\(t.reversals),\(t.reversalAmount),\(t.netPayable),,\n"
        out += "total_payment_points,\(businessDate),,\(t.payments),\(t.debits),\(t.reversals),\(t.reversalDebits),\(t.debits - t.reversalDebits),\(t.commission),\n"
        out += "total_fee_income,\(businessDate),BANK:FEE,,,,,\(t.feeIncome),,\n"
        out += "total_trial_balance,\(businessDate),,,,,,,,\(trialBalanceTotal)\n"
        return out
    }

    public func renderText() -> String {
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
        func lpad(_ s: String, _ n: Int) -> String { s.count >= n ? s : String(repeating: " ", count: n - s.count) + s }
        var out = "Settlement report, business date \(businessDate)\n"
        if let settledAt {
            out += "Settled \(settledAt) by \(settledBy ?? "?") (batch \(settlementBatchID.map(String.init) ?? "?"))\n"
        } else {
            out += isFutureDate ? "Not reached yet: after the current business date\n"
                : isOpenDate ? "Not settled: the current business date is still open\n" : "Not settled yet\n"
        }
        out += "\nBillers\n"
        out += pad("biller", 14) + pad("payable", 18) + lpad("payments", 9) + lpad("amount", 22) + lpad("reversals", 10)
            + lpad("reversed", 22) + lpad("net payable", 22) + "\n"
        for b in billers {
            out += pad(b.billerID, 14) + pad(b.payableAccount, 18) + lpad("\(b.payments)", 9) + lpad("\(Sen(b.paymentAmount))", 22)
                + lpad("\(b.reversals)", 10) + lpad("\(Sen(b.reversalAmount))", 22) + lpad("\(Sen(b.netPayable))", 22) + "\n"
        }
        let t = totals
        out += pad("total", 32) + lpad("\(t.payments)", 9) + lpad("\(Sen(t.paymentAmount))", 22) + lpad("\(t.reversals)", 10)
            + lpad("\(Sen(t.reversalAmount))", 22) + lpad("\(Sen(t.netPayable))", 22) + "\n"
        out += "\nPayment points\n"
        out += pad("payment point", 17) + pad("name", 22) + lpad("payments", 9) + lpad("debits", 20) + lpad("reversals", 10)
            + lpad("reversed", 20) + lpad("commission", 16) + lpad("deposit at close", 22) + "\n"
        for p in paymentPoints {
            out += pad(p.merchantID, 17) + pad(String(p.name.prefix(21)), 22) + lpad("\(p.payments)", 9) + lpad("\(Sen(p.debits))", 20)
                + lpad("\(p.reversals)", 10) + lpad("\(Sen(p.reversalDebits))", 20) + lpad("\(Sen(p.commission))", 16)
                + lpad("\(Sen(p.depositBalance))", 22) + "\n"
        }
        out += pad("total", 39) + lpad("\(t.payments)", 9) + lpad("\(Sen(t.debits))", 20) + lpad("\(t.reversals)", 10)
            + lpad("\(Sen(t.reversalDebits))", 20) + lpad("\(Sen(t.commission))", 16) + "\n"
        out += "Bank fee income (net): \(Sen(t.feeIncome))\n"
        out += "\nTrial balance at the close of \(businessDate) (credits - debits)\n"
        for line in trialBalance {
            out += pad(line.account, 24) + pad(line.kind, 16) + lpad("\(Sen(line.balance))", 26) + "\n"
        }
        out += pad("total", 40) + lpad("\(Sen(trialBalanceTotal))", 26) + "\n"
        if let note = reversedLaterNote { out += note + "\n" }
        return out
    }

    /// Why payables are not zero at the close of a settled date, when they are not.
    public var reversedLaterNote: String? {
        guard reversedLaterSen > 0 else { return nil }
        return "Payables at this close include \(Sen(reversedLaterSen)) of reversals of this date's payments posted on later dates: "
            + "the settlement took them out of this date's net payable; their journals, dated later, clear the payables then."
    }
}
