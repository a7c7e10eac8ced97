#!/bin/sh
# demo.sh -- `make demo`: weir learning from a simulated building, end to
# end, in about a minute.
#
#   BUILD=build/default sh deploy/demo.sh
#
# What it does:
#   1. starts a private Mosquitto on a free 127.0.0.1 port (tests/broker.sh),
#      or uses BROKER=tcp://host:port if set;
#   2. starts weir with examples/building.ini and a fresh state directory
#      (broker URI, state directory and metrics port pointed at this run);
#   3. runs weir-sim's building scenario for DEMO_SECONDS of wall time,
#      with faults (duplicates, reordering, corrupt payloads, NaNs, spikes,
#      a device restart, a stuck sensor) and a concept drift at mid-run,
#      drawing a live progress line from weir's /metrics endpoint;
#   4. lets weir drain, stops it with SIGTERM (its checkpointing shutdown),
#      and prints a summary: readings sent, accepted, deduplicated and
#      rejected by reason (checked against the simulator's ledger), rows
#      learned, windows and the data time they cover, the champion per
#      window, validation and test metrics against the baselines, drift,
#      snapshot versions, `weir inspect` of the last snapshot, and a PNG
#      learning curve (gnuplot).
#
# Everything it starts runs in its own process group and is stopped on
# exit, Ctrl-C or SIGTERM (weir first gets SIGTERM and time to checkpoint).
# Files of the run stay in $DEMO_DIR (default $BUILD/demo; emptied at the
# start of the next run): weir.ini, state/, weir.log, sim.log, ledger.csv,
# metrics.prom, windows.jsonl, topics.log, summary.txt, inspect-TASK.json,
# learning-TASK.png.
#
# Settings: BUILD, BROKER, DEMO_SECONDS (60), DEMO_RATE (readings per
# second, 2000), DEMO_DEVICES (rooms, 10), DEMO_SEED (1), DEMO_DIR.
# Exit status: 0 the demo ran and weir accounted for every reading; 1 a
# part failed or is missing (the message says which); 130/143 interrupted.
set -u

cd "$(dirname "$0")/.." || exit 1
: "${BUILD:=build/default}"
: "${BROKER:=}"
: "${DEMO_SECONDS:=60}"
: "${DEMO_RATE:=2000}"
: "${DEMO_DEVICES:=10}"
: "${DEMO_SEED:=1}"
: "${DEMO_DIR:=$BUILD/demo}"
WEIR=$BUILD/weir
SIM=$BUILD/weir-sim
EXAMPLE=examples/building.ini

say() { printf '%s\n' "$*"; }
die() {
    printf 'demo: %s\n' "$*" >&2
    exit 1
}

# ---- what the demo needs --------------------------------------------------
[ -x "$SIM" ] || die "weir-sim is not built ($SIM); run 'make' first."
[ -x "$WEIR" ] || die "weir is not built ($WEIR): the daemon" \
    "(ingest/main.c) is not in this tree yet, or 'make' was not run."
[ -r "$EXAMPLE" ] || die "$EXAMPLE is missing: the building example" \
    "configuration is not in this tree yet."
for t in mosquitto_sub setsid setpriv awk; do
    command -v "$t" >/dev/null 2>&1 || die "'$t' is not installed" \
        "(run 'make deps' as root)."
done
if [ -z "$BROKER" ] && [ ! -x /usr/sbin/mosquitto ] &&
    ! command -v mosquitto >/dev/null 2>&1; then
    die "mosquitto is not installed (run 'make deps' as root), or set" \
        "BROKER=tcp://host:port."
fi
case $DEMO_SECONDS$DEMO_RATE$DEMO_DEVICES$DEMO_SEED in
*[!0-9]*) die "DEMO_SECONDS, DEMO_RATE, DEMO_DEVICES, DEMO_SEED: integers" ;;
esac

# Empty the folder of the last run, and only that: a marker file says the
# folder is ours (DEMO_DIR could be mistyped as something precious).
if [ -d "$DEMO_DIR" ] && [ -n "$(ls -A "$DEMO_DIR")" ]; then
    [ -f "$DEMO_DIR/.weir-demo" ] || die "$DEMO_DIR exists and is not a" \
        "demo folder (no .weir-demo in it): choose another DEMO_DIR"
    rm -rf "$DEMO_DIR"
fi
mkdir -p "$DEMO_DIR/state" || die "cannot create $DEMO_DIR"
: >"$DEMO_DIR/.weir-demo"
run=$(cd "$DEMO_DIR" && pwd)

# ---- processes ------------------------------------------------------------
# Each child is a session (and process-group) leader, so that one signal to
# the group reaches whatever it starts, and dies with SIGTERM if this shell
# is killed outright (--pdeathsig).
pid_sim=
pid_weir=
pid_sub1=
pid_sub2=
started_broker=false

spawn() { # log command...: run in the background; sets $spawned
    _log=$1
    shift
    setsid setpriv --pdeathsig TERM "$@" >"$_log" 2>&1 </dev/null &
    spawned=$!
}

alive() { # pid: running and not a zombie
    [ -n "$1" ] || return 1
    _st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
    [ -n "$_st" ] && [ "$_st" != Z ]
}

stop_group() { # pid seconds: SIGTERM the group, SIGKILL after seconds;
    # the exit status in $stop_rc
    stop_rc=0
    [ -n "$1" ] || return 0
    kill -s TERM -- "-$1" 2>/dev/null
    _i=0
    while alive "$1" && [ $_i -lt $(($2 * 10)) ]; do
        sleep 0.1
        _i=$((_i + 1))
    done
    if alive "$1"; then
        say "demo: pid $1 did not stop within $2 s: killed" >&2
        kill -s KILL -- "-$1" 2>/dev/null
    fi
    wait "$1" 2>/dev/null
    stop_rc=$?
}

cleanup() {
    trap - EXIT INT TERM
    [ -t 1 ] && printf '\n'
    stop_group "$pid_sim" 5
    stop_group "$pid_weir" 30
    stop_group "$pid_sub1" 2
    stop_group "$pid_sub2" 2
    pid_sim=
    pid_weir=
    pid_sub1=
    pid_sub2=
    $started_broker && broker_cleanup
}

# ---- broker ---------------------------------------------------------------
if [ -n "$BROKER" ]; then
    uri=$BROKER
else
    . tests/broker.sh
    # shellcheck disable=SC2119 # no arguments: no persistence, no limit
    broker_start || die "could not start a private mosquitto"
    started_broker=true
    uri=$BROKER_URI
fi
# After broker_start, which sets traps of its own.
trap cleanup EXIT
trap 'say "demo: interrupted" >&2; exit 130' INT
trap 'exit 143' TERM

hostport=${uri#*://}
host=${hostport%:*}
port=${hostport##*:}
[ "$port" != "$hostport" ] || port=1883

# ---- weir's configuration -------------------------------------------------
# A free loopback port for /metrics: one not in /proc/net/tcp{,6}'s
# listening sockets.
port_in_use() {
    _hex=$(printf '%04X' "$1")
    awk -v p=":$_hex" 'NR > 1 && $4 == "0A" && substr($2, length($2) - 4) == p \
        { f = 1 } END { exit !f }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}
mport=
for _t in 1 2 3 4 5 6 7 8 9 10; do
    _r=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
    _p=$((20000 + _r % 40000))
    if ! port_in_use "$_p"; then
        mport=$_p
        break
    fi
done
[ -n "$mport" ] || die "no free port for the metrics endpoint"

# weir has no command-line overrides: the run's configuration is the
# example with these keys set (every other line as it is): [weir]
# state_dir, [mqtt] uri, [http] listen, [validation] max_past_skew
# (widened from 7d to 30d because the simulated week lies 1 to 2 weeks
# back, see the simulator below) and, on a broker given with BROKER=, a
# client_id of this run and a clean session (the persistent session of an
# earlier run, or of a real weir, must not feed this one, and this one
# must not stay behind on that broker).
ini_set() { # file section key value: set (or add) one key, in place
    awk -v sec="$2" -v key="$3" -v val="$4" '
        function flush() {
            if (insec && !done) { print key " = " val; done = 1 }
        }
        /^[ \t]*\[/ {
            flush()
            h = $0; sub(/^[ \t]*\[[ \t]*/, "", h); sub(/[ \t]*\].*/, "", h)
            insec = (h == sec); skip = 0; print; next
        }
        skip && /^[ \t]+[^ \t;#]/ { next }   # continuation of the old value
        { skip = 0 }
        insec && !done && $0 ~ "^[ \t]*" key "[ \t]*=" {
            print key " = " val; done = 1; skip = 1; next
        }
        { print }
        END {
            flush()
            if (!done) { print ""; print "[" sec "]"; print key " = " val }
        }' "$1" >"$1.tmp" && mv "$1.tmp" "$1"
}
cp "$EXAMPLE" "$run/weir.ini"
ini_set "$run/weir.ini" weir state_dir "$run/state"
ini_set "$run/weir.ini" mqtt uri "$uri"
ini_set "$run/weir.ini" http listen "127.0.0.1:$mport"
ini_set "$run/weir.ini" validation max_past_skew 30d
if [ -n "$BROKER" ]; then
    ini_set "$run/weir.ini" mqtt client_id "weir-demo-$$"
    ini_set "$run/weir.ini" mqtt clean_session true
fi
metrics_url=http://127.0.0.1:$mport/metrics

# ---- reading weir's metrics -----------------------------------------------
http_get() { # url: body on stdout, or fail
    if command -v curl >/dev/null 2>&1; then
        curl -fsS --max-time 2 "$1"
    elif command -v wget >/dev/null 2>&1; then
        wget -qO- -T 2 "$1"
    else
        # perl-base (Essential on Debian) has IO::Socket::INET.
        _hp=${1#http://}
        perl -MIO::Socket::INET -e '
            my $s = IO::Socket::INET->new(PeerAddr => $ARGV[0], Timeout => 2)
                or exit 1;
            print $s "GET $ARGV[1] HTTP/1.0\r\nHost: $ARGV[0]\r\n\r\n";
            local $/; my $r = <$s>;
            $r =~ m{^HTTP/1\.[01] 200 } or exit 1;
            $r =~ s/^.*?\r\n\r\n//s; print $r;' \
            "${_hp%%/*}" "/${_hp#*/}"
    fi
}

scrape() { # file: write the current exposition there (atomically)
    http_get "$metrics_url" >"$1.tmp" 2>/dev/null && mv "$1.tmp" "$1"
}

prom() { # file name [label-substring]: sum of the samples, 0 if none
    awk -v n="$2" -v l="${3:-}" '
        /^#/ { next }
        {
            name = $1; sub(/\{.*/, "", name)
            if (name != n) next
            if (l != "" && index($1, l) == 0) next
            s += $NF; f = 1
        }
        END { printf "%.0f\n", f ? s : 0 }' "$1" 2>/dev/null || echo 0
}

prom_by() { # file name label: "value count" lines per label value
    awk -v n="$2" -v lab="$3" '
        /^#/ { next }
        {
            name = $1; sub(/\{.*/, "", name)
            if (name != n || $NF + 0 == 0) next
            v = $1
            if (!match(v, lab "=\"[^\"]*\"")) next
            v = substr(v, RSTART + length(lab) + 2, RLENGTH - length(lab) - 3)
            s[v] += $NF
        }
        END { for (v in s) printf "%s %.0f\n", v, s[v] }' "$1" 2>/dev/null |
        LC_ALL=C sort
}

# ---- start ----------------------------------------------------------------
say "demo: broker $uri$($started_broker && echo ' (private)'), files in $run"

# Everything weir publishes: arrival time, topic, length, retained flag
# (snapshots and drift events are binary); and the window summaries in
# full, one JSON object per line.
spawn "$run/topics.log" mosquitto_sub -h "$host" -p "$port" -t 'weir/#' \
    -F '%U %t %l %r' -i "weir-demo-topics-$$"
pid_sub1=$spawned
spawn "$run/windows.jsonl" mosquitto_sub -h "$host" -p "$port" \
    -t 'weir/model/+/metrics' -F '%p' -i "weir-demo-windows-$$"
pid_sub2=$spawned

spawn "$run/weir.log" "$WEIR" -c "$run/weir.ini"
pid_weir=$spawned
_i=0
until scrape "$run/metrics.prom"; do
    if ! alive "$pid_weir"; then
        wait "$pid_weir"
        say "demo: weir exited (status $?) at start-up; its log:" >&2
        tail -n 20 "$run/weir.log" >&2
        pid_weir=
        exit 1
    fi
    _i=$((_i + 1))
    [ $_i -lt 100 ] || die "weir's metrics endpoint $metrics_url did not" \
        "answer within 10 s (log: $run/weir.log)"
    sleep 0.1
done
say "demo: weir is up (pid $pid_weir, $metrics_url)"

# The simulator: DEMO_RATE readings a second for DEMO_SECONDS. A building
# sample is 5 readings (temperature, humidity, light, co2, occupancy) per
# room per period. The run covers one week of sensor time, Monday 00:00 to
# Sunday 24:00 UTC (working days, nights, a weekend; the drift at mid-run,
# Thursday noon), last week: always whole weeks back, so that
# every run of the demo sees the same data, and in the past, where weir's
# timestamp checks want it (max_past_skew is widened to 30d for this, the
# one setting changed besides where things live; see above).
count=$((DEMO_RATE * DEMO_SECONDS))
ticks=$((count / (DEMO_DEVICES * 5) + 1))
period_ms=$((604800000 / ticks))
[ $period_ms -le 600000 ] || period_ms=600000
[ $period_ms -ge 1000 ] || die "DEMO_RATE x DEMO_SECONDS is more than a" \
    "week of one-second samples; lower one of them"
days=$(($(date +%s) / 86400))
start_ms=$(((days - (days + 3) % 7 - 7) * 86400000))
drift_ms=$((start_ms + ticks * period_ms / 2))
spawn "$run/sim.log" "$SIM" run --broker "$uri" --scenario building \
    --devices "$DEMO_DEVICES" --seed "$DEMO_SEED" --count "$count" \
    --rate "$DEMO_RATE" --qos 1 --start "$start_ms" --period-ms "$period_ms" \
    --drift-at 50% --ledger "$run/ledger.csv" \
    --fault dup=0.01 --fault reorder=0.005 --fault corrupt=0.001 \
    --fault nan=0.0005 --fault spike=0.0005 \
    --fault restart@122400:dev=room-003 --fault stuck@118800+3600:dev=room-005
pid_sim=$spawned
say "demo: weir-sim: building scenario, $DEMO_DEVICES rooms, one sample" \
    "every $((period_ms / 1000)) s, $count readings at $DEMO_RATE/s: the" \
    "week of $(date -u -d @$((start_ms / 1000)) +%Y-%m-%d) in" \
    "${DEMO_SECONDS} s; faults on, drift at mid-run"

# ---- progress -------------------------------------------------------------
t0=$(date +%s)
tty=false
[ -t 1 ] && tty=true
last_plain=0
peak_kb=0
progress() {
    _f=$run/metrics.prom
    _el=$(($(date +%s) - t0))
    _rej=$(prom "$_f" weir_rejects_total)
    _dup=$(prom "$_f" weir_rejects_total 'reason="duplicate"')
    _line=$(printf '[%3ss/%ss] %s readings: %s accepted, %s dup, %s rejected | %s rows learned, %s windows, %s snapshots, %s drifts' \
        "$_el" "$DEMO_SECONDS" "$(prom "$_f" weir_readings_total)" \
        "$(prom "$_f" weir_readings_accepted_total)" "$_dup" \
        "$((_rej - _dup))" "$(prom "$_f" weir_task_rows_learned_total)" \
        "$(prom "$_f" weir_task_windows_total)" \
        "$(prom "$_f" weir_task_snapshots_total)" \
        "$(prom "$_f" weir_task_drifts_total)")
    if $tty; then
        printf '\r%s\033[K' "$_line"
    elif [ $((_el - last_plain)) -ge 10 ]; then
        say "$_line"
        last_plain=$_el
    fi
    # weir's peak resident memory (for the unit's MemoryMax).
    _kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid_weir/status" 2>/dev/null)
    [ -n "$_kb" ] && [ "$_kb" -gt "$peak_kb" ] && peak_kb=$_kb
    return 0
}

while alive "$pid_sim"; do
    scrape "$run/metrics.prom"
    progress
    alive "$pid_weir" || break
    sleep 1
done
wait "$pid_sim"
sim_rc=$?
pid_sim=
if ! alive "$pid_weir"; then
    $tty && printf '\n'
    wait "$pid_weir"
    say "demo: weir died during the run (status $?); its log:" >&2
    tail -n 20 "$run/weir.log" >&2
    pid_weir=
    exit 1
fi
if [ $sim_rc -ne 0 ]; then
    $tty && printf '\n'
    say "demo: weir-sim failed (status $sim_rc):" >&2
    tail -n 5 "$run/sim.log" >&2
    exit 1
fi

# Drain: until weir has processed every message the ledger says was sent
# and holds no backlog (at most 30 s; the accounting below reports what is
# still missing then).
sent_msgs=$(awk -F, 'NR > 1 && $2 == 1 && !($1 in m) { m[$1] = 1; n++ }
    END { print n + 0 }' "$run/ledger.csv")
t_drain=$(date +%s)
_i=0
while [ $_i -lt 30 ]; do
    scrape "$run/metrics.prom"
    progress
    [ "$(prom "$run/metrics.prom" weir_messages_total)" -ge "$sent_msgs" ] &&
        [ "$(prom "$run/metrics.prom" weir_backlog_messages)" = 0 ] && break
    _i=$((_i + 1))
    sleep 1
done
drain_s=$(($(date +%s) - t_drain))
$tty && printf '\n'

# Stop weir the way systemd does (SIGTERM: drain, final snapshots,
# checkpoint, disconnect) and time it; the final snapshots reach the broker
# before the subscribers stop.
ts=$(date +%s%N)
stop_group "$pid_weir" 30
weir_rc=$stop_rc
pid_weir=
stop_ms=$((($(date +%s%N) - ts) / 1000000))
sleep 0.5
stop_group "$pid_sub1" 2
stop_group "$pid_sub2" 2
pid_sub1=
pid_sub2=
m=$run/metrics.prom

# ---- summary --------------------------------------------------------------
# The ledger: every reading weir-sim sent, and what a correct receiver
# must do with it whatever its limits (expect), or "-" when that depends
# on them (spikes: ranges; restart: dedup policy).
read -r l_sent l_msgs l_accept l_dup l_decode l_nan l_depends <<EOF2
$(awk -F, 'NR > 1 {
        if ($2 == 1) { sent++; if (!($1 in msg)) { msg[$1] = 1; msgs++ } }
        e[$10]++
    }
    END {
        printf "%d %d %d %d %d %d %d\n", sent, msgs, e["accept"],
            e["duplicate"], e["decode_error"], e["nan"], e["-"]
    }' "$run/ledger.csv")
EOF2

w_msgs=$(prom "$m" weir_messages_total)
w_acc=$(prom "$m" weir_readings_accepted_total)
w_dup=$(prom "$m" weir_rejects_total 'reason="duplicate"')
w_dec=$(prom "$m" weir_rejects_total 'reason="decode_error"')
w_nan=$(prom "$m" weir_rejects_total 'reason="nan"')

# The checks that hold whatever the limits: every message sent was
# processed once, every reading the ledger marks "accept" was accepted
# (plus at most the ones that depend on limits), and every duplicate,
# corrupt payload and NaN was refused for that reason.
acct_ok=true
check() { # description, test...
    _d=$1
    shift
    if "$@"; then
        printf '            ok        %s\n' "$_d"
    else
        printf '            MISMATCH  %s\n' "$_d"
        acct_ok=false
    fi
}
between() { [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]; }

# One task's windows (from the metrics topic): champion runs, the last
# window against the baselines, drift; and its learning-curve table.
task_windows() { # task
    awk -v t="$1" -v drift_ms="$drift_ms" \
        -v curve="$run/learning-$1.dat" -v meta="$run/learning-$1.meta" '
    function jnum(s, k,    v) {
        if (!match(s, "\"" k "\":-?[0-9.eE+-]+")) return "?"
        v = substr(s, RSTART, RLENGTH); sub(/^[^:]*:/, "", v); return v + 0
    }
    function jstr(s, k,    v) {
        if (!match(s, "\"" k "\":\"[^\"]*\"")) return ""
        v = substr(s, RSTART, RLENGTH); sub(/^[^:]*:"/, "", v); sub(/"$/, "", v)
        return v
    }
    function jarr(s, k,    i, j) {   # the inside of array k
        i = index(s, "\"" k "\":[")
        if (i == 0) return ""
        s = substr(s, i + length(k) + 4)
        j = index(s, "]")
        return substr(s, 1, j - 1)
    }
    function fig(o) {   # accuracy for a classifier, else RMSE
        return (metric == "accuracy") ? jnum(o, "accuracy") : jnum(o, "rmse")
    }
    function f3(v) { return v == "?" ? "-" : sprintf("%.3f", v) }
    function utc(ms,    c, d) {
        c = "date -u -d @" int(ms / 1000) " \"+%a %H:%M\""
        c | getline d; close(c); return d
    }
    index($0, "\"task\":\"" t "\"") == 0 { next }
    {
        n++
        if (n == 1) metric = ($0 ~ /"accuracy":/) ? "accuracy" : "rmse"
        id = jnum($0, "window_id"); champ = jstr($0, "champion")
        if (n == 1) first_s = jnum($0, "start_ms")
        last_e = jnum($0, "end_ms")
        drift = ($0 ~ /"drift":true/) ? 1 : 0
        cf = "?"
        nc = split(jarr($0, "candidates"), c, /\},\{/)
        for (i = 1; i <= nc; i++)
            if (jstr(c[i], "name") == champ) cf = fig(c[i])
        nb = split(jarr($0, "baselines"), b, /\},\{/)
        hdr = "window champion"; line = id " " cf; lb = ""
        for (i = 1; i <= nb; i++) {
            bn = jstr(b[i], "name"); gsub(/[^A-Za-z0-9_]/, "_", bn)
            hdr = hdr " " bn; line = line " " fig(b[i])
            lb = lb (i > 1 ? ", " : "") bn " " f3(fig(b[i]))
        }
        # The window the change point falls in (or the first after it).
        inj = 0
        if (!injd && jnum($0, "end_ms") >= drift_ms) { inj = 1; injd = 1 }
        if (n == 1) print hdr " drift injected" > curve
        print line " " drift " " inj > curve
        tf = "?"
        if (match($0, /"test":\{[^}]*\}/)) tf = fig(substr($0, RSTART, RLENGTH))
        # Runs of one champion: "0-4 name".
        if (champ != pc) {
            if (nr > 0) rend[nr] = prev_id
            nr++; rbeg[nr] = id; rname[nr] = champ; pc = champ
        }
        prev_id = id
        if (drift) {
            nd++
            if (nd <= 3) dw = dw (dw == "" ? "" : ", ") id " (data time " \
                utc(jnum($0, "end_ms")) ")"
            if (first_d == "") first_d = jnum($0, "end_ms")
        }
        last = id; lc = cf; lt = tf; lbl = lb
    }
    END {
        if (n == 0) {
            print "  windows   none closed yet (nothing on the metrics topic)"
            exit
        }
        rend[nr] = prev_id
        print metric > meta
        # Windows run on data time: over the whole run they cover the
        # simulated week, whatever the wall clock did.
        if (first_s != "?" && last_e != "?")
            printf "  windows   %d closed, data time %s to %s (%.1f h)\n", n,
                utc(first_s), utc(last_e), (last_e - first_s) / 3600000
        printf "  champion  %s", (nr > 4 ? "(" nr - 4 " earlier changes) " : "")
        for (r = (nr > 4 ? nr - 3 : 1); r <= nr; r++)
            printf "%s%s %s", (r > 1 && !(nr > 4 && r == nr - 3) ? "; " : ""),
                (rbeg[r] == rend[r] ? "window " rbeg[r] : \
                "windows " rbeg[r] "-" rend[r]), rname[r]
        printf "\n"
        printf "  last      window %s: %s %s (baselines: %s); test stream %s\n",
            last, metric, f3(lc), lbl, f3(lt)
        printf "  drift     injected at data time %s; ", utc(drift_ms)
        if (nd == 0) print "not detected"
        else printf "detected in window %s%s%s\n", dw,
            (nd > 3 ? " and " nd - 3 " more" : ""),
            (first_d >= drift_ms ? sprintf("; first %.1f h of data after it",
                (first_d - drift_ms) / 3600000) : "")
    }' "$run/windows.jsonl"
}

tasks=$(awk '/^weir_task_rows_learned_total\{/ {
        t = $1; sub(/.*task="/, "", t); sub(/".*/, "", t); print t }' "$m")
{
say "==== weir demo: summary ====================================================="
say "readings   weir-sim sent $l_sent readings in $l_msgs messages; weir" \
    "processed $w_msgs messages"
say "           accepted $w_acc, deduplicated $w_dup; rejected by reason:"
prom_by "$m" weir_rejects_total reason | while read -r _r _n; do
    [ "$_r" = duplicate ] || printf '             %-15s %s\n' "$_r" "$_n"
done
say "accounting against the simulator's ledger (weir-sim --ledger):"
check "every message sent was processed, once ($w_msgs of $l_msgs)" \
    [ "$w_msgs" -eq "$l_msgs" ]
check "accepted: the $l_accept valid readings + at most $l_depends \
that depend on limits ($w_acc)" between "$w_acc" "$l_accept" \
    $((l_accept + l_depends))
check "duplicates caught: $l_dup sent again, $w_dup refused" \
    between "$w_dup" "$l_dup" $((l_dup + l_depends))
check "corrupt payloads refused: $l_decode sent, $w_dec decode_error" \
    [ "$w_dec" -eq "$l_decode" ]
check "NaN/Inf refused: $l_nan sent, $w_nan nan" [ "$w_nan" -eq "$l_nan" ]

for t in $tasks; do
    lab="task=\"$t\""
    say "task $t: $(prom "$m" weir_task_rows_learned_total "$lab") rows" \
        "learned, $(prom "$m" weir_task_rows_test_total "$lab") held out" \
        "for testing, $(prom "$m" weir_task_windows_total "$lab") windows," \
        "drift events: $(prom "$m" weir_task_drifts_total "$lab")"
    task_windows "$t"
    # Snapshots: the files weir kept, and what reached the broker (not
    # retained copies from an earlier run).
    snap=$(find "$run/state/snapshots/$t" -name '*.pb' 2>/dev/null |
        LC_ALL=C sort | tail -n 1)
    nb=$(awk -v tp="weir/model/$t/snapshot" '$2 == tp && $4 == 0' \
        "$run/topics.log" | wc -l)
    if [ -n "$snap" ]; then
        v=$(basename "$snap" .pb | sed 's/^0*//')
        [ "$v" = 1 ] && vs="version 1" || vs="versions 1..$v"
        say "  snapshots $vs, $nb published (the last at shutdown);" \
            "newest: $snap"
        "$WEIR" inspect "$snap" >"$run/inspect-$t.json" 2>&1
    else
        say "  snapshots none written ($nb published)"
    fi
    if [ -s "$run/learning-$t.dat" ] &&
        sh bench/plot.sh curve "$run/learning-$t.dat" \
            "$run/learning-$t.png" \
            "weir demo, task $t: champion vs baselines, per validation window" \
            "$(cat "$run/learning-$t.meta" 2>/dev/null)" 2>"$run/plot.log"; then
        say "  plot      $run/learning-$t.png"
    elif [ -s "$run/plot.log" ]; then
        say "  plot      not drawn: $(head -n 1 "$run/plot.log")"
    fi
done
say "weir       caught up ${drain_s} s after the simulator finished; stopped" \
    "by SIGTERM in ${stop_ms} ms (exit status $weir_rc); peak memory" \
    "$((peak_kb / 1024)) MiB"
say "files      $run: weir.ini, weir.log, sim.log, ledger.csv," \
    "windows.jsonl, state/"
say "============================================================================="
} >"$run/summary.txt"

# The newest snapshot of the first task as weir reads it back, then the
# summary (last, so that it is what stays on the screen).
first=$(echo "$tasks" | head -n 1)
if [ -s "$run/inspect-$first.json" ]; then
    say ""
    say "weir inspect $(find "$run/state/snapshots/$first" -name '*.pb' |
        LC_ALL=C sort | tail -n 1)"
    cat "$run/inspect-$first.json"
fi
say ""
cat "$run/summary.txt"

$acct_ok && [ "$weir_rc" -eq 0 ]
