#!/bin/sh
# test_weir_cli.sh -- the weir command line without a broker: --help and
# --version, check-config with file:line errors, replay of a real data set
# (UCI Occupancy, CSV) into a snapshot, inspect, predict on the held-out
# test file (accuracy well above the majority class), determinism (two
# replays give the same bytes), and inspect's input_scale: the normalized
# optimizer's per-input scales, null for other optimizers.
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
    # input_scale: an array of one scale per input for the normalized
    # optimizer, null otherwise. A feature's scale is the largest |input|
    # it saw (> 0 for a feature that varies); a "?missing" indicator's is
    # 0 here, since no value of this data set is missing.
    sed 's/^optimizers = .*/optimizers = normalized/' "$tmp/occ.ini" \
        >"$tmp/nag.ini"
    mkdir "$tmp/n"
    "$WEIR" replay -c "$tmp/nag.ini" --csv "$MAP" --out "$tmp/n" \
        "$DATA/datatraining.txt" >/dev/null 2>&1
    "$WEIR" inspect "$tmp/n/occupancy.pb" >"$tmp/nag.json"
    scales() { # file: "optimizer verdict" from inspect's JSON
        /usr/bin/python3 -c '
import json, math, sys
d = json.load(open(sys.argv[1]))
s, names = d.get("input_scale", "absent"), [i["name"] for i in d["inputs"]]
if s is None or s == "absent":
    print(d["optimizer"], "null" if s is None else "absent")
elif len(s) != len(names) or not all(math.isfinite(v) for v in s):
    print(d["optimizer"], "bad-length-or-value")
else:
    ok = all((v == 0) if n.endswith("?missing") else (v > 0)
             for n, v in zip(names, s))
    print(d["optimizer"], "array" if ok else "bad-scales",
          sum(1 for n in names if not n.endswith("?missing")))
' "$1" 2>&1
    }
    v=$(scales "$tmp/nag.json")
    echo "# normalized: $v"
    check "inspect prints input_scale for the normalized optimizer" \
        '[ "$v" = "normalized array 4" ]'
    v=$(scales "$tmp/snap.json")
    echo "# champion of the first replay: $v"
    check "inspect prints input_scale null (or scales) by optimizer" \
        'case $v in "adagrad null" | "normalized array 4") true ;;
         *) false ;; esac'
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
