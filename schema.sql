SET client_min_messages = warning;
-- Sasando schema. Applied by `sasando db migrate` (idempotent: every statement may run again).
-- The database is the source of truth for every invariant, whatever a client does:
--   * every journal balances (sum of debits = sum of credits) and has at least two postings;
--   * journals and postings are append-only (UPDATE, DELETE and TRUNCATE are refused);
--   * a deposit account never goes below zero; one currency (IDR); money is bigint sen;
--   * stored account balances always equal the sum of their postings (maintained by trigger);
--   * the idempotency key (terminal, STAN, transmission time) is unique;
--   * a payment is reversed at most once.

CREATE TABLE IF NOT EXISTS schema_info (
    id        int PRIMARY KEY CHECK (id = 1),
    version   int NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
-- Fingerprint of the last script applied: `sasando db migrate` skips an unchanged script.
ALTER TABLE schema_info ADD COLUMN IF NOT EXISTS checksum text;

-- Payment points (merchants, field 42) and their terminals (field 41 = certificate CN).
CREATE TABLE IF NOT EXISTS payment_points (
    merchant_id      text PRIMARY KEY CHECK (length(merchant_id) = 15),
    name             text NOT NULL,
    status           text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'blocked')),
    -- Field 61: the most a payment point may collect (bills + fees) in one business date, in sen.
    daily_limit_sen  bigint NOT NULL DEFAULT 100000000000 CHECK (daily_limit_sen >= 0),
    created_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS terminals (
    terminal_id   text PRIMARY KEY CHECK (length(terminal_id) = 8),
    merchant_id   text NOT NULL REFERENCES payment_points(merchant_id),
    status        text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'blocked')),
    -- MAC key (spec §7): 61 bytes sealed under the switch's key-encryption key (AES-256-GCM, see
    -- MACKeySealer), or 32 in clear for terminals provisioned before sealing. An HSM in production.
    mac_key       bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS terminals_merchant ON terminals(merchant_id);
ALTER TABLE terminals DROP CONSTRAINT IF EXISTS terminals_mac_key_check;
ALTER TABLE terminals ADD CONSTRAINT terminals_mac_key_check CHECK (length(mac_key) IN (32, 61));
-- A terminal belongs to one payment point for life, as a terminal ID belongs to one merchant
-- contract: a device that moves to another shop is provisioned again under a new terminal ID. The
-- posting engine relies on it: a reversal locks its terminal's payment point's deposit, which is its
-- payment's, so a payment and its reversal at two instances are decided one after the other. (Moved
-- between them, the two would lock different deposits and could each miss the other.) The terminal
-- ID is also the associated data of its sealed MAC key.
CREATE OR REPLACE FUNCTION sasando_refuse_terminal_move() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'terminal % stays with payment point %: provision a new terminal ID for another payment point',
        OLD.terminal_id, OLD.merchant_id USING ERRCODE = 'integrity_constraint_violation';
END $$;
DROP TRIGGER IF EXISTS terminals_stay_with_payment_point ON terminals;
CREATE TRIGGER terminals_stay_with_payment_point BEFORE UPDATE ON terminals
    FOR EACH ROW WHEN (NEW.merchant_id IS DISTINCT FROM OLD.merchant_id OR NEW.terminal_id IS DISTINCT FROM OLD.terminal_id)
    EXECUTE FUNCTION sasando_refuse_terminal_move();

-- Security and session audit trail: sign-ons, refusals, MAC failures, terminal/certificate mismatches.
-- Customer IDs are never written here unmasked.
CREATE TABLE IF NOT EXISTS audit_events (
    id            bigserial PRIMARY KEY,
    occurred_at   timestamptz NOT NULL DEFAULT now(),
    actor         text NOT NULL,            -- terminal ID, staff user, or 'switch'
    event         text NOT NULL,            -- e.g. sign_on, sign_on_refused, mac_failure, terminal_mismatch
    detail        text NOT NULL DEFAULT '',
    remote_address text
);
CREATE INDEX IF NOT EXISTS audit_events_time ON audit_events(occurred_at);

CREATE OR REPLACE FUNCTION sasando_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'table % is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END $$;

-- An append-only table: UPDATE, DELETE (<table>_append_only) and TRUNCATE (<table>_no_truncate) refused.
CREATE OR REPLACE FUNCTION sasando_make_append_only(tbl text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('DROP TRIGGER IF EXISTS %I ON %I', tbl || '_append_only', tbl);
    EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON %I FOR EACH ROW EXECUTE FUNCTION sasando_refuse_change()',
                   tbl || '_append_only', tbl);
    EXECUTE format('DROP TRIGGER IF EXISTS %I ON %I', tbl || '_no_truncate', tbl);
    EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION sasando_refuse_change()',
                   tbl || '_no_truncate', tbl);
END $$;

-- The security log: append-only like the ledger (UPDATE, DELETE and TRUNCATE refused).
SELECT sasando_make_append_only('audit_events');


-- ---------------------------------------------------------------------------------------------
-- Ledger. Balance convention: accounts.balance = sum(credits) - sum(debits), in sen, for every
-- account, so the trial balance (sum of all balances) is always zero. Deposits, payables, fee
-- income and commissions are credit-normal (positive); clearing is the bank's cash side (negative).

CREATE TABLE IF NOT EXISTS accounts (
    id           bigserial PRIMARY KEY,
    code         text NOT NULL UNIQUE,       -- DEP:<merchant>, COM:<merchant>, PAY:<biller>, PAY:IPL:<estate>, BANK:FEE, BANK:CLEARING
    kind         text NOT NULL CHECK (kind IN ('deposit', 'commission', 'biller_payable', 'fee_income', 'clearing')),
    merchant_id  text REFERENCES payment_points(merchant_id),
    biller_id    text,
    currency     char(3) NOT NULL DEFAULT 'IDR' CHECK (currency = 'IDR'),
    balance      bigint NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT deposit_never_negative CHECK (kind <> 'deposit' OR balance >= 0)
);

CREATE TABLE IF NOT EXISTS journals (
    id                  bigserial PRIMARY KEY,
    kind                text NOT NULL CHECK (kind IN ('payment', 'reversal', 'topup', 'opening_deposit', 'settlement', 'commission')),
    business_date       date NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    -- A payment is reversed at most once: only one journal may name it.
    reverses_journal_id bigint UNIQUE REFERENCES journals(id),
    description         text NOT NULL DEFAULT '',
    -- Postings may be added only by the transaction that created the journal (see trigger).
    created_xid         xid8 NOT NULL DEFAULT pg_current_xact_id()
);
CREATE INDEX IF NOT EXISTS journals_business_date ON journals(business_date);

CREATE TABLE IF NOT EXISTS postings (
    id          bigserial PRIMARY KEY,
    -- No per-row foreign keys on the hot tables: the statement triggers below check references
    -- set-based (a per-row FK check per posting cost more than the insert itself), and journals,
    -- accounts and transactions are never deleted, so a reference once checked stays valid.
    journal_id  bigint NOT NULL,
    account_id  bigint NOT NULL,
    side        char(1) NOT NULL CHECK (side IN ('D', 'C')),
    amount      bigint NOT NULL CHECK (amount > 0),
    currency    char(3) NOT NULL DEFAULT 'IDR' CHECK (currency = 'IDR')
);
CREATE INDEX IF NOT EXISTS postings_journal ON postings(journal_id);
CREATE INDEX IF NOT EXISTS postings_account ON postings(account_id);

-- Append-only ledger.
SELECT sasando_make_append_only('journals');
SELECT sasando_make_append_only('postings');

-- New postings: only into journals created by this transaction; then apply them to the stored
-- balances (one UPDATE per touched account per statement, so a batch of 1,000 payments touches
-- each hot account once). A deposit overdraft fails the CHECK above and the whole statement.
CREATE OR REPLACE FUNCTION sasando_apply_postings() RETURNS trigger LANGUAGE plpgsql
    SET plan_cache_mode = force_generic_plan SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off AS $$
DECLARE
    ids int8[]; deltas int8[]; updated int;
BEGIN
    IF EXISTS (SELECT 1 FROM new_postings n LEFT JOIN journals j ON j.id = n.journal_id
               WHERE j.id IS NULL OR j.created_xid <> pg_current_xact_id()) THEN
        RAISE EXCEPTION 'postings may only be added to an existing journal by the transaction that creates it'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    -- The touched accounts and their net change as arrays, in lock order: a payment point's own
    -- accounts (deposit, commission) first, then the shared ones (fee income, payables, clearing),
    -- each by id. A write that has to wait for one payment point's account (another session holds
    -- it) then waits before it holds any shared account, so other lanes' and other instances'
    -- batches go on. A missing account sorts last and fails the row count below. (A join of
    -- accounts with the transition table was planned as a hash join over every account, a cost per
    -- batch that grew with the number of payment points; here each id is one index probe.)
    SELECT array_agg(d.account_id ORDER BY a.merchant_id IS NULL, d.account_id),
           array_agg(d.delta ORDER BY a.merchant_id IS NULL, d.account_id) INTO ids, deltas
      FROM (SELECT account_id, sum(CASE side WHEN 'C' THEN amount ELSE -amount END)::int8 AS delta
              FROM new_postings GROUP BY account_id) d
      LEFT JOIN accounts a ON a.id = d.account_id;
    -- One UPDATE, rows taken in that order: the plan is a nested loop over the arrays with an index
    -- probe per id, so concurrent writers lock accounts in one total order and do not deadlock
    -- (were one to happen, PostgreSQL aborts one batch, which the engine retries). Zero net changes
    -- included, so the row count also proves every account exists.
    UPDATE accounts a SET balance = a.balance + x.delta
      FROM unnest(ids, deltas) AS x(id, delta)
     WHERE a.id = x.id;
    GET DIAGNOSTICS updated = ROW_COUNT;
    IF updated <> coalesce(cardinality(ids), 0) THEN
        RAISE EXCEPTION 'posting to an account that does not exist' USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS postings_apply ON postings;
CREATE TRIGGER postings_apply AFTER INSERT ON postings
    REFERENCING NEW TABLE AS new_postings
    FOR EACH STATEMENT EXECUTE FUNCTION sasando_apply_postings();

-- Balances change only through postings: the trigger above updates them at trigger depth 1, so an
-- UPDATE that changes a balance at depth 0 (a statement from a client) is refused. The conditions
-- sit in WHEN clauses, evaluated before the function is called (depth one less than inside it): the
-- postings trigger updates dozens of accounts a batch, and a PL/pgSQL call per row cost more than
-- the row's update.
CREATE OR REPLACE FUNCTION sasando_guard_balance() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        RAISE EXCEPTION 'a new account starts at zero; move money with a journal'
            USING ERRCODE = 'integrity_constraint_violation';
    ELSIF TG_OP = 'UPDATE' THEN
        RAISE EXCEPTION 'account balances change only through postings'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RAISE EXCEPTION 'accounts are never deleted' USING ERRCODE = 'integrity_constraint_violation';
END $$;
DROP TRIGGER IF EXISTS accounts_guard_balance ON accounts;
DROP TRIGGER IF EXISTS accounts_guard_new_balance ON accounts;
CREATE TRIGGER accounts_guard_new_balance BEFORE INSERT ON accounts
    FOR EACH ROW WHEN (NEW.balance <> 0) EXECUTE FUNCTION sasando_guard_balance();
DROP TRIGGER IF EXISTS accounts_guard_balance_change ON accounts;
CREATE TRIGGER accounts_guard_balance_change BEFORE UPDATE ON accounts
    FOR EACH ROW WHEN (NEW.balance IS DISTINCT FROM OLD.balance AND pg_trigger_depth() < 1)
    EXECUTE FUNCTION sasando_guard_balance();
DROP TRIGGER IF EXISTS accounts_no_delete ON accounts;
CREATE TRIGGER accounts_no_delete BEFORE DELETE ON accounts
    FOR EACH ROW EXECUTE FUNCTION sasando_guard_balance();

-- Every journal balances and has at least two postings, checked at COMMIT (deferred), so a
-- journal and its postings can be written by separate statements of one transaction.
CREATE OR REPLACE FUNCTION sasando_check_journal() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    debits bigint; credits bigint; n int;
BEGIN
    SELECT coalesce(sum(amount) FILTER (WHERE side = 'D'), 0),
           coalesce(sum(amount) FILTER (WHERE side = 'C'), 0), count(*)
      INTO debits, credits, n
      FROM postings WHERE journal_id = NEW.id;
    IF n < 2 OR debits <> credits THEN
        RAISE EXCEPTION 'journal % does not balance: % postings, debits % sen, credits % sen', NEW.id, n, debits, credits
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS journals_balanced ON journals;
CREATE CONSTRAINT TRIGGER journals_balanced AFTER INSERT ON journals
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION sasando_check_journal();

-- ---------------------------------------------------------------------------------------------
-- Transactions from terminals: one row per (terminal, STAN, transmission time), declined ones
-- included, so a duplicate gets the original response (stored without its MAC) and is never posted
-- twice. Inquiries are recorded too, so a reused key is always detected (94).
CREATE TABLE IF NOT EXISTS transactions (
    id                bigserial PRIMARY KEY,
    terminal_id       text NOT NULL,
    stan              text NOT NULL CHECK (length(stan) = 6),
    transmitted_at    text NOT NULL CHECK (length(transmitted_at) = 10),  -- field 7, MMDDhhmmss UTC, as sent
    kind              text NOT NULL CHECK (kind IN ('inquiry', 'payment', 'reversal')),
    request_digest    bytea NOT NULL,           -- SHA-256 of the request without MAC (0401 counted as 0400)
    merchant_id       text NOT NULL,
    rrn               text NOT NULL,
    product           text,
    customer_id       text,                     -- stored for settlement files; masked whenever shown
    amount_sen        bigint NOT NULL DEFAULT 0 CHECK (amount_sen >= 0),
    fee_sen           bigint NOT NULL DEFAULT 0 CHECK (fee_sen >= 0),
    business_date     date NOT NULL,
    response_code     text NOT NULL CHECK (length(response_code) = 2),
    response_body     bytea NOT NULL,           -- the encoded response, MAC excluded
    approval_code     text,
    biller_reference  text,
    journal_id        bigint UNIQUE,           -- checked by transactions_references (statement trigger)
    -- For reversals: the original's key (field 90) and the original transaction, if found.
    original_stan     text,
    original_transmitted_at text,
    original_id       bigint REFERENCES transactions(id),
    created_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT transactions_idempotency_key UNIQUE (terminal_id, stan, transmitted_at),
    CONSTRAINT approved_payment_has_journal CHECK (kind <> 'payment' OR response_code <> '00' OR journal_id IS NOT NULL)
);
CREATE INDEX IF NOT EXISTS transactions_business_date ON transactions(business_date, kind);
CREATE INDEX IF NOT EXISTS transactions_rrn ON transactions(rrn);
CREATE INDEX IF NOT EXISTS transactions_merchant ON transactions(merchant_id, business_date);
-- The console's "last minutes" reads (TPS) by time: BRIN, a few pages for the whole table and next
-- to nothing per insert, since rows arrive in time order (a scan of 1.3 M rows took 654 ms; 0.2 ms).
CREATE INDEX IF NOT EXISTS transactions_created_brin ON transactions USING brin (created_at);
-- Only a reversal names an original transaction. Added once (a CHECK re-added by every migration
-- would read the whole table each time).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'transactions_original_only_on_reversals') THEN
        ALTER TABLE transactions ADD CONSTRAINT transactions_original_only_on_reversals
            CHECK (original_id IS NULL OR kind = 'reversal');
    END IF;
END $$;
-- A payment is reversed (with postings) at most once. The predicate names no kind (the CHECK above
-- makes it the same rows), so "has this payment a posted reversal?" (original_id = ... AND
-- journal_id IS NOT NULL) matches this index and no other. It used to say kind = 'reversal', and
-- then transactions_reversal_originals (below) matched those lookups too: on a database whose
-- statistics predate its first reversals, both partial indexes look empty to the planner, which
-- then read the whole of that one per lookup, 0.74 ms each at 6,410 reversals and more with every
-- reversal, until autovacuum took new statistics (reversal-storm ran at a fifth of its speed).
DROP INDEX IF EXISTS transactions_one_posted_reversal;
CREATE UNIQUE INDEX IF NOT EXISTS transactions_posted_reversal_by_original
    ON transactions(original_id) WHERE original_id IS NOT NULL AND journal_id IS NOT NULL;

ALTER TABLE postings DROP CONSTRAINT IF EXISTS postings_journal_id_fkey;
ALTER TABLE postings DROP CONSTRAINT IF EXISTS postings_account_id_fkey;
ALTER TABLE transactions DROP CONSTRAINT IF EXISTS transactions_journal_id_fkey;

-- Transactions are the record of what terminals were told: append-only.
SELECT sasando_make_append_only('transactions');

CREATE OR REPLACE FUNCTION sasando_check_transaction_references() RETURNS trigger LANGUAGE plpgsql
    SET plan_cache_mode = force_generic_plan SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_rows n LEFT JOIN journals j ON j.id = n.journal_id
               WHERE n.journal_id IS NOT NULL AND j.id IS NULL) THEN
        RAISE EXCEPTION 'transaction names a journal that does not exist' USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS transactions_references ON transactions;
CREATE TRIGGER transactions_references AFTER INSERT ON transactions
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sasando_check_transaction_references();

-- Simulated billers' state: which bills are paid, by which payment. Changed in the same database
-- transaction as the payment's journal (and removed by its reversal's).
CREATE TABLE IF NOT EXISTS paid_bills (
    product         text NOT NULL,
    customer_id     text NOT NULL,
    period          text NOT NULL CHECK (length(period) = 6),  -- YYYYMM
    amount_sen      bigint NOT NULL CHECK (amount_sen > 0),
    transaction_id  bigint NOT NULL,           -- checked by paid_bills_references (statement trigger)
    PRIMARY KEY (product, customer_id, period)
);

ALTER TABLE paid_bills DROP CONSTRAINT IF EXISTS paid_bills_transaction_id_fkey;
-- A reversal frees its payment's bills by transaction id (without it: a scan per reversal batch).
CREATE INDEX IF NOT EXISTS paid_bills_transaction ON paid_bills(transaction_id);
CREATE OR REPLACE FUNCTION sasando_check_paid_bill_references() RETURNS trigger LANGUAGE plpgsql
    SET plan_cache_mode = force_generic_plan SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_rows n LEFT JOIN transactions t ON t.id = n.transaction_id WHERE t.id IS NULL) THEN
        RAISE EXCEPTION 'paid bill names a transaction that does not exist' USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS paid_bills_references ON paid_bills;
CREATE TRIGGER paid_bills_references AFTER INSERT ON paid_bills
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sasando_check_paid_bill_references();

-- What each payment point collected per business date (bills + fees of approved payments, minus
-- reversals), for the daily limit (61). Maintained by the posting engine in the payment's transaction.
CREATE TABLE IF NOT EXISTS merchant_daily_totals (
    merchant_id     text NOT NULL REFERENCES payment_points(merchant_id),
    business_date   date NOT NULL,
    collected_sen   bigint NOT NULL DEFAULT 0 CHECK (collected_sen >= 0),
    PRIMARY KEY (merchant_id, business_date)
);

-- One row per settled business date (written by `sasando settle`); a settled date is closed:
-- reversals of its payments get `12`.
CREATE TABLE IF NOT EXISTS settlement_batches (
    id             bigserial PRIMARY KEY,
    business_date  date NOT NULL UNIQUE,
    settled_at     timestamptz NOT NULL DEFAULT now(),
    settled_by     text NOT NULL
);

-- Bank accounts every ledger needs.
INSERT INTO accounts (code, kind) VALUES ('BANK:FEE', 'fee_income'), ('BANK:CLEARING', 'clearing')
    ON CONFLICT (code) DO NOTHING;

INSERT INTO schema_info (id, version) VALUES (1, 1) ON CONFLICT (id) DO NOTHING;

-- =============================================================================================
-- Issue 5: business day, cut-over and settlement. Idempotent like everything above.
-- ---------------------------------------------------------------------------------------------
-- The business date (field 15) is ONE row shared by every switch instance. A posting batch reads it
-- FOR SHARE inside its transaction and declines with 90 unless it is 'open' with the request's
-- date; a cut-over first sets 'cutting_over' (its UPDATE waits for in-flight batches), commits,
-- then rolls the date and sets 'open'. Initialised on first use from the clock rule (WITA date, +1
-- from the cut-over hour).
CREATE TABLE IF NOT EXISTS business_day (
    id             int PRIMARY KEY CHECK (id = 1),
    business_date  date NOT NULL,
    state          text NOT NULL CHECK (state IN ('open', 'cutting_over')),
    changed_at     timestamptz NOT NULL DEFAULT now(),
    changed_by     text NOT NULL
);
DROP TRIGGER IF EXISTS business_day_no_delete ON business_day;
CREATE TRIGGER business_day_no_delete BEFORE DELETE ON business_day
    FOR EACH ROW EXECUTE FUNCTION sasando_refuse_change();

-- Settlement batches: the totals of a settled date, written in the same transaction as its
-- settlement and commission journals; immutable like the journals.
ALTER TABLE settlement_batches ADD COLUMN IF NOT EXISTS payment_count        bigint NOT NULL DEFAULT 0;
ALTER TABLE settlement_batches ADD COLUMN IF NOT EXISTS payment_amount_sen   bigint NOT NULL DEFAULT 0;
ALTER TABLE settlement_batches ADD COLUMN IF NOT EXISTS reversal_count       bigint NOT NULL DEFAULT 0;
ALTER TABLE settlement_batches ADD COLUMN IF NOT EXISTS reversal_amount_sen  bigint NOT NULL DEFAULT 0;
ALTER TABLE settlement_batches ADD COLUMN IF NOT EXISTS net_payable_sen      bigint NOT NULL DEFAULT 0;
ALTER TABLE settlement_batches ADD COLUMN IF NOT EXISTS commission_sen       bigint NOT NULL DEFAULT 0;
ALTER TABLE settlement_batches ADD COLUMN IF NOT EXISTS journal_count        int NOT NULL DEFAULT 0;
SELECT sasando_make_append_only('settlement_batches');
-- A settled date never changes, and the database says so, not only the code that settles: a journal
-- dated on a settled business date is refused, unless it is written by the very transaction that
-- settled it (its settlement and commission journals). Payment batches post to the open date, which
-- cannot be settled; a stray writer (a tool, a script, a benchmark) is what this stops.
ALTER TABLE settlement_batches ADD COLUMN IF NOT EXISTS created_xid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE OR REPLACE FUNCTION sasando_refuse_settled_dates() RETURNS trigger LANGUAGE plpgsql
    SET plan_cache_mode = force_generic_plan SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_journals n JOIN settlement_batches s ON s.business_date = n.business_date
               WHERE s.created_xid <> pg_current_xact_id()) THEN
        RAISE EXCEPTION 'a settled business date never changes: no journal may be added to it'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS journals_not_on_settled_dates ON journals;
CREATE TRIGGER journals_not_on_settled_dates AFTER INSERT ON journals
    REFERENCING NEW TABLE AS new_journals
    FOR EACH STATEMENT EXECUTE FUNCTION sasando_refuse_settled_dates();
-- Reports and reconciliation read a date's payments and the reversals that name them.
CREATE INDEX IF NOT EXISTS journals_reverses ON journals(reverses_journal_id) WHERE reverses_journal_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS transactions_terminal_date ON transactions(terminal_id, business_date) WHERE kind = 'payment';

-- ---------------------------------------------------------------------------------------------
-- Staff console (issue 5, SasandoConsole). Staff accounts (bcrypt hashes only), sessions (only the
-- SHA-256 of the cookie token is stored, so a database read does not yield a usable session) and
-- failed logins for throttling. Shared by every switch instance on this database.
CREATE TABLE IF NOT EXISTS staff_users (
    username       text PRIMARY KEY CHECK (username ~ '^[a-z0-9._-]{3,32}$'),
    password_hash  text NOT NULL CHECK (password_hash LIKE '$2%'),
    role           text NOT NULL CHECK (role IN ('operator', 'supervisor')),
    created_at     timestamptz NOT NULL DEFAULT now()
);

-- A disabled staff user (someone who left) cannot log in; the row and the audit trail stay.
ALTER TABLE staff_users ADD COLUMN IF NOT EXISTS disabled_at timestamptz;

CREATE TABLE IF NOT EXISTS staff_sessions (
    token_sha256   bytea PRIMARY KEY CHECK (length(token_sha256) = 32),
    username       text NOT NULL REFERENCES staff_users(username) ON DELETE CASCADE,
    csrf_token     text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    remote_address text
);
CREATE INDEX IF NOT EXISTS staff_sessions_expiry ON staff_sessions(expires_at);
-- The session's last request: one idle longer than the console's bound has ended (an unattended
-- supervisor's browser), whatever its absolute expiry.
ALTER TABLE staff_sessions ADD COLUMN IF NOT EXISTS last_seen_at timestamptz NOT NULL DEFAULT now();

CREATE TABLE IF NOT EXISTS staff_login_failures (
    id             bigserial PRIMARY KEY,
    username       text NOT NULL,
    remote_address text NOT NULL,
    occurred_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS staff_login_failures_user ON staff_login_failures(username, occurred_at);
CREATE INDEX IF NOT EXISTS staff_login_failures_address ON staff_login_failures(remote_address, occurred_at);
-- Console actions that move money are sent once: the form carries a random key, inserted in the
-- same transaction as the action, so the same form sent again (double click, browser retry, another
-- instance behind the load balancer) finds it and does nothing.
CREATE TABLE IF NOT EXISTS staff_request_keys (
    request_key  text PRIMARY KEY CHECK (length(request_key) BETWEEN 16 AND 64),
    actor        text NOT NULL,
    action       text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
-- End of staff console section.

-- ---------------------------------------------------------------------------------------------
-- Posting engine round trips (issue 4). A batch is BEGIN, one call to sasando_batch_snapshot
-- (read and lock), the decision in the switch (pure), one call to sasando_write_batch, COMMIT: four
-- round trips instead of about twenty statements, with plans cached per connection by PL/pgSQL.
-- Neither function decides anything: every invariant stays with the constraints and triggers above.
--
-- Plans: these two functions and the statement triggers they fire run with
--   SET plan_cache_mode = force_generic_plan SET enable_seqscan = off
--   SET enable_hashjoin = off SET enable_mergejoin = off.
-- Left to itself PL/pgSQL re-planned every statement for every batch (a custom plan per array
-- length): 1.3 ms of PostgreSQL CPU a batch, a third of a small batch's cost. A generic plan is
-- made once per connection, so it must not depend on the tables' size when it is made (a plan made
-- on a fresh, empty database once scanned `transactions` whole for every batch): every statement
-- here looks up a batch's few keys in large tables, and an index nested loop is the right plan at
-- any size. The enable_* settings make that the only plan the planner picks (they apply only inside
-- these functions).

-- The previous release's signature had no wait bound: replaced by this one, whose bound defaults
-- to NULL, so instances of that release keep working against this schema during a rolling upgrade.
DROP FUNCTION IF EXISTS sasando_batch_snapshot(text[], text[], text[], text[], text[], text[], text[], text[], text[], text[], text[], text[], int, int);
-- The release before this one returned no `reversed_*` columns: same arguments, other OUT
-- parameters, which CREATE OR REPLACE cannot change. (Its instances read columns by name, so they
-- keep working against this one during a rolling upgrade.)
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'sasando_batch_snapshot'
               AND NOT ('reversed_terminals' = ANY(coalesce(proargnames, '{}')))) THEN
        DROP FUNCTION sasando_batch_snapshot(text[], text[], text[], text[], text[], text[], text[], text[], text[], text[], text[], text[], int, int, int);
    END IF;
END $$;

-- Reversals by the key of the payment they name: a payment that arrives after its own reversal
-- (which was answered 25, original not found) is declined, not posted. Only reversal rows.
CREATE INDEX IF NOT EXISTS transactions_reversal_originals ON transactions(terminal_id, original_stan, original_transmitted_at)
    WHERE kind = 'reversal';

-- Everything a batch's decision needs, read inside its transaction:
--   the business day (FOR SHARE: a cut-over waits for the batch and the batch for a cut-over);
--   earlier transmissions with the batch's idempotency keys (duplicates);
--   terminal and payment point status and limits;
--   account ids for codes the caller does not know yet (missing payables created first; only
--     absent codes are inserted, so the insert never waits on a row another batch is updating);
--   the payment points' deposit balances, locked FOR UPDATE in id order (no deadlock between writers);
--   what each payment point collected on the dates concerned (read under its deposit lock);
--   the paid bills of the batch's customers;
--   ids for the rows it may write (unused ids are gaps, as with any sequence).
CREATE OR REPLACE FUNCTION sasando_batch_snapshot(
    key_terminals text[], key_stans text[], key_times text[],
    terminal_ids text[],
    new_payable_codes text[], new_payable_billers text[],
    unknown_account_codes text[], deposit_codes text[],
    total_merchant_ids text[], total_business_dates text[],
    bill_products text[], bill_customers text[],
    transaction_ids_wanted int, journal_ids_wanted int, wait_ms int DEFAULT NULL,
    OUT day_date text, OUT day_open bool,
    OUT dup_terminals text[], OUT dup_stans text[], OUT dup_times text[], OUT dup_digests bytea[], OUT dup_bodies bytea[],
    OUT term_ids text[], OUT term_active bool[], OUT term_merchants text[], OUT term_limits int8[],
    OUT account_codes text[], OUT account_ids int8[],
    OUT deposit_ids int8[], OUT deposit_balances int8[],
    OUT total_merchants text[], OUT total_dates text[], OUT total_collected int8[],
    OUT paid_products text[], OUT paid_customers text[], OUT paid_periods text[],
    OUT reversed_terminals text[], OUT reversed_stans text[], OUT reversed_times text[],
    OUT transaction_ids int8[], OUT journal_ids int8[])
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
SET enable_hashjoin = off
SET enable_mergejoin = off AS $$
BEGIN
    -- The batch's bound on waiting, for the rest of its transaction (is_local): lock waits from
    -- here on, and every later statement (the write, COMMIT). Set here, not by a statement of its
    -- own, to save a round trip per batch; this statement's own waits are all lock waits. NULL:
    -- the caller set its timeout itself (the previous release, during a rolling upgrade).
    -- The same bound on the batch sitting idle in its transaction: an instance that stops half-way
    -- (frozen, cut off from the database) would otherwise keep its locks, its payment points' and
    -- after the write the shared fee and payable accounts, until TCP notices, hours later, and
    -- every instance's batches would wait on them. PostgreSQL ends such a session (rolled back:
    -- nothing of it was approved) once it has been idle that long; a live instance is never idle
    -- that long inside a batch, since it abandons a batch at the same bound.
    IF wait_ms IS NOT NULL THEN
        PERFORM set_config('lock_timeout', wait_ms::text, true);
        PERFORM set_config('statement_timeout', wait_ms::text, true);
        PERFORM set_config('idle_in_transaction_session_timeout', wait_ms::text, true);
    END IF;
    SELECT b.business_date::text, b.state = 'open' INTO day_date, day_open FROM business_day b WHERE b.id = 1 FOR SHARE;

    SELECT coalesce(array_agg(t.terminal_id), '{}'), coalesce(array_agg(t.stan), '{}'), coalesce(array_agg(t.transmitted_at), '{}'),
           coalesce(array_agg(t.request_digest), '{}'), coalesce(array_agg(t.response_body), '{}')
      INTO dup_terminals, dup_stans, dup_times, dup_digests, dup_bodies
      FROM transactions t
      JOIN unnest(key_terminals, key_stans, key_times) AS k(tid, stan, tm)
        ON t.terminal_id = k.tid AND t.stan = k.stan AND t.transmitted_at = k.tm;

    -- A join on unnest, not `terminal_id = ANY(...)`: with a parameter array the planner scans every
    -- terminal and compares it with each id in the array (1.6 ms a batch at 1,175 terminals).
    SELECT coalesce(array_agg(t.terminal_id), '{}'), coalesce(array_agg(t.status = 'active' AND p.status = 'active'), '{}'),
           coalesce(array_agg(p.merchant_id), '{}'), coalesce(array_agg(p.daily_limit_sen), '{}')
      INTO term_ids, term_active, term_merchants, term_limits
      FROM unnest(terminal_ids) AS k(id)
      JOIN terminals t ON t.terminal_id = k.id
      JOIN payment_points p ON p.merchant_id = t.merchant_id;

    IF cardinality(new_payable_codes) > 0 THEN
        INSERT INTO accounts (code, kind, biller_id)
        SELECT x.c, 'biller_payable', x.b FROM unnest(new_payable_codes, new_payable_billers) AS x(c, b)
         WHERE NOT EXISTS (SELECT 1 FROM accounts a WHERE a.code = x.c)
        ON CONFLICT (code) DO NOTHING;
    END IF;
    SELECT coalesce(array_agg(a.code), '{}'), coalesce(array_agg(a.id), '{}') INTO account_codes, account_ids
      FROM accounts a WHERE a.code = ANY(unknown_account_codes);

    SELECT coalesce(array_agg(d.id ORDER BY d.id), '{}'), coalesce(array_agg(d.balance ORDER BY d.id), '{}')
      INTO deposit_ids, deposit_balances
      FROM (SELECT a.id, a.balance FROM accounts a WHERE a.code = ANY(deposit_codes) ORDER BY a.id FOR UPDATE) d;

    SELECT coalesce(array_agg(m.merchant_id), '{}'), coalesce(array_agg(m.business_date::text), '{}'), coalesce(array_agg(m.collected_sen), '{}')
      INTO total_merchants, total_dates, total_collected
      FROM merchant_daily_totals m
     WHERE m.merchant_id = ANY(total_merchant_ids) AND m.business_date = ANY(total_business_dates::date[]);

    -- Reversals already recorded for this batch's keys (read after the deposit locks: a reversal
    -- from another instance that committed while this batch waited for them is seen).
    SELECT coalesce(array_agg(t.terminal_id), '{}'), coalesce(array_agg(t.original_stan), '{}'), coalesce(array_agg(t.original_transmitted_at), '{}')
      INTO reversed_terminals, reversed_stans, reversed_times
      FROM transactions t
      JOIN unnest(key_terminals, key_stans, key_times) AS k(tid, stan, tm)
        ON t.kind = 'reversal' AND t.terminal_id = k.tid AND t.original_stan = k.stan AND t.original_transmitted_at = k.tm;

    SELECT coalesce(array_agg(p.product), '{}'), coalesce(array_agg(p.customer_id), '{}'), coalesce(array_agg(p.period), '{}')
      INTO paid_products, paid_customers, paid_periods
      FROM paid_bills p
      JOIN (SELECT DISTINCT * FROM unnest(bill_products, bill_customers)) AS k(pr, cu)
        ON p.product = k.pr AND p.customer_id = k.cu;

    SELECT coalesce(array_agg(nextval('transactions_id_seq')), '{}') INTO transaction_ids FROM generate_series(1, transaction_ids_wanted);
    SELECT coalesce(array_agg(nextval('journals_id_seq')), '{}') INTO journal_ids FROM generate_series(1, journal_ids_wanted);
END $$;

-- A decided batch's rows, set-based, in one call. Postings come last: their trigger locks the
-- shared accounts (fee income, payables), so another batch waits on them only for this statement
-- and the COMMIT that follows, not for the rest of the batch's writes.
CREATE OR REPLACE FUNCTION sasando_write_batch(
    j_ids int8[], j_kinds text[], j_dates text[], j_reverses int8[],
    p_journals int8[], p_accounts int8[], p_sides text[], p_amounts int8[],
    t_ids int8[], t_terminals text[], t_stans text[], t_times text[], t_kinds text[], t_digests bytea[],
    t_merchants text[], t_rrns text[], t_products text[], t_customers text[], t_amounts int8[], t_fees int8[],
    t_dates text[], t_codes text[], t_bodies bytea[], t_approvals text[], t_biller_refs text[], t_journals int8[],
    t_original_stans text[], t_original_times text[], t_original_ids int8[],
    b_products text[], b_customers text[], b_periods text[], b_amounts int8[], b_transactions int8[],
    unpaid_transactions int8[],
    d_merchants text[], d_dates text[], d_deltas int8[])
RETURNS void LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
SET enable_hashjoin = off
SET enable_mergejoin = off AS $$
BEGIN
    IF cardinality(j_ids) > 0 THEN
        INSERT INTO journals (id, kind, business_date, reverses_journal_id)
        SELECT x.id, x.kind, x.d::date, NULLIF(x.rev, 0) FROM unnest(j_ids, j_kinds, j_dates, j_reverses) AS x(id, kind, d, rev);
    END IF;
    IF cardinality(t_ids) > 0 THEN
        INSERT INTO transactions (id, terminal_id, stan, transmitted_at, kind, request_digest, merchant_id, rrn, product, customer_id,
            amount_sen, fee_sen, business_date, response_code, response_body, approval_code, biller_reference, journal_id,
            original_stan, original_transmitted_at, original_id)
        SELECT x.id, x.tid, x.stan, x.tm, x.kind, x.dg, x.m, x.rrn, NULLIF(x.pr, ''), NULLIF(x.cu, ''), x.amt, x.fee, x.d::date, x.code,
            x.body, NULLIF(x.ap, ''), NULLIF(x.br, ''), NULLIF(x.j, 0), NULLIF(x.os, ''), NULLIF(x.ot, ''), NULLIF(x.oid, 0)
          FROM unnest(t_ids, t_terminals, t_stans, t_times, t_kinds, t_digests, t_merchants, t_rrns, t_products, t_customers,
                      t_amounts, t_fees, t_dates, t_codes, t_bodies, t_approvals, t_biller_refs, t_journals,
                      t_original_stans, t_original_times, t_original_ids)
            AS x(id, tid, stan, tm, kind, dg, m, rrn, pr, cu, amt, fee, d, code, body, ap, br, j, os, ot, oid);
    END IF;
    IF cardinality(b_products) > 0 THEN
        INSERT INTO paid_bills (product, customer_id, period, amount_sen, transaction_id)
        SELECT * FROM unnest(b_products, b_customers, b_periods, b_amounts, b_transactions);
    END IF;
    IF cardinality(unpaid_transactions) > 0 THEN
        DELETE FROM paid_bills WHERE transaction_id = ANY(unpaid_transactions);
    END IF;
    IF cardinality(d_merchants) > 0 THEN
        -- Two steps: a reversal's negative delta must never be a row's first value.
        INSERT INTO merchant_daily_totals (merchant_id, business_date)
        SELECT x.m, x.d::date FROM unnest(d_merchants, d_dates) AS x(m, d)
        ON CONFLICT (merchant_id, business_date) DO NOTHING;
        UPDATE merchant_daily_totals t SET collected_sen = t.collected_sen + x.v
          FROM unnest(d_merchants, d_dates, d_deltas) AS x(m, d, v)
         WHERE t.merchant_id = x.m AND t.business_date = x.d::date;
    END IF;
    IF cardinality(p_journals) > 0 THEN
        INSERT INTO postings (journal_id, account_id, side, amount)
        SELECT * FROM unnest(p_journals, p_accounts, p_sides, p_amounts);
    END IF;
END $$;

-- ---------------------------------------------------------------------------------------------
-- The application's own role. `sasando serve` and the staff CLI connect as sasando_app; only
-- `sasando db migrate` connects as the owner (the role that runs this script). sasando_app owns
-- nothing and is not a superuser, so even with its password (a compromised switch host, an
-- injected statement) nobody can disable a trigger, drop or truncate a table, set
-- session_replication_role, or run COPY ... PROGRAM; and it has no UPDATE or DELETE on the
-- append-only ledger and logs (journals, postings, transactions, audit_events,
-- settlement_batches), so they are append-only by privilege as well as by trigger. Its login and
-- password are set outside this script (scripts/pg, or the bank's DBA): a role is the cluster's,
-- not one database's. Re-applied in full on every migration (REVOKE first), so a grant removed
-- here is removed from the database too.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sasando_app') THEN
        CREATE ROLE sasando_app NOLOGIN;
    END IF;
END $$;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM sasando_app;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM sasando_app;
GRANT USAGE ON SCHEMA public TO sasando_app;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO sasando_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO sasando_app;
-- Append-only: rows are added, never changed or removed.
GRANT INSERT ON journals, postings, transactions, audit_events, settlement_batches, staff_request_keys TO sasando_app;
-- Accounts: opened by provisioning; a balance changes only through the postings trigger, which
-- runs as the inserting role (the guard trigger refuses a client's own balance UPDATE). UPDATE of
-- balance also lets a batch lock deposits FOR UPDATE.
GRANT INSERT, UPDATE (balance) ON accounts TO sasando_app;
-- Reference and state the switch and staff change (each change audited by the code that makes it).
GRANT INSERT, UPDATE ON payment_points, terminals, business_day, merchant_daily_totals, staff_users TO sasando_app;
-- Rows that come and go: bills paid (a reversal frees them), staff sessions and failed logins.
GRANT INSERT, DELETE ON paid_bills, staff_login_failures TO sasando_app;
GRANT INSERT, UPDATE, DELETE ON staff_sessions TO sasando_app;
