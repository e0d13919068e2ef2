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
    -- 32-byte MAC key (spec §7). In production this lives in an HSM; the simulator keeps it here.
    mac_key       bytea NOT NULL CHECK (length(mac_key) = 32),
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS terminals_merchant ON terminals(merchant_id);

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

DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION sasando_refuse_change();


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
DROP TRIGGER IF EXISTS journals_append_only ON journals;
CREATE TRIGGER journals_append_only BEFORE UPDATE OR DELETE ON journals
    FOR EACH ROW EXECUTE FUNCTION sasando_refuse_change();
DROP TRIGGER IF EXISTS postings_append_only ON postings;
CREATE TRIGGER postings_append_only BEFORE UPDATE OR DELETE ON postings
    FOR EACH ROW EXECUTE FUNCTION sasando_refuse_change();
DROP TRIGGER IF EXISTS journals_no_truncate ON journals;
CREATE TRIGGER journals_no_truncate BEFORE TRUNCATE ON journals
    FOR EACH STATEMENT EXECUTE FUNCTION sasando_refuse_change();
DROP TRIGGER IF EXISTS postings_no_truncate ON postings;
CREATE TRIGGER postings_no_truncate BEFORE TRUNCATE ON postings
    FOR EACH STATEMENT EXECUTE FUNCTION sasando_refuse_change();

-- New postings: only into journals created by this transaction; then apply them to the stored
-- balances (one UPDATE per touched account per statement, so a batch of 1,000 payments touches
-- each hot account once). A deposit overdraft fails the CHECK above and the whole statement.
CREATE OR REPLACE FUNCTION sasando_apply_postings() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_postings n LEFT JOIN journals j ON j.id = n.journal_id
               WHERE j.id IS NULL OR j.created_xid <> pg_current_xact_id()) THEN
        RAISE EXCEPTION 'postings may only be added to an existing journal by the transaction that creates it'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF EXISTS (SELECT 1 FROM new_postings n LEFT JOIN accounts a ON a.id = n.account_id WHERE a.id IS NULL) THEN
        RAISE EXCEPTION 'posting to an account that does not exist' USING ERRCODE = 'foreign_key_violation';
    END IF;
    -- Lock the touched accounts in id order first, so concurrent writers never deadlock.
    PERFORM 1 FROM accounts WHERE id IN (SELECT DISTINCT account_id FROM new_postings) ORDER BY id FOR UPDATE;
    UPDATE accounts a SET balance = a.balance + d.delta
    FROM (SELECT account_id, sum(CASE side WHEN 'C' THEN amount ELSE -amount END) AS delta
          FROM new_postings GROUP BY account_id) d
    WHERE a.id = d.account_id AND d.delta <> 0;
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS postings_apply ON postings;
CREATE TRIGGER postings_apply AFTER INSERT ON postings
    REFERENCING NEW TABLE AS new_postings
    FOR EACH STATEMENT EXECUTE FUNCTION sasando_apply_postings();

-- Balances change only through postings (the trigger above runs at depth >= 2).
CREATE OR REPLACE FUNCTION sasando_guard_balance() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' AND NEW.balance <> 0 THEN
        RAISE EXCEPTION 'a new account starts at zero; move money with a journal'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.balance IS DISTINCT FROM OLD.balance AND pg_trigger_depth() < 2 THEN
        RAISE EXCEPTION 'account balances change only through postings'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'accounts are never deleted' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END $$;
DROP TRIGGER IF EXISTS accounts_guard_balance ON accounts;
CREATE TRIGGER accounts_guard_balance BEFORE INSERT OR UPDATE OR DELETE ON accounts
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
-- A payment is reversed (with postings) at most once.
CREATE UNIQUE INDEX IF NOT EXISTS transactions_one_posted_reversal
    ON transactions(original_id) WHERE kind = 'reversal' AND journal_id IS NOT NULL;

ALTER TABLE postings DROP CONSTRAINT IF EXISTS postings_journal_id_fkey;
ALTER TABLE postings DROP CONSTRAINT IF EXISTS postings_account_id_fkey;
ALTER TABLE transactions DROP CONSTRAINT IF EXISTS transactions_journal_id_fkey;

-- Transactions are the record of what terminals were told: append-only.
DROP TRIGGER IF EXISTS transactions_append_only ON transactions;
CREATE TRIGGER transactions_append_only BEFORE UPDATE OR DELETE ON transactions
    FOR EACH ROW EXECUTE FUNCTION sasando_refuse_change();
DROP TRIGGER IF EXISTS transactions_no_truncate ON transactions;
CREATE TRIGGER transactions_no_truncate BEFORE TRUNCATE ON transactions
    FOR EACH STATEMENT EXECUTE FUNCTION sasando_refuse_change();

CREATE OR REPLACE FUNCTION sasando_check_transaction_references() RETURNS trigger LANGUAGE plpgsql AS $$
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
CREATE OR REPLACE FUNCTION sasando_check_paid_bill_references() RETURNS trigger LANGUAGE plpgsql AS $$
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
DROP TRIGGER IF EXISTS settlement_batches_append_only ON settlement_batches;
CREATE TRIGGER settlement_batches_append_only BEFORE UPDATE OR DELETE ON settlement_batches
    FOR EACH ROW EXECUTE FUNCTION sasando_refuse_change();
DROP TRIGGER IF EXISTS settlement_batches_no_truncate ON settlement_batches;
CREATE TRIGGER settlement_batches_no_truncate BEFORE TRUNCATE ON settlement_batches
    FOR EACH STATEMENT EXECUTE FUNCTION sasando_refuse_change();
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

CREATE TABLE IF NOT EXISTS staff_sessions (
    token_sha256   bytea PRIMARY KEY CHECK (length(token_sha256) = 32),
    username       text NOT NULL REFERENCES staff_users(username) ON DELETE CASCADE,
    csrf_token     text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    remote_address text
);
CREATE INDEX IF NOT EXISTS staff_sessions_expiry ON staff_sessions(expires_at);

CREATE TABLE IF NOT EXISTS staff_login_failures (
    id             bigserial PRIMARY KEY,
    username       text NOT NULL,
    remote_address text NOT NULL,
    occurred_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS staff_login_failures_user ON staff_login_failures(username, occurred_at);
CREATE INDEX IF NOT EXISTS staff_login_failures_address ON staff_login_failures(remote_address, occurred_at);
-- End of staff console section.
