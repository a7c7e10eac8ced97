#!/bin/sh
# learn.sh -- `make bench-learn`: bench_learn (Elec2 and Occupancy beside
# published figures, the learner's speed), then scikit-learn's
# SGDClassifier.partial_fit measured in the same run (bench/sklearn_ref.py)
# and the speed ratios, all as RESULT lines. Without /usr/bin/python3 and
# scikit-learn the reference is skipped with a message (make deps installs
# python3-sklearn).
#
#   BUILD=build/default sh bench/learn.sh [all|elec2|occupancy|speed]
set -u
: "${BUILD:=build/default}"
what=${1:-all}
out=$(mktemp) || exit 1
trap 'rm -f "$out"' EXIT INT TERM

"$BUILD/bench/bench_learn" "$what" | tee "$out"
rc=$?
case $what in all | speed) ;; *) exit $rc ;; esac

py=/usr/bin/python3
if ! [ -x "$py" ] || ! "$py" -c 'import sklearn' 2>/dev/null; then
    echo "# scikit-learn reference skipped: $py with sklearn not found" \
         "(install python3-sklearn, e.g. make deps)"
    exit $rc
fi
"$py" bench/sklearn_ref.py | tee -a "$out" || exit 1

# Ratios per candidate: weir's rows/s of one candidate, and of the default
# grid per candidate, against scikit-learn per row and per 256-row batch.
awk '
function val(line, key,    i, n, f) {
    n = split(line, f, " ")
    for (i = 1; i <= n; i++)
        if (index(f[i], key "=") == 1)
            return substr(f[i], length(key) + 2)
    return ""
}
/^RESULT learn_speed case=one_candidate / { one = val($0, "candidate_rows_per_s") }
/^RESULT learn_speed case=default_grid/ { grid = val($0, "candidate_rows_per_s"); nc = val($0, "candidates") }
/^RESULT sklearn_speed mode=per_row/ { row = val($0, "rows_per_s") }
/^RESULT sklearn_speed mode=batch256/ { bat = val($0, "rows_per_s") }
END {
    if (one == "" || grid == "" || row == "" || bat == "") {
        print "# ratios: missing figures"; exit 1
    }
    printf "RESULT learn_vs_sklearn case=one_candidate weir_rows_per_s=%.0f sklearn_per_row=%.0f ratio_per_row=%.0f sklearn_batch256=%.0f ratio_batch256=%.2f\n", one, row, one / row, bat, one / bat
    printf "RESULT learn_vs_sklearn case=default_grid candidates=%d weir_rows_per_s_per_candidate=%.0f sklearn_per_row=%.0f ratio_per_row=%.0f sklearn_batch256=%.0f ratio_batch256=%.2f\n", nc, grid, row, grid / row, bat, grid / bat
}' "$out"
