#!/bin/sh
# test_sim_e2e.sh -- weir-sim against a real mosquitto (tests/broker.sh):
# record -> replay -> record gives byte-identical messages; replay timing
# at --speed 10; csv paced by --speed and --rate; truncated and corrupt
# captures; a recorder killed with SIGKILL; a publisher that rides out a
# broker restart.
#
# Timing tolerance (a shared 2-core machine): a capture spanning 2.99 s
# replayed at --speed 10 must span between 0.27 s (it never runs early) and
# 0.299 + 0.6 s when re-recorded.
set -u
: "${BUILD:=build/default}"
SIM=$BUILD/weir-sim
TMP=$(mktemp -d "${TMPDIR:-/tmp}/weir-sim-e2e-XXXXXX")
. tests/broker.sh
pass=0
fail=0
n=0
RECPID=

cleanup() {
    [ -n "$RECPID" ] && kill -KILL "$RECPID" 2>/dev/null
    broker_cleanup
    rm -rf "$TMP"
}

ok() {
    n=$((n + 1)); pass=$((pass + 1)); echo "ok $n - $1"
}
not_ok() {
    n=$((n + 1)); fail=$((fail + 1)); echo "not ok $n - $1"
    [ $# -gt 1 ] && echo "#   $2"
}

# start_recorder FILE [ARGS...]: background recorder, waits until subscribed.
start_recorder() {
    f=$1; shift
    "$SIM" record --broker "$BROKER_URI" --out "$f" "$@" 2>"$f.log" &
    RECPID=$!
    i=0
    while [ $i -lt 100 ] && ! grep -q subscribed "$f.log" 2>/dev/null; do
        sleep 0.05; i=$((i + 1))
    done
    grep -q subscribed "$f.log" 2>/dev/null
}

# stop_recorder: wait up to 10 s for a --count recorder to finish by itself
# (all its messages arrived), then SIGTERM (a clean stop) and wait.
stop_recorder() {
    i=0
    while [ $i -lt 200 ] && [ -d "/proc/$RECPID" ] &&
        ! grep -q ' messages (' "$f.log" 2>/dev/null; do
        sleep 0.05; i=$((i + 1))
    done
    kill -TERM "$RECPID" 2>/dev/null
    wait "$RECPID"
    _rc=$?
    RECPID=
    return $_rc
}

count() { # records in a capture
    "$SIM" cat --count-only "$1" 2>&1 | sed -n 's/.*: \([0-9]*\) records.*/\1/p'
}

span() { # seconds between first and last record
    "$SIM" cat --count-only "$1" 2>&1 | sed -n 's/.*span \([0-9.]*\) s.*/\1/p'
}

[ -x "$SIM" ] || { echo "no $SIM"; echo "0 passed, 1 failed"; exit 1; }
# A deep per-client queue: the recorder must not lose what --max sends.
broker_start false 100000 || { echo "0 passed, 1 failed"; exit 1; }
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

# ---- record -> replay -> record: byte-identical --------------------------
if start_recorder "$TMP/a.cap" --qos 1; then
    "$SIM" run --broker "$BROKER_URI" --qos 1 --count 3000 --max --seed 11 \
        --fault dup=0.02 --fault reorder=0.02 --fault corrupt=0.01 \
        --fault nan=0.01 --quiet
    sleep 0.5
    stop_recorder
    na=$(count "$TMP/a.cap")
    start_recorder "$TMP/b.cap" --qos 1 --count "$na"
    "$SIM" replay --broker "$BROKER_URI" --max --quiet "$TMP/a.cap"
    stop_recorder
    "$SIM" cat --no-time "$TMP/a.cap" >"$TMP/a.txt" 2>/dev/null
    "$SIM" cat --no-time "$TMP/b.cap" >"$TMP/b.txt" 2>/dev/null
    na=$(wc -l <"$TMP/a.txt")
    if [ "$na" -ge 3000 ] && cmp -s "$TMP/a.txt" "$TMP/b.txt"; then
        ok "capture -> replay -> capture: $na identical messages"
    else
        not_ok "capture round trip" "a $na, b $(wc -l <"$TMP/b.txt")"
    fi
    # The generator's own capture (run --out) holds the same messages.
    "$SIM" run --count 3000 --seed 11 --fault dup=0.02 --fault reorder=0.02 \
        --fault corrupt=0.01 --fault nan=0.01 --qos 1 --out "$TMP/g.cap" \
        --quiet
    "$SIM" cat --no-time "$TMP/g.cap" 2>/dev/null |
        cut -f3- >"$TMP/g.txt"
    cut -f3- "$TMP/a.txt" >"$TMP/a3.txt"
    if cmp -s "$TMP/g.txt" "$TMP/a3.txt"; then
        ok "published stream equals the generator's capture"
    else
        not_ok "published stream equals the generator's capture"
    fi
else
    not_ok "recorder did not subscribe" "$(cat "$TMP/a.cap.log")"
fi

# ---- several connections: every message arrives, per-device order kept ---
"$SIM" run --count 3000 --seed 12 --format batch --qos 1 --out "$TMP/m.cap" \
    --quiet
nm=$(count "$TMP/m.cap")
start_recorder "$TMP/m2.cap" --qos 1 --count "$nm"
"$SIM" run --broker "$BROKER_URI" --count 3000 --seed 12 --format batch \
    --qos 1 --max --conns 3 --quiet
stop_recorder
"$SIM" cat --no-time "$TMP/m.cap" 2>/dev/null >"$TMP/m.txt"
"$SIM" cat --no-time "$TMP/m2.cap" 2>/dev/null >"$TMP/m2.txt"
okm=1
sort "$TMP/m.txt" >"$TMP/ms.txt"
sort "$TMP/m2.txt" >"$TMP/m2s.txt"
cmp -s "$TMP/ms.txt" "$TMP/m2s.txt" || okm=0
for d in room-001 room-005 room-010; do # one device: one connection, in order
    grep -F "sensors/$d	" "$TMP/m.txt" >"$TMP/d1.txt"
    grep -F "sensors/$d	" "$TMP/m2.txt" >"$TMP/d2.txt"
    [ -s "$TMP/d1.txt" ] && cmp -s "$TMP/d1.txt" "$TMP/d2.txt" || okm=0
done
if [ $okm -eq 1 ] && [ "$nm" -gt 500 ]; then
    ok "--conns 3: all $nm messages, each device in order"
else
    not_ok "--conns 3" "$(wc -l <"$TMP/m2.txt") of $nm"
fi

# ---- --loop, --topic-prefix, --rewrite -------------------------------------
start_recorder "$TMP/l.cap" --qos 1 --topic 'x/#' --count $((2 * na))
"$SIM" replay --broker "$BROKER_URI" --max --quiet --loop=2 \
    --topic-prefix x --rewrite 's|/room-|/r-|' "$TMP/a.cap"
stop_recorder
"$SIM" cat --no-time --no-payload "$TMP/l.cap" 2>/dev/null >"$TMP/l.txt"
sed 's|\tsensors/room-|\tx/sensors/r-|' "$TMP/a.txt" | cut -f1-3 \
    >"$TMP/want1.txt"
cat "$TMP/want1.txt" "$TMP/want1.txt" >"$TMP/want.txt"
if cmp -s "$TMP/l.txt" "$TMP/want.txt"; then
    ok "replay --loop=2 --topic-prefix --rewrite: $((2 * na)) messages"
else
    not_ok "replay --loop/--rewrite" "$(wc -l <"$TMP/l.txt") lines"
fi

# ---- replay timing at --speed 10 -----------------------------------------
"$SIM" run --count 300 --rate 100 --out "$TMP/slow.cap" --quiet
s0=$(span "$TMP/slow.cap")
start_recorder "$TMP/fast.cap" --qos 1 --count 300
t0=$(date +%s.%N)
"$SIM" replay --broker "$BROKER_URI" --speed 10 --qos 1 --quiet \
    "$TMP/slow.cap"
t1=$(date +%s.%N)
stop_recorder
s1=$(span "$TMP/fast.cap")
wall=$(echo "$t1 - $t0" | bc -l 2>/dev/null || echo 0)
if [ "$(count "$TMP/fast.cap")" = 300 ] &&
    awk -v a="$s0" -v b="$s1" 'BEGIN { exit !(a > 2.9 && a < 3.0 &&
        b >= 0.27 && b <= a / 10 + 0.6) }'; then
    ok "replay --speed 10: span $s0 s -> $s1 s"
else
    not_ok "replay --speed 10" "span $s0 s -> $s1 s, $(count "$TMP/fast.cap") msgs, wall $wall"
fi

# ---- csv through the broker: --speed keeps data time, --rate rows/s --------
# 21 rows 1 s apart in data time: at --speed 20 they span 1 s, so the
# re-recorded span is at least 0.9 s (a feed never sends early); at --rate
# 40 the bucket's burst of 2 goes at once, then a row per 25 ms: 0.45 s.
{
    echo "timestamp,temp"
    for i in $(seq 0 20); do
        echo "$((1700000000 + i)),$((20 + i % 3)).5"
    done
} >"$TMP/t.csv"
for mode in "speed 20 0.9" "rate 40 0.4"; do
    set -- $mode
    start_recorder "$TMP/csv-$1.cap" --qos 1 --count 21
    "$SIM" csv --broker "$BROKER_URI" --"$1" "$2" --quiet \
        --map 'ts=timestamp;device=box' "$TMP/t.csv"
    rc=$?
    stop_recorder
    c=$(count "$TMP/csv-$1.cap")
    s1=$(span "$TMP/csv-$1.cap")
    if [ $rc -eq 0 ] && [ "$c" = 21 ] &&
        awk -v b="$s1" -v lo="$3" 'BEGIN { exit !(b >= lo && b < lo + 2) }'
    then
        ok "csv --$1 $2 through the broker: 21 rows over $s1 s"
    else
        not_ok "csv --$1 $2 through the broker" "rc $rc, $c rows, span $s1 s"
    fi
done

# ---- truncated and corrupt captures --------------------------------------
size=$(wc -c <"$TMP/a.cap")
head -c $((size - 3)) "$TMP/a.cap" >"$TMP/t.cap"
start_recorder "$TMP/t2.cap" --qos 1 --count $((na - 1))
"$SIM" replay --broker "$BROKER_URI" --max --qos 1 --quiet "$TMP/t.cap" \
    2>"$TMP/t.err"
rc=$?
stop_recorder
if [ $rc -eq 3 ] && [ "$(wc -l <"$TMP/t.err")" -eq 1 ] &&
    grep -q "truncated record at byte" "$TMP/t.err" &&
    [ "$(count "$TMP/t2.cap")" = $((na - 1)) ]; then
    ok "truncated capture: $((na - 1)) replayed, stop reported, exit 3"
else
    not_ok "truncated capture" "rc $rc: $(cat "$TMP/t.err")"
fi
printf '\005hello, not a capture' >"$TMP/garbage.cap"
"$SIM" replay --broker "$BROKER_URI" --max --quiet "$TMP/garbage.cap" \
    2>"$TMP/g.err"
rc=$?
if [ $rc -eq 3 ] && grep -q "corrupt record at byte 0" "$TMP/g.err" &&
    [ "$(wc -l <"$TMP/g.err")" -eq 1 ]; then
    ok "corrupt capture: one line, exit 3"
else
    not_ok "corrupt capture" "rc $rc: $(cat "$TMP/g.err")"
fi

# ---- a recorder killed with SIGKILL leaves a readable file ---------------
start_recorder "$TMP/k.cap" --qos 0
"$SIM" run --broker "$BROKER_URI" --rate 5000 --duration 3 --quiet &
RUNPID=$!
sleep 1.5
kill -KILL "$RECPID"
wait "$RECPID" 2>/dev/null
RECPID=
wait "$RUNPID"
"$SIM" cat "$TMP/k.cap" >/dev/null 2>"$TMP/k.err"
rc=$?
k=$(sed -n 's/.*: \([0-9]*\) records.*/\1/p; s/.* after \([0-9]*\) records.*/\1/p' "$TMP/k.err")
# Exit 0, or 3 for a torn last record only (see sim/capfile.h).
if { [ $rc -eq 0 ] || { [ $rc -eq 3 ] && grep -q truncated "$TMP/k.err"; }; } &&
    [ "${k:-0}" -gt 1000 ]; then
    ok "recorder killed with SIGKILL: $k whole records readable"
else
    not_ok "recorder killed with SIGKILL" "rc $rc: $(cat "$TMP/k.err")"
fi

# ---- a broker restart in the middle of a QoS 1 run ------------------------
"$SIM" run --broker "$BROKER_URI" --qos 1 --rate 1000 --count 4000 \
    2>"$TMP/o.err" &
RUNPID=$!
sleep 1.5
broker_restart
wait "$RUNPID"
rc=$?
if [ $rc -eq 0 ] && grep -q "disconnects=[1-9]" "$TMP/o.err" &&
    grep -q "published=4000 " "$TMP/o.err"; then
    ok "publisher reconnects after a broker restart"
else
    not_ok "publisher reconnects after a broker restart" \
        "rc $rc: $(cat "$TMP/o.err")"
fi

# ---- a recorder resubscribes after a broker restart ------------------------
start_recorder "$TMP/re.cap" --qos 1 --count 200
broker_restart
i=0 # its automatic reconnect retries every 1 s at first
while [ $i -lt 200 ] && ! grep -q resubscribed "$TMP/re.cap.log"; do
    sleep 0.1; i=$((i + 1))
done
"$SIM" run --broker "$BROKER_URI" --qos 1 --count 200 --max --quiet
stop_recorder
if [ "$(count "$TMP/re.cap")" = 200 ]; then
    ok "recorder resubscribes after a broker restart"
else
    not_ok "recorder after a broker restart" "$(count "$TMP/re.cap") of 200"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
