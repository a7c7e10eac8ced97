#!/bin/sh
# test_weir_cli.sh -- the weir command line without a broker: --help and
# --version, check-config with file:line errors, replay of a real data set
# (UCI Occupancy, CSV) into a snapshot, inspect, predict on the held-out
# test file (accuracy well above the majority class), and determinism
# (two replays give the same bytes).
#
#   BUILD=build/default sh tests/test_weir_cli.sh
set -u
: "${BUILD:=build/default}"
WEIR="$BUILD/weir"
DATA=${WEIR_DATA:-/work/shared/data}/occupancy
pass=0
fail=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/weir-cli-XXXXXX")
trap 'rm -rf "$tmp"' EXIT

ok() { pass=$((pass + 1)); echo "ok - $1"; }
not_ok() { fail=$((fail + 1)); echo "not ok - $1"; }
check() { if eval "$2"; then ok "$1"; else not_ok "$1"; fi; }

check "version" '[ "$("$WEIR" --version)" = "weir 0.1.0" ]'
check "help exits 0" '"$WEIR" --help >/dev/null'
"$WEIR" frobnicate >/dev/null 2>&1
check "bad usage exits 2" '[ $? -eq 2 ]'

# A misspelt key: exit 2, and the error names file and line.
cat >"$tmp/bad.ini" <<EOF
[weir]
state_dir = $tmp/state
[subscription s]
topic = sensors/{device}
format = protobuf_batch
[task t]
kind = regression
feautres = a
target = b
EOF
"$WEIR" check-config "$tmp/bad.ini" >"$tmp/out" 2>"$tmp/err"
check "check-config refuses a bad file" '[ $? -eq 2 ]'
check "check-config says file:line" 'grep -q "bad.ini:8: error" "$tmp/err"'

cat >"$tmp/occ.ini" <<EOF
[weir]
state_dir = $tmp/state
[mqtt]
client_id = weir-cli-test
[subscription batches]
topic = sensors/{device}
format = protobuf_batch
[task occupancy]
kind = classification
features = Temperature, Humidity, Light, CO2
target = Occupancy
classes = empty, occupied
window = 500 rows
models = logistic
optimizers = adagrad, normalized
learning_rates = 0.5, 0.1
l2 = 0
[snapshot]
min_interval = 0s
EOF
check "check-config accepts a good file" \
    '"$WEIR" check-config "$tmp/occ.ini" >/dev/null 2>&1'

MAP="ts=date;labels=Occupancy;sensors=Temperature,Humidity,Light,CO2;device=room"
if [ -r "$DATA/datatraining.txt" ]; then
    mkdir "$tmp/a" "$tmp/b"
    "$WEIR" replay -c "$tmp/occ.ini" --csv "$MAP" --out "$tmp/a" \
        "$DATA/datatraining.txt" >"$tmp/stats.json" 2>"$tmp/err"
    check "replay of a CSV data set exits 0" '[ $? -eq 0 ]'
    check "replay counted every row" \
        'grep -q "\"messages\":[[:space:]]*8143" "$tmp/stats.json"'
    check "replay wrote the snapshot" '[ -s "$tmp/a/occupancy.pb" ]'
    "$WEIR" replay -c "$tmp/occ.ini" --csv "$MAP" --out "$tmp/b" \
        "$DATA/datatraining.txt" >/dev/null 2>&1
    check "replay is deterministic" \
        'cmp -s "$tmp/a/occupancy.pb" "$tmp/b/occupancy.pb"'
    "$WEIR" inspect "$tmp/a/occupancy.pb" >"$tmp/snap.json"
    check "inspect prints the snapshot" \
        'grep -q "\"task\":[[:space:]]*\"occupancy\"" "$tmp/snap.json" &&
         grep -q "\"kind\":[[:space:]]*\"logistic\"" "$tmp/snap.json"'
    # Held-out file: header Temperature,...; rows without the id column.
    awk -F, 'NR == 1 { print "Temperature,Humidity,Light,CO2"; next }
             { print $3 "," $4 "," $5 "," $6 }' "$DATA/datatest.txt" \
        >"$tmp/x.csv"
    awk -F, 'NR > 1 { print $8 }' "$DATA/datatest.txt" >"$tmp/y.txt"
    "$WEIR" predict "$tmp/a/occupancy.pb" <"$tmp/x.csv" >"$tmp/pred.csv"
    check "predict answers every row" \
        '[ $(($(wc -l <"$tmp/pred.csv") - 1)) -eq $(wc -l <"$tmp/y.txt") ]'
    # Majority class of datatest.txt is 63.5 %; the paper's models reach
    # 95-99 % with these features. Demand clearly better than majority.
    acc=$(tail -n +2 "$tmp/pred.csv" | cut -d, -f1 | paste -d, - "$tmp/y.txt" |
        awk -F, '{ n++; if (($1 == "occupied") == ($2 == 1)) k++ }
                 END { printf "%.4f", k / n }')
    echo "# held-out accuracy $acc"
    check "held-out accuracy above 0.9" \
        'awk "BEGIN { exit !($acc > 0.9) }"'
else
    echo "# $DATA missing: data-set checks not run"
    not_ok "occupancy data set readable"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
