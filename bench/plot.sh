#!/bin/sh
# shellcheck disable=SC1003,SC2016 # gnuplot text: quotes, $ and \ are literal.
# plot.sh -- the two PNG charts of the benchmark report and the demo, drawn
# with gnuplot from plain whitespace-separated tables.
#
#   sh bench/plot.sh curve DATA OUT.png TITLE [YLABEL]
#       Learning curves. DATA's first line names the columns; the first
#       column is the x axis (window number), every other column is one
#       line on the chart, except two marker columns: a row with drift 1
#       gets a red dashed vertical line at its x ("drift detected"), a row
#       with injected 1 a grey dotted one ("drift injected", when the data
#       is simulated and the change point known). A "?" is a missing value
#       (that line has a gap there).
#
#           window champion no_change majority drift
#           1      0.81     0.77      0.58     0
#           2      0.84     0.78      0.57     1
#
#   sh bench/plot.sh bars DATA OUT.png TITLE [XLABEL]
#       Throughput. One horizontal bar per line "LABEL VALUE KIND": KIND is
#       "measured" or "reference" (drawn grey); LABEL has no spaces (use
#       "_"). Values span decades, so the axis is logarithmic.
#
# Exit status: 0 written, 1 gnuplot failed, 2 bad usage or empty data,
# 3 gnuplot is not installed (make deps installs gnuplot-nox).
set -eu

usage() {
    echo "usage: plot.sh curve|bars DATA OUT.png TITLE [AXIS-LABEL]" >&2
    exit 2
}
[ $# -ge 4 ] || usage
kind=$1
data=$2
out=$3
title=$4
label=${5:-}
[ -s "$data" ] || {
    echo "plot.sh: no data in $data" >&2
    exit 2
}
command -v gnuplot >/dev/null 2>&1 || {
    echo "plot.sh: gnuplot is not installed (make deps): $out not drawn" >&2
    exit 3
}

# gnuplot strings are double-quoted: keep titles free of quotes and
# backslashes rather than escape them.
clean() {
    printf '%s' "$1" | tr -d '"\\'
}
title=$(clean "$title")
label=$(clean "$label")

# pngcairo draws smoother text when the build has it; png (libgd) always
# exists in gnuplot-nox.
if gnuplot -e 'set terminal pngcairo' >/dev/null 2>&1; then
    term='pngcairo noenhanced size 900,520 font "sans,10"'
else
    term='png noenhanced size 900,520'
fi

script=$(mktemp "${TMPDIR:-/tmp}/weir-plot-XXXXXX")
trap 'rm -f "$script" "$script.dat"' EXIT

case $kind in
curve)
    ncol=$(awk 'NR == 1 { print NF; exit }' "$data")
    dcol=$(awk 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "drift") {
        print i; exit } }' "$data")
    icol=$(awk 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "injected") {
        print i; exit } }' "$data")
    [ "$ncol" -ge 2 ] || usage
    # gnuplot breaks a line at NaN, not at a "missing" marker.
    awk 'NR > 1 { for (i = 1; i <= NF; i++) if ($i == "?") $i = "NaN" }
        { print }' "$data" >"$script.dat"
    {
        echo "set terminal $term"
        echo "set output \"$out\""
        echo "set title \"$title\""
        echo "set xlabel \"$(awk 'NR == 1 { print $1; exit }' "$data" |
            tr -d '"\\')\""
        echo "set ylabel \"$label\""
        echo 'set key outside right top'
        rows=$(awk 'END { print NR - 1 }' "$data")
        if [ "$rows" -le 25 ]; then
            echo 'set xtics 1'
        fi
        style=linespoints
        [ "$rows" -le 60 ] || style=lines
        echo 'set format x "%.0f"'
        echo 'set grid'
        # One marker per drift (and injected) row.
        if [ -n "$dcol" ]; then
            awk -v c="$dcol" 'NR > 1 && $c == 1 {
                printf "set arrow from %s, graph 0 to %s, graph 1 " \
                    "nohead dt 2 lw 1.5 lc rgb \"#c0392b\"\n", $1, $1 }' "$data"
            echo 'set label "dashed: drift detected" at graph 0.01, graph 0.04 tc rgb "#c0392b"'
        fi
        if [ -n "$icol" ]; then
            awk -v c="$icol" 'NR > 1 && $c == 1 {
                printf "set arrow from %s, graph 0 to %s, graph 1 " \
                    "nohead dt 3 lw 2 lc rgb \"#555555\"\n", $1, $1 }' "$data"
            echo 'set label "dotted: drift injected" at graph 0.01, graph 0.09 tc rgb "#555555"'
        fi
        printf 'plot'
        sep=' '
        i=2
        while [ "$i" -le "$ncol" ]; do
            if [ "$i" != "$dcol" ] && [ "$i" != "$icol" ]; then
                # column(i), not i: an undefined value breaks the line.
                printf '%s"%s" using 1:(column(%d)) with %s title columnheader(%d)' \
                    "$sep" "$script.dat" "$i" "$style" "$i"
                sep=', '
            fi
            i=$((i + 1))
        done
        echo
    } >"$script"
    ;;
bars)
    n=$(awk 'NF >= 2 { n++ } END { print n + 0 }' "$data")
    [ "$n" -ge 1 ] || usage
    h=$((160 + 28 * n))
    {
        # Bars as boxxyerror: x from the axis minimum to the value. stats
        # runs before any range is set (it honours them).
        echo "\$d << EOD"
        # The first line of DATA at the top.
        awk -v n="$n" 'NF >= 2 { gsub(/"/, "", $1); printf "%d %s \"%s\" %s\n",
            n - (++i), $2, $1, ($3 == "reference" ? 1 : 0) }' "$data"
        echo "EOD"
        echo 'stats $d using 2 nooutput'
        echo "set terminal ${term%size*}size 900,$h${term#*520}"
        echo "set output \"$out\""
        echo "set title \"$title\""
        echo "set xlabel \"$label\""
        echo 'set logscale x'
        echo 'set grid x'
        echo 'set style fill solid 0.8 noborder'
        echo 'set ytics nomirror'
        echo "set yrange [-0.7:$n - 0.3]"
        echo 'unset key'
        echo 'lo = 10 ** floor(log10(STATS_min)) / 2'
        echo 'set xrange [lo:STATS_max * 12]'
        echo 'plot $d using (lo):1:(lo):2:($1 - 0.35):($1 + 0.35):(int($4) ? 0x999999 : 0x2e86c1):ytic(3) with boxxyerror lc rgb variable, \'
        echo '     $d using 2:1:(sprintf("%.3g", $2)) with labels left offset 0.5,0'
    } >"$script"
    ;;
*)
    usage
    ;;
esac

if ! gnuplot "$script" 2>"$script.err"; then
    echo "plot.sh: gnuplot failed on $data:" >&2
    cat "$script.err" >&2
    rm -f "$script.err"
    exit 1
fi
rm -f "$script.err"
