/// The lock between settling a business date and reversing one of its payments: a PostgreSQL
/// advisory lock, so every instance on the database shares it, keyed by (`classID`, the date's days
/// since 2000-01-01, `date - date '2000-01-01'` in SQL).
/// - A settlement takes it exclusively for its date, for its whole transaction.
/// - A posting batch with reversals tries it shared for each original payment's date, before it
///   reads which dates are settled. While a date is being settled, a reversal of one of its payments
///   is answered `91` and not recorded; the terminal's repeat (0401) then gets `12`, once the date
///   is settled. Nothing else waits for a settlement: payments of the open date never take it.
public enum SettlementLock {
    public static let classID: Int32 = 5_305_001
}
