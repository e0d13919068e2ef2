import PostgresNIO

/// `sasando ledger verify`: every invariant checked from the database alone. Each check is a
/// query that returns the offending rows; none may return any.
public struct LedgerVerifier: Sendable {
    public struct Check: Sendable {
        public let name: String
        public let sql: String
    }

    public static let checks: [Check] = [
        Check(name: "every journal balances and has at least two postings", sql: """
            SELECT 'journal ' || j.id || ': ' || count(p.id) || ' postings, debits ' || coalesce(sum(p.amount) FILTER (WHERE p.side = 'D'), 0)
                   || ', credits ' || coalesce(sum(p.amount) FILTER (WHERE p.side = 'C'), 0)
            FROM journals j LEFT JOIN postings p ON p.journal_id = j.id GROUP BY j.id
            HAVING count(p.id) < 2 OR coalesce(sum(p.amount) FILTER (WHERE p.side = 'D'), 0) <> coalesce(sum(p.amount) FILTER (WHERE p.side = 'C'), 0)
            """),
        Check(name: "stored balances equal the sum of postings", sql: """
            SELECT a.code || ': stored ' || a.balance || ', postings ' || coalesce(s.total, 0)
            FROM accounts a LEFT JOIN (SELECT account_id, sum(CASE side WHEN 'C' THEN amount ELSE -amount END) AS total
                                       FROM postings GROUP BY account_id) s ON s.account_id = a.id
            WHERE a.balance <> coalesce(s.total, 0)
            """),
        Check(name: "trial balance sums to zero", sql: """
            SELECT 'sum of balances ' || sum(balance) FROM accounts HAVING sum(balance) <> 0
            """),
        Check(name: "no deposit is negative", sql: """
            SELECT code || ': ' || balance FROM accounts WHERE kind = 'deposit' AND balance < 0
            """),
        Check(name: "every approved payment has its payment journal, and no other transaction posts one", sql: """
            SELECT 'transaction ' || t.id || ' (' || t.kind || ', ' || t.response_code || ') journal ' || coalesce(t.journal_id::text, 'none')
            FROM transactions t LEFT JOIN journals j ON j.id = t.journal_id
            WHERE (t.kind = 'payment' AND t.response_code = '00' AND (j.id IS NULL OR j.kind <> 'payment'))
               OR (t.kind = 'payment' AND t.response_code <> '00' AND t.journal_id IS NOT NULL)
               OR (t.kind = 'inquiry' AND t.journal_id IS NOT NULL)
               OR (t.kind = 'reversal' AND t.journal_id IS NOT NULL AND (j.kind <> 'reversal' OR t.response_code <> '00'))
            """),
        Check(name: "every payment journal belongs to one approved payment", sql: """
            SELECT 'journal ' || j.id FROM journals j LEFT JOIN transactions t ON t.journal_id = j.id
            WHERE j.kind = 'payment' AND (t.id IS NULL OR t.kind <> 'payment' OR t.response_code <> '00')
            """),
        // Balanced journals alone do not say the right money moved: a payment posted twice over on
        // both sides balances. So each approved payment's postings are held against what its
        // terminal was told (the transaction's amount and fee, as in its response), and its biller
        // is the payable of its product (IPL: of the customer's estate, the first 4 digits).
        Check(name: "every approved payment posted exactly what its terminal was told", sql: """
            SELECT 'payment transaction ' || t.id || ' (' || t.terminal_id || ' STAN ' || t.stan || '): told ' || t.amount_sen || ' + fee ' || t.fee_sen
                   || ' sen; its deposit debited ' || coalesce(sum(p.amount) FILTER (WHERE p.side = 'D' AND a.kind = 'deposit' AND a.merchant_id = t.merchant_id), 0)
                   || ', debits in all ' || coalesce(sum(p.amount) FILTER (WHERE p.side = 'D'), 0)
                   || ', its biller credited ' || coalesce(sum(p.amount) FILTER (WHERE p.side = 'C' AND a.kind = 'biller_payable' AND a.code = 'PAY:' || t.product || CASE WHEN t.product = 'IPL' THEN ':' || left(t.customer_id, 4) ELSE '' END), 0)
                   || ', fee and own commission credited ' || coalesce(sum(p.amount) FILTER (WHERE p.side = 'C' AND (a.kind = 'fee_income'
                          OR (a.kind = 'commission' AND a.merchant_id = t.merchant_id))), 0)
            FROM transactions t JOIN postings p ON p.journal_id = t.journal_id JOIN accounts a ON a.id = p.account_id
            WHERE t.kind = 'payment' AND t.journal_id IS NOT NULL
            GROUP BY t.id
            HAVING coalesce(sum(p.amount) FILTER (WHERE p.side = 'D' AND a.kind = 'deposit' AND a.merchant_id = t.merchant_id), 0) <> t.amount_sen + t.fee_sen
                OR coalesce(sum(p.amount) FILTER (WHERE p.side = 'D'), 0) <> t.amount_sen + t.fee_sen
                OR coalesce(sum(p.amount) FILTER (WHERE p.side = 'C' AND a.kind = 'biller_payable' AND a.code = 'PAY:' || t.product || CASE WHEN t.product = 'IPL' THEN ':' || left(t.customer_id, 4) ELSE '' END), 0) <> t.amount_sen
                OR coalesce(sum(p.amount) FILTER (WHERE p.side = 'C' AND (a.kind = 'fee_income'
                       OR (a.kind = 'commission' AND a.merchant_id = t.merchant_id))), 0) <> t.fee_sen
            """),
        Check(name: "every reversal mirrors its original exactly", sql: """
            WITH r AS (SELECT j.id AS rid, j.reverses_journal_id AS oid FROM journals j WHERE j.kind = 'reversal'),
                 rp AS (SELECT r.rid, p.account_id, CASE p.side WHEN 'D' THEN 'C' ELSE 'D' END AS side, p.amount FROM r JOIN postings p ON p.journal_id = r.rid),
                 op AS (SELECT r.rid, p.account_id, p.side, p.amount FROM r JOIN postings p ON p.journal_id = r.oid),
                 diff AS ((SELECT * FROM rp EXCEPT ALL SELECT * FROM op) UNION ALL (SELECT * FROM op EXCEPT ALL SELECT * FROM rp))
            SELECT DISTINCT 'reversal journal ' || rid FROM diff
            UNION ALL
            SELECT 'reversal journal ' || rid || ' names no payment' FROM r LEFT JOIN journals o ON o.id = r.oid WHERE o.id IS NULL OR o.kind <> 'payment'
            """),
        Check(name: "a reversal's transaction names the payment its journal reverses", sql: """
            SELECT 'reversal transaction ' || t.id FROM transactions t JOIN journals j ON j.id = t.journal_id
            JOIN transactions o ON o.id = t.original_id
            WHERE t.kind = 'reversal' AND j.reverses_journal_id IS DISTINCT FROM o.journal_id
            """),
        // A terminal told 25 gives the customer the cash back: the payment must never be taken (one
        // a later reversal gave back is whole again, and not reported).
        Check(name: "no payment stands posted after its reversal was answered 25 (original not found)", sql: """
            SELECT 'payment transaction ' || p.id || ' (terminal ' || p.terminal_id || ', STAN ' || p.stan || ') posted; its reversal, transaction '
                   || r.id || ', was answered 25'
            FROM transactions r JOIN transactions p
              ON p.terminal_id = r.terminal_id AND p.stan = r.original_stan AND p.transmitted_at = r.original_transmitted_at
            WHERE r.kind = 'reversal' AND r.response_code = '25' AND p.kind = 'payment' AND p.journal_id IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM transactions x WHERE x.original_id = p.id AND x.journal_id IS NOT NULL)
            """),
        Check(name: "paid bills belong to approved, unreversed payments", sql: """
            SELECT b.product || ' ' || b.period || ' (transaction ' || b.transaction_id || ')' FROM paid_bills b
            JOIN transactions t ON t.id = b.transaction_id
            WHERE t.kind <> 'payment' OR t.response_code <> '00'
               OR EXISTS (SELECT 1 FROM transactions r WHERE r.original_id = t.id AND r.journal_id IS NOT NULL)
            """),
        Check(name: "every settlement batch equals its settlement and commission journals", sql: """
            SELECT 'settlement ' || b.business_date || ': batch net payable ' || b.net_payable_sen || ', journals ' || coalesce(s.payable, 0)
                   || '; batch commission ' || b.commission_sen || ', journals ' || coalesce(s.commission, 0)
            FROM settlement_batches b LEFT JOIN (
                SELECT j.business_date, sum(p.amount) FILTER (WHERE j.kind = 'settlement') AS payable,
                       sum(p.amount) FILTER (WHERE j.kind = 'commission') AS commission
                FROM journals j JOIN postings p ON p.journal_id = j.id AND p.side = 'D'
                WHERE j.kind IN ('settlement', 'commission') GROUP BY j.business_date) s ON s.business_date = b.business_date
            WHERE b.net_payable_sen <> coalesce(s.payable, 0) OR b.commission_sen <> coalesce(s.commission, 0)
            UNION ALL
            SELECT 'settlement journal ' || j.id || ' of unsettled date ' || j.business_date FROM journals j
            WHERE j.kind IN ('settlement', 'commission') AND NOT EXISTS (SELECT 1 FROM settlement_batches b WHERE b.business_date = j.business_date)
            """),
        Check(name: "no journal was added to a settled date after its settlement", sql: """
            SELECT 'journal ' || j.id || ' (' || j.kind || ') dated ' || j.business_date || ', settled at ' || s.settled_at || ', written at ' || j.created_at
            FROM journals j JOIN settlement_batches s ON s.business_date = j.business_date
            WHERE j.created_at > s.settled_at
            """),
        Check(name: "no payment of a settled date was reversed after its settlement", sql: """
            SELECT 'reversal journal ' || r.id || ' of payment journal ' || o.id || ' (settled ' || o.business_date || ')'
            FROM journals r JOIN journals o ON o.id = r.reverses_journal_id JOIN settlement_batches b ON b.business_date = o.business_date
            WHERE r.kind = 'reversal' AND r.created_at > b.settled_at
            """),
    ]

    public struct Violation: Sendable {
        public let check: String
        public let rows: [String]
    }

    let database: SasandoDatabase
    public init(database: SasandoDatabase) { self.database = database }

    /// Runs every check in one REPEATABLE READ snapshot so concurrent traffic cannot fake a failure.
    public func verify(rowsPerViolationMax: Int = 20) async throws -> (passed: [String], violations: [Violation]) {
        try await database.withReadOnlySnapshot { connection in
            var passed: [String] = []
            var violations: [Violation] = []
            for check in Self.checks {
                var rows: [String] = []
                let result = try await connection.query(PostgresQuery(unsafeSQL: "SELECT * FROM (" + check.sql + ") v LIMIT \(rowsPerViolationMax)"), logger: database.logger)
                for try await row in result.decode(String.self) { rows.append(row) }
                if rows.isEmpty { passed.append(check.name) } else { violations.append(Violation(check: check.name, rows: rows)) }
            }
            return (passed, violations)
        }
    }
}
