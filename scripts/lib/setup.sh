# Shared set-up for scripts/run and scripts/test. Idempotent: a second run reuses what exists.
# Sourced, not executed. Sets: ROOT, SASANDO_DATABASE_URL (the application role, sasando_app, as
# `sasando serve` and the staff CLI connect), SASANDO_ADMIN_DATABASE_URL (the owner: migrations, and
# the test suite, which makes databases of its own), SASANDO_BIN.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# psql_url URL [psql arguments...]: psql on URL without putting the URL, and the password in it,
# on a command line (every local user can read those).
psql_url() {
    local url="$1"; shift
    [[ "$url" =~ ^postgres(ql)?://([^:@/]+)(:([^@]*))?@([^:/]+)(:([0-9]+))?/([^?]*) ]] || { echo "psql_url: unparseable database URL" >&2; return 2; }
    PGUSER="${BASH_REMATCH[2]}" PGPASSWORD="${BASH_REMATCH[4]}" PGHOST="${BASH_REMATCH[5]}" PGPORT="${BASH_REMATCH[7]:-5432}" \
        PGDATABASE="${BASH_REMATCH[8]}" psql "$@"
}

ensure_system_packages() {
    local need=() p
    for p in postgresql libssl-dev libpq-dev openssl python3; do
        dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
    done
    [ ${#need[@]} -eq 0 ] && return 0
    say "installing ${need[*]}"
    local sudo=""
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null || { echo "need root or sudo to install: ${need[*]}" >&2; exit 1; }
        sudo="sudo"
    fi
    $sudo apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
}

ensure_database() {
    say "starting the project's PostgreSQL (.data/pg)"
    SASANDO_ADMIN_DATABASE_URL="$("$ROOT/scripts/pg" start | tail -n 1)"
    SASANDO_DATABASE_URL="$("$ROOT/scripts/pg" app-url)"
    export SASANDO_ADMIN_DATABASE_URL SASANDO_DATABASE_URL
}

# build_sasando CONFIG [all]: builds the CLI/switch (with `all`, every product); sets SASANDO_BIN.
build_sasando() {
    local config="$1"
    say "building sasando ($config)"
    if [ "${2:-}" = all ]; then swift build -c "$config"; else swift build -c "$config" --product sasando; fi
    SASANDO_BIN="$(swift build -c "$config" --show-bin-path)/sasando"
    export SASANDO_BIN
}

provision_demo() {
    say "applying schema.sql (as the owner)"
    SASANDO_DATABASE_URL="$SASANDO_ADMIN_DATABASE_URL" "$SASANDO_BIN" db migrate --schema "$ROOT/schema.sql"
    say "provisioning the demo set (.data/pki, .data/terminals)"
    "$SASANDO_BIN" provision demo --data "$ROOT/.data"
}
