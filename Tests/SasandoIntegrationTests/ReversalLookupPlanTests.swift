import Foundation
import Logging
import PostgresNIO
@testable import SasandoLedger
import Testing

/// A reversal's batch asks, for each original, whether a posted reversal of it exists. That look-up
/// must stay an index look-up on a database whose statistics were taken before its first reversals
/// (a fresh one that has since taken thousands): there the planner once saw two partial indexes that
/// both looked empty and read one of them whole per look-up, a cost that grew with every reversal
/// until autovacuum took new statistics (schema.sql, transactions_posted_reversal_by_original).
@Suite struct ReversalLookupPlanTests {
    static let payments = 20_000
    static let reversals = 2_000

    @Test func alreadyReversedIsAnIndexLookUpWithStatisticsFromBeforeTheReversals() async throws {
        try await IsolatedDatabase.using { isolated in
            let logger = { var l = Logger(label: "reversal-lookup-plan-test"); l.logLevel = .critical; return l }()
            let database = try SasandoDatabase(url: isolated.url, connectionsMax: 2, logger: logger)
            let task = Task { try await database.run() }
            defer { task.cancel() }
            try await database.migrate(schemaSQL: IntegrationEnvironment.schemaSQL)
            // Approved payments, each with a balanced journal, and statistics taken now, while no
            // row names an original: to the planner, original_id is always NULL and both partial
            // indexes on reversals are empty.
            try await database.client.withTransaction(logger: logger) { c in
                try await c.query("""
                    INSERT INTO journals (id, kind, business_date)
                    SELECT g, 'payment', current_date FROM generate_series(1, \(Self.payments + Self.reversals)) g
                    """, logger: logger)
                try await c.query("""
                    INSERT INTO postings (journal_id, account_id, side, amount)
                    SELECT g, a.id, s.side, 100 FROM generate_series(1, \(Self.payments + Self.reversals)) g
                      CROSS JOIN (VALUES ('D'), ('C')) s(side)
                      JOIN accounts a ON a.code = CASE s.side WHEN 'D' THEN 'BANK:CLEARING' ELSE 'BANK:FEE' END
                    """, logger: logger)
                try await c.query("""
                    INSERT INTO transactions (terminal_id, stan, transmitted_at, kind, request_digest, merchant_id, rrn,
                                              business_date, response_code, response_body, journal_id, amount_sen)
                    SELECT 'T' || lpad((g % 1000)::text, 7, '0'), lpad((g / 1000)::text, 6, '0'), '1130110000', 'payment',
                           '\\x00'::bytea, 'M00000000000001', lpad(g::text, 12, '0'), current_date, '00', '\\x00'::bytea, g, 100
                      FROM generate_series(1, \(Self.payments)) g
                    """, logger: logger)
            }
            try await database.client.query("VACUUM ANALYZE transactions")
            // Then posted reversals of some of them, not yet seen by any statistics.
            try await database.client.query("""
                INSERT INTO transactions (terminal_id, stan, transmitted_at, kind, request_digest, merchant_id, rrn, business_date,
                                          response_code, response_body, journal_id, original_stan, original_transmitted_at, original_id)
                SELECT 'T' || lpad((g % 1000)::text, 7, '0'), lpad((g / 1000)::text, 6, '0'), '1130120000', 'reversal',
                       '\\x00'::bytea, 'M00000000000001', lpad((\(Self.payments) + g)::text, 12, '0'), current_date, '00', '\\x00'::bytea,
                       \(Self.payments) + g, lpad((g / 1000)::text, 6, '0'), '1130110000', g
                  FROM generate_series(1, \(Self.reversals)) g
                """)

            let query = PostingEngine.reversalOriginalsQuery(terminalIDs: ["T0000001"], stans: ["000001"], transmittedAt: ["1130110000"])
            let rows = try await database.client.query(PostgresQuery(unsafeSQL: "EXPLAIN " + query.sql, binds: query.binds))
            var plan: [String] = []
            for try await line in rows.decode(String.self) { plan.append(line) }
            let text = plan.joined(separator: "\n")
            // The look-up by original: an index condition on original_id, in the index made for it.
            #expect(text.contains("transactions_posted_reversal_by_original"), "\(text)")
            #expect(plan.contains { $0.contains("Index Cond: (original_id = t.id)") }, "\(text)")
            // Not a scan of every reversal with the original as a filter (the plan it replaced).
            #expect(!plan.contains { $0.contains("Filter:") && $0.contains("original_id = t.id") }, "\(text)")
        }
    }
}
