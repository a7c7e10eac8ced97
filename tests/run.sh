#!/bin/sh
# run.sh -- run test binaries and tests/test_*.sh scripts, each under
# timeout in its own process; sum their "N passed, N failed" lines into one.
#
#   BUILD=build/default TEST_TIMEOUT=300 sh tests/run.sh build/default/tests/*
#   T=ring sh tests/run.sh ...    only tests whose name contains "ring"
#
# A binary or script that dies or times out before its closing line counts
# as one failure. Logs are kept beside each binary (NAME.log).
set -u
: "${BUILD:=build/default}" "${TEST_TIMEOUT:=300}" "${T:=}"
export BUILD
logdir="$BUILD/tests"
mkdir -p "$logdir"

total_pass=0
total_fail=0
for t in "$@" tests/test_*.sh; do
    [ -e "$t" ] || continue
    name=$(basename "$t")
    case $name in *"$T"*) ;; *) continue ;; esac
    log="$logdir/$name.log"
    case $t in
    *.sh) timeout -k 10 "$TEST_TIMEOUT" sh "$t" >"$log" 2>&1 ;;
    *) timeout -k 10 "$TEST_TIMEOUT" "$t" >"$log" 2>&1 ;;
    esac
    rc=$?
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
    if [ -n "$line" ]; then
        p=${line%% passed*}
        f=${line#*passed, }
        f=${f%% failed*}
    else
        p=0
        f=0
    fi
    if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1   # died, timed out (rc 124) or failed without saying so
    fi
    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
    if [ "$f" -eq 0 ]; then
        echo "PASS $name ($p)"
    else
        echo "FAIL $name ($p passed, $f failed, rc $rc; log: $log)"
        grep -E '^not ok|assert|ERROR|Sanitizer|runtime error' "$log" | head -n 20 | sed 's/^/    /'
    fi
done
echo "$total_pass passed, $total_fail failed"
[ $total_fail -eq 0 ]
