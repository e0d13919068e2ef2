# Helpers shared by loadtest/run and loadtest/bench (sourced after scripts/lib/setup.sh).
LOAD_TERMINALS="$ROOT/.data/load-terminals"
LOAD_TERMINAL_COUNT="${SASANDO_LOAD_TERMINALS:-1000}"
LOAD_PORT="${SASANDO_LOAD_PORT:-18583}"
SWITCH_PID=""

# prepare_load_test CONFIG: what every load run needs, set up as scripts/run does; sets LOAD_BIN.
prepare_load_test() {
    local config="$1"
    ensure_system_packages
    ensure_database
    # One build of every product (building them one by one recompiles shared modules).
    build_sasando "$config" all
    LOAD_BIN="$(swift build -c "$config" --show-bin-path)/sasando-load"
    # The schema as the owner (the switch and the tools connect as sasando_app, which may not
    # change it) and the demo PKI the load terminals are issued from: both idempotent, so a fresh
    # clone needs no ./scripts/run first and a changed schema.sql is applied before the run.
    provision_demo
    provision_load_terminals
}

provision_load_terminals() {
    local have=0
    [ -d "$LOAD_TERMINALS" ] && have=$(find "$LOAD_TERMINALS" -mindepth 1 -maxdepth 1 -type d | wc -l)
    if [ "$have" -lt "$LOAD_TERMINAL_COUNT" ]; then
        say "provisioning $LOAD_TERMINAL_COUNT load-test terminals in up to 100 payment points (.data/load-terminals)"
        "$SASANDO_BIN" provision terminals --count "$LOAD_TERMINAL_COUNT" --payment-points "$(( LOAD_TERMINAL_COUNT < 100 ? (LOAD_TERMINAL_COUNT + 1) / 2 : 100 ))" --out "$LOAD_TERMINALS" \
            --pki "$ROOT/.data/pki" --port "$LOAD_PORT" --terminal-prefix L --merchant-prefix NTTLD --opening-deposit 100000000000
    fi
    # Load tests pay a lot: keep every load payment point funded and its daily limit out of the way.
    psql_url "$SASANDO_DATABASE_URL" -q -c "UPDATE payment_points SET daily_limit_sen = 9000000000000000 WHERE merchant_id LIKE 'NTTLD%'" >/dev/null
}

# start_switch [extra serve args]: a switch on $LOAD_PORT in the background, waits until it listens.
start_switch() {
    local log="$ROOT/loadtest/results/switch.log"
    mkdir -p "$ROOT/loadtest/results"
    # A switch left running would answer in this one's place (and be measured): refuse to start.
    if (exec 3<>/dev/tcp/127.0.0.1/"$LOAD_PORT") 2>/dev/null; then
        echo "port $LOAD_PORT is already in use (a switch left running?); stop it first" >&2; exit 1
    fi
    SASANDO_LOG_LEVEL="${SASANDO_LOG_LEVEL:-warning}" "$SASANDO_BIN" serve --data "$ROOT/.data" --port "$LOAD_PORT" --host 127.0.0.1 --console-port "${SASANDO_LOAD_CONSOLE_PORT:-0}" $1 >"$log" 2>&1 &
    SWITCH_PID=$!
    for _ in $(seq 1 300); do
        if (exec 3<>/dev/tcp/127.0.0.1/"$LOAD_PORT") 2>/dev/null; then return 0; fi
        kill -0 "$SWITCH_PID" 2>/dev/null || { cat "$log" >&2; echo "switch died" >&2; exit 1; }
        sleep 0.1
    done
    echo "switch did not listen on $LOAD_PORT" >&2; exit 1
}

report_switch_memory() {
    [ -n "$SWITCH_PID" ] && [ -r "/proc/$SWITCH_PID/status" ] || return 0
    SWITCH_PEAK_RSS_MIB=$(awk '/VmHWM/ {printf "%d", $2/1024}' "/proc/$SWITCH_PID/status")
    echo "switch peak memory (VmHWM): ${SWITCH_PEAK_RSS_MIB} MiB"
}

# SIGTERM, then up to 30 s for the graceful shutdown (its drain is bounded by 10 s); a switch still
# running after that is reported and killed, so a run never hangs on it.
stop_switch() {
    [ -n "$SWITCH_PID" ] || return 0
    kill -TERM "$SWITCH_PID" 2>/dev/null || true
    local waited=0
    while kill -0 "$SWITCH_PID" 2>/dev/null && [ "$waited" -lt 60 ]; do sleep 0.5; waited=$((waited + 1)); done
    if kill -0 "$SWITCH_PID" 2>/dev/null; then
        echo "WARNING: the switch (pid $SWITCH_PID) did not exit within 30 s of SIGTERM; killed (see loadtest/results/switch.log)" >&2
        kill -KILL "$SWITCH_PID" 2>/dev/null || true
    fi
    wait "$SWITCH_PID" 2>/dev/null || true
    SWITCH_PID=""
}
