#!/bin/sh
# learn.sh -- `make bench-learn`: bench_learn (Elec2 and Occupancy beside
# published figures, the learner's speed against a plain C AdaGrad loop in
# the same run), then scikit-learn's SGDClassifier.partial_fit measured in
# the same run (bench/sklearn_ref.py), then instructions per row counted by
# callgrind for the learner and the plain loop (no other tenant of the
# host can change a count), all as RESULT lines. Without /usr/bin/python3
# and scikit-learn, or without valgrind, that part is skipped with a
# message (make deps installs python3-sklearn; valgrind is Debian's).
#
#   BUILD=build/default sh bench/learn.sh \
#       [all|elec2|occupancy|speed|instructions]
set -u
: "${BUILD:=build/default}"
what=${1:-all}
bin=$BUILD/bench/bench_learn
out=$(mktemp) || exit 1
cg=$(mktemp) || exit 1
trap 'rm -f "$out" "$cg"' EXIT INT TERM
rc=0

# Instructions per row of one case, and its candidates: bench_learn's
# profile mode runs a warm-up outside and ROWS rows inside measured_*(),
# which alone callgrind counts (--toggle-collect); the count divided by
# ROWS, to one decimal.
instructions() {
    nc=$(valgrind --tool=callgrind --collect-atstart=no \
        --toggle-collect='measured_*' --callgrind-out-file="$cg" \
        "$bin" profile "$1" "$2" 2>/dev/null |
        sed -n 's/.* candidates=\([0-9]*\) .*/\1/p') || return 1
    [ -n "$nc" ] || return 1
    awk -v rows="$2" -v nc="$nc" \
        '/^(summary|totals):/ { printf "%.1f %d", $2 / rows, nc; exit }' "$cg"
}

instruction_results() {
    if ! command -v valgrind >/dev/null 2>&1; then
        echo "# instruction counts skipped: valgrind not found"
        return 0
    fi
    plain=$(instructions plain 200000) || return 1
    for c in one_candidate:100000 one_candidate_lean:100000 \
        default_grid:20000; do
        n=$(instructions "${c%%:*}" "${c#*:}") || return 1
        # ratio_plain: the plain loop's count over the learner's, in the
        # sense of learn_speed's (per candidate for the grid).
        echo "${c%%:*} ${c#*:} $n ${plain% *}" | awk '{
            printf "RESULT learn_instructions case=%s candidates=%d " \
                "rows=%s instructions_per_row=%s " \
                "plain_instructions_per_row=%s ratio_plain=%.3f\n", \
                $1, $4, $2, $3, $5, $5 * $4 / $3 }'
    done
}

if [ "$what" = instructions ]; then
    instruction_results
    exit $?
fi

"$bin" "$what" | tee "$out"
rc=$?
case $what in all | speed) ;; *) exit $rc ;; esac

py=/usr/bin/python3
if ! [ -x "$py" ] || ! "$py" -c 'import sklearn' 2>/dev/null; then
    echo "# scikit-learn reference skipped: $py with sklearn not found" \
         "(install python3-sklearn, e.g. make deps)"
else
    "$py" bench/sklearn_ref.py | tee -a "$out" || exit 1
    # Ratios per candidate: weir's rows/s of one candidate, and of the
    # default grid per candidate, against scikit-learn per row and per
    # 256-row batch.
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
}' "$out" || rc=1
fi
instruction_results || rc=1
exit $rc
