#!/bin/sh
# test_sim_cli.sh -- weir-sim without a broker: bad input ends in one line
# on stderr and a non-zero exit (never a crash), the CSV data sets map
# every row, and captures written with --out read back.
#
# Expected row counts come from the data sets' SOURCE.md files (Occupancy
# 2,665 + 8,143 + 9,752; Elec2 45,312) or from wc -l on the NAB file.
set -u
: "${BUILD:=build/default}"
SIM=$BUILD/weir-sim
DATA=${WEIR_DATA:-/work/shared/data}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/weir-sim-cli-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
pass=0
fail=0
n=0

ok() {
    n=$((n + 1)); pass=$((pass + 1)); echo "ok $n - $1"
}
not_ok() {
    n=$((n + 1)); fail=$((fail + 1)); echo "not ok $n - $1"
    [ $# -gt 1 ] && echo "#   $2"
}

# bad WANT_RC NAME ARGS...: exit code WANT_RC, exactly one stderr line
# starting "weir-sim: ", nothing on stdout.
bad() {
    want=$1; name=$2; shift 2
    "$SIM" "$@" >"$TMP/out" 2>"$TMP/err" </dev/null
    rc=$?
    lines=$(wc -l <"$TMP/err")
    if [ "$rc" -ne "$want" ]; then
        not_ok "$name" "exit $rc, want $want: $(head -c 300 "$TMP/err")"
    elif [ "$lines" -ne 1 ] || ! grep -q '^weir-sim: ' "$TMP/err"; then
        not_ok "$name" "stderr has $lines lines: $(head -c 300 "$TMP/err")"
    elif [ -s "$TMP/out" ]; then
        not_ok "$name" "wrote to stdout"
    else
        ok "$name"
    fi
}

[ -x "$SIM" ] || { echo "no $SIM"; echo "0 passed, 1 failed"; exit 1; }

# ---- usage errors (2) ------------------------------------------------------
bad 2 "no command" 
bad 2 "unknown command" frob
bad 2 "run: unknown option" run --bogus
bad 2 "run: missing option value" run --rate
bad 2 "run: zero rate" run --rate 0 --dry-run
bad 2 "run: negative rate" run --rate -5 --dry-run
bad 2 "run: absurd rate" run --rate 1e12 --dry-run
bad 2 "run: zero devices" run --devices 0 --dry-run
bad 2 "run: too many sensors" run --sensors 1000 --dry-run
bad 2 "run: bad count" run --count 12x --dry-run
bad 2 "run: bad duration" run --duration soon --dry-run
bad 2 "run: bad start" run --start yesterday --dry-run
bad 2 "run: unknown fault" run --fault dupe=0.1 --dry-run
bad 2 "run: fault rate > 1" run --fault dup=2 --dry-run
bad 2 "run: fault bad key" run --fault spike=0.1:volume=11 --dry-run
bad 2 "run: fault unknown device" run --fault gap@10:dev=room-999 --dry-run
bad 2 "run: drift % without count" run --drift-at 50% --dry-run
bad 2 "run: unknown format" run --format xml --dry-run
bad 2 "run: qos 3" run --qos 3 --dry-run
bad 2 "run: --out with --dry-run" run --out "$TMP/x" --dry-run
bad 2 "replay: no file" replay
bad 2 "replay: two files" replay a b
bad 2 "replay: zero speed" replay --speed 0 x.cap
bad 2 "replay: bad rewrite" replay --rewrite s/x x.cap
bad 2 "record: no file" record
bad 2 "csv: no file" csv
bad 2 "csv: unknown map key" csv --map 'sensor=a' x.csv
bad 2 "csv: bad device" csv --device 'a/b' x.csv
bad 2 "csv: map names a missing column" csv --dry-run \
    --map 'sensors=Temperature,Pressure' "$DATA/occupancy/datatest.txt"
bad 2 "csv: time column that is no time" csv --dry-run \
    --map 'ts=Temperature' "$DATA/occupancy/datatest.txt"
bad 2 "cat: no file" cat

# ---- run-time failures (1) and partial results (3) -------------------------
bad 1 "run: unreachable broker" run --broker tcp://127.0.0.1:1 --count 5
bad 1 "run: bad broker URI" run --broker 'nonsense://' --count 5
bad 1 "run: ledger in a missing directory" run --dry-run --count 5 \
    --ledger /nonexistent/dir/l.csv
bad 1 "run: capture in a missing directory" run --count 5 \
    --out /nonexistent/dir/x.cap
bad 1 "replay: missing capture" replay /nonexistent/x.cap
bad 1 "replay: unreachable broker" replay --broker tcp://127.0.0.1:1 \
    /dev/null
bad 1 "record: unreachable broker" record --broker tcp://127.0.0.1:1 \
    "$TMP/r.cap"
bad 1 "csv: missing file" csv --dry-run /nonexistent/x.csv
bad 1 "csv: a directory" csv --dry-run "$TMP"
bad 1 "csv: unreachable broker" csv --broker tcp://127.0.0.1:1 \
    "$DATA/occupancy/datatest.txt"
bad 1 "cat: missing file" cat /nonexistent/x.cap
printf '\005hello, not a capture' >"$TMP/garbage.cap"
bad 3 "cat: garbage capture" cat "$TMP/garbage.cap"

# ---- captures written by run --out ----------------------------------------
if "$SIM" run --count 3000 --seed 4 --fault dup=0.05 --out "$TMP/a.cap" \
    2>"$TMP/err"; then
    msgs=$(sed -n 's/.* in \([0-9]*\) messages.*/\1/p' "$TMP/err")
    "$SIM" cat "$TMP/a.cap" >"$TMP/a.txt" 2>"$TMP/cat.err"
    got=$(wc -l <"$TMP/a.txt")
    if [ -n "$msgs" ] && [ "$got" -eq "$msgs" ]; then
        ok "run --out writes every message ($got)"
    else
        not_ok "run --out writes every message" "cat $got, run said $msgs"
    fi
    # Truncated by 3 bytes: every record but the last, and exit 3.
    size=$(wc -c <"$TMP/a.cap")
    head -c $((size - 3)) "$TMP/a.cap" >"$TMP/t.cap"
    "$SIM" cat "$TMP/t.cap" >"$TMP/t.txt" 2>"$TMP/t.err"
    rc=$?
    if [ $rc -eq 3 ] && [ "$(wc -l <"$TMP/t.txt")" -eq $((got - 1)) ] &&
        grep -q "truncated record at byte" "$TMP/t.err"; then
        ok "truncated capture: records before the cut, exit 3"
    else
        not_ok "truncated capture" "rc $rc: $(cat "$TMP/t.err")"
    fi
else
    not_ok "run --out" "$(cat "$TMP/err")"
fi

# Same seed, same bytes; another seed, other bytes.
"$SIM" run --count 3000 --seed 4 --fault dup=0.05 --out "$TMP/b.cap" \
    --quiet
"$SIM" run --count 3000 --seed 5 --fault dup=0.05 --out "$TMP/c.cap" \
    --quiet
if cmp -s "$TMP/a.cap" "$TMP/b.cap" && ! cmp -s "$TMP/a.cap" "$TMP/c.cap"
then
    ok "run --out is deterministic per seed"
else
    not_ok "run --out is deterministic per seed"
fi

# ---- CSV data sets: every row mapped ---------------------------------------
# rows FILE: the "N rows sent" figure of the summary line for FILE.
rows() {
    sed -n "s|.*: $1: \([0-9]*\) rows sent, bad rows: 0,.*|\1|p" "$TMP/err"
}

OCC=$DATA/occupancy
if "$SIM" csv --dry-run --map 'ts=date;labels=Occupancy;device=office' \
    "$OCC/datatest.txt" "$OCC/datatraining.txt" "$OCC/datatest2.txt" \
    2>"$TMP/err"; then
    a=$(rows "$OCC/datatest.txt")
    b=$(rows "$OCC/datatraining.txt")
    c=$(rows "$OCC/datatest2.txt")
    if [ "$a" = 2665 ] && [ "$b" = 8143 ] && [ "$c" = 9752 ] &&
        grep -q "20560 rows in 20560 messages, 1 devices" "$TMP/err"; then
        ok "csv: Occupancy, all 20,560 rows"
    else
        not_ok "csv: Occupancy" "$(cat "$TMP/err")"
    fi
else
    not_ok "csv: Occupancy" "$(cat "$TMP/err")"
fi

# Files out of time order: sent, with one warning naming the file.
"$SIM" csv --dry-run --map 'ts=date;labels=Occupancy' "$OCC/datatest2.txt" \
    "$OCC/datatest.txt" 2>"$TMP/err"
if [ "$(grep -c "warning: $OCC/datatest.txt starts" "$TMP/err")" = 1 ]; then
    ok "csv: files out of time order are flagged"
else
    not_ok "csv: files out of time order" "$(cat "$TMP/err")"
fi

E2=$DATA/elec2/elecNormNew.csv
if "$SIM" csv --dry-run --map 'ts=none;ts_start=1996-05-07;ts_step=1800000;labels=class;classes=DOWN,UP;device=nsw' \
    "$E2" 2>"$TMP/err" && [ "$(rows "$E2")" = 45312 ]; then
    ok "csv: Elec2, all 45,312 rows"
else
    not_ok "csv: Elec2" "$(cat "$TMP/err")"
fi

NAB=$DATA/nab/data/realKnownCause/machine_temperature_system_failure.csv
want=$(($(wc -l <"$NAB") - 1))
if "$SIM" csv --dry-run --map 'ts=timestamp;device=machine_temp' "$NAB" \
    2>"$TMP/err" && [ "$(rows "$NAB")" = "$want" ] &&
    grep -q "time going backwards=1" "$TMP/err"; then
    ok "csv: NAB machine_temperature, all $want rows (one time jump back)"
else
    not_ok "csv: NAB" "$(cat "$TMP/err")"
fi

# csv --out: one record per row (batch), per value (pb); ledger lines.
if "$SIM" csv --quiet --out "$TMP/occ.cap" --ledger "$TMP/occ.csv" \
    --map 'ts=date;labels=Occupancy' "$OCC/datatest.txt" &&
    [ "$("$SIM" cat --count-only "$TMP/occ.cap" 2>&1 |
        sed 's/.*: \([0-9]*\) records.*/\1/')" = 2665 ] &&
    [ "$(wc -l <"$TMP/occ.csv")" = $((2665 * 6 + 1)) ]; then
    ok "csv --out: one batch per row, six ledger lines per row"
else
    not_ok "csv --out"
fi
if "$SIM" csv --quiet --out "$TMP/occ1.cap" --format pb \
    --map 'ts=date;labels=Occupancy' "$OCC/datatest.txt" &&
    [ "$("$SIM" cat --count-only "$TMP/occ1.cap" 2>&1 |
        sed 's/.*: \([0-9]*\) records.*/\1/')" = $((2665 * 6)) ]; then
    ok "csv --format pb: one message per value"
else
    not_ok "csv --format pb"
fi

# ---- progress line: only on a terminal, never with --quiet -----------------
if command -v script >/dev/null 2>&1; then
    script -qec "$SIM run --dry-run --count 2000000" /dev/null \
        >"$TMP/tty.txt" 2>&1
    script -qec "$SIM run --dry-run --count 2000000 --quiet" /dev/null \
        >"$TMP/ttyq.txt" 2>&1
    "$SIM" run --dry-run --count 2000000 2>"$TMP/notty.txt"
    esc=$(printf '\033')
    if grep -q "readings .*/s .*ETA" "$TMP/tty.txt" &&
        grep -q "$esc\\[K" "$TMP/tty.txt" &&
        ! grep -q "$esc" "$TMP/ttyq.txt" && [ ! -s "$TMP/ttyq.txt" ] &&
        ! grep -q "$esc" "$TMP/notty.txt" &&
        [ "$(wc -l <"$TMP/notty.txt")" -eq 1 ]; then
        ok "progress line on a terminal only, not with --quiet"
    else
        not_ok "progress line" "$(od -c "$TMP/tty.txt" | head -3)"
    fi
fi

# ---- help -----------------------------------------------------------------
if "$SIM" csv --help | grep -q "Occupancy" && "$SIM" csv --help |
    grep -q "Elec2" && "$SIM" csv --help | grep -q "NAB" &&
    "$SIM" run --help | grep -q -- "--fault" && "$SIM" --help >/dev/null &&
    "$SIM" replay --help | grep -q -- "--speed" &&
    "$SIM" record --help | grep -q -- "--topic"; then
    ok "help texts, with the data-set mappings"
else
    not_ok "help texts"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
