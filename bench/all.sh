#!/bin/sh
# all.sh -- `make bench`: run every benchmark, collect their RESULT lines and
# write BENCHMARKS.md at the top of the tree, with PNG charts in
# bench/plots/.
#
#   BUILD=build/default sh bench/all.sh
#
# Benchmarks: bench-stream, bench-learn, bench-e2e, bench-sim, bench-nab
# (DESIGN.md "Benchmarks"), in that order, then any other bench/NAME.sh or
# bench/bench_NAME.c found (but not bench_NAME_PART.c, a helper program of
# bench-NAME). Each runs as `make bench-NAME` would: the
# script bench/NAME.sh when there is one, else $BUILD/bench/bench_NAME
# (built here if missing). One that does not exist yet, fails, times out or
# prints no RESULT line is reported as such in BENCHMARKS.md, and the others
# still run; the script then exits 1 (0 when every existing bench ran and
# printed RESULT lines; a bench not written yet is not an error).
#
# What is read from a bench's output (stdout and stderr, kept in
# $BUILD/bench-report/NAME.log):
#   RESULT <name> key=value ...   a headline figure (DESIGN.md). Keys with
#       non-numeric values (profile=standard) name the row; keys containing
#       "ratio" are its ratios to references measured in the same run.
#       Keys ending in _per_s go into the throughput chart, drawn grey for
#       a reference: a key that starts with ref (the convention), or names
#       a baseline, a reference, a "minimal" implementation, scikit-learn
#       or River, or any key of a RESULT named ref*/sklearn*/river*.
#   CURVE <series> window=<n> key=value ...   one point of a learning curve
#       per validation window: each other numeric key is a line on the
#       chart of <series> (e.g. champion=0.84 no_change=0.78), drift=1 marks
#       a detected drift, injected=1 a known change point (simulated data),
#       metric=<name> labels the y axis; rows=, row= and ts_ms= are not
#       drawn.
#
# Time: the benchmarks share BENCH_BUDGET_S seconds (default 540, so that
# `make bench` stays under 10 minutes with the build), each at most
# BENCH_CAP_S (default 240); a bench that would start with less than 10 s
# left is skipped and reported. Each bench runs under timeout(1) in its own
# process group; on Ctrl-C or a timeout the whole group (brokers and
# daemons a bench started included) gets SIGTERM, then SIGKILL 10 s later.
#
# Settings: BUILD, BENCH_BUDGET_S, BENCH_CAP_S, BENCHES="nab learn" (only
# these), BENCH_OUT (default BENCHMARKS.md), BENCH_PLOTS (default
# bench/plots; image links in the report are relative to the top of the
# tree).
set -u

cd "$(dirname "$0")/.." || exit 2
: "${BUILD:=build/default}"
: "${BENCH_BUDGET_S:=540}"
: "${BENCH_CAP_S:=240}"
: "${BENCHES:=}"
: "${BENCH_OUT:=BENCHMARKS.md}"
: "${BENCH_PLOTS:=bench/plots}"
export BUILD

work=$BUILD/bench-report
rm -rf "$work"
mkdir -p "$work" || exit 2
tmp_out=${BENCH_OUT%.md}.tmp
cur=

cleanup() {
    if [ -n "$cur" ]; then
        # timeout(1) passes the signal on to its process group.
        kill -TERM "$cur" 2>/dev/null
        wait "$cur" 2>/dev/null
        cur=
    fi
    rm -f "$tmp_out"
}
trap cleanup EXIT
trap 'echo "bench/all.sh: interrupted" >&2; cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

now_ms() {
    echo $(($(date +%s%N) / 1000000))
}

# ---- which benchmarks ----------------------------------------------------
known="stream learn e2e sim nab"
extra=$(
    {
        for f in bench/bench_*.c; do
            [ -e "$f" ] || continue
            f=${f#bench/bench_}
            echo "${f%.c}"
        done
        for f in bench/*.sh; do
            [ -e "$f" ] || continue
            f=${f#bench/}
            f=${f%.sh}
            case $f in all | plot | _* | lib*) continue ;; esac
            echo "$f"
        done
    } | LC_ALL=C sort -u | while read -r n; do
        # bench_e2e_sub.c and the like are helpers of bench-e2e (the part
        # before "_" names a benchmark), not benchmarks of their own.
        case " $known " in *" $n "* | *" ${n%%_*} "*) continue ;; esac
        [ "$n" != "${n%%_*}" ] && [ -f "bench/${n%%_*}.sh" ] && continue
        echo "$n"
    done
)
names=${BENCHES:-$known $extra}

# ---- run them ------------------------------------------------------------
# $work/status: one line per bench: name status seconds results command
t_begin=$(now_ms)
status_file=$work/status
: >"$status_file"
failures=0
for n in $names; do
    log=$work/$n.log
    : >"$log"
    if [ -f "bench/$n.sh" ]; then
        set -- sh "bench/$n.sh"
        how="BUILD=$BUILD sh bench/$n.sh"
    elif [ -f "bench/bench_$n.c" ]; then
        bin=$BUILD/bench/bench_$n
        if [ ! -x "$bin" ]; then
            echo "bench/all.sh: building $bin" >&2
            make -s BUILD="$BUILD" "$bin" >"$log" 2>&1
        fi
        set -- "$bin"
        how=$bin
    else
        echo "$n missing 0 0 -" >>"$status_file"
        echo "bench/all.sh: bench-$n: not written yet, skipped" >&2
        continue
    fi
    if [ ! -x "$1" ] && [ "$1" != sh ]; then
        echo "$n build_failed 0 0 $how" >>"$status_file"
        failures=$((failures + 1))
        continue
    fi
    left=$((BENCH_BUDGET_S - ($(now_ms) - t_begin) / 1000))
    if [ $left -lt 10 ]; then
        echo "$n no_time 0 0 $how" >>"$status_file"
        echo "bench/all.sh: bench-$n: time budget spent, skipped" >&2
        failures=$((failures + 1))
        continue
    fi
    cap=$BENCH_CAP_S
    [ $left -lt "$cap" ] && cap=$left
    load=$(cut -d' ' -f1 /proc/loadavg)
    echo "bench/all.sh: bench-$n (at most ${cap} s, load $load)" >&2
    t0=$(now_ms)
    timeout -k 10 "$cap" "$@" >>"$log" 2>&1 </dev/null &
    cur=$!
    wait "$cur"
    rc=$?
    cur=
    ms=$(($(now_ms) - t0))
    sec=$(awk -v m="$ms" 'BEGIN { printf "%.1f", m / 1000 }')
    nres=$(grep -c '^RESULT ' "$log")
    if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
        st=timeout
    elif [ $rc -ne 0 ]; then
        st=failed_$rc
    elif [ "$nres" -eq 0 ]; then
        st=no_result
    else
        st=ok
    fi
    [ $st = ok ] || failures=$((failures + 1))
    echo "$n $st $sec $nres $how" >>"$status_file"
    echo "bench/all.sh: bench-$n: $st in $sec s, $nres RESULT lines" >&2
    grep '^RESULT ' "$log" | sed "s/^/$n /" >>"$work/results"
    grep '^CURVE ' "$log" | sed "s/^/$n /" >>"$work/curves"
    echo "$load" >"$work/$n.load"
done
touch "$work/results" "$work/curves"

# ---- charts --------------------------------------------------------------
plots_tmp=$work/plots
mkdir -p "$plots_tmp"
plot_note=
if ! command -v gnuplot >/dev/null 2>&1; then
    plot_note="No charts: gnuplot is not installed (\`make deps\` installs it)."
else
    # Throughput: every *_per_s figure; references grey (see the top).
    # Lines of one result that would get the same label (sim_publish at
    # qos=0 and qos=1) get the first key whose value tells them apart.
    awk '
    function kv(line, K, V,    f, nf, i, k) {
        nf = split(line, f, " ")
        for (i = 4; i <= nf; i++) {
            k = f[i]; sub(/=.*/, "", k)
            K[i - 3] = k; V[i - 3] = substr(f[i], length(k) + 2)
        }
        return nf - 3
    }
    {
        L[++n] = $0; id[n] = $3
        for (i = 4; i <= NF; i++) {
            k = $i; sub(/=.*/, "", k); v = substr($i, length(k) + 2)
            if (v !~ /^[-+]?[0-9.]+([eE][-+]?[0-9]+)?$/ && v !~ /\//)
                id[n] = id[n] "_" v
        }
    }
    END {
        for (l = 1; l <= n; l++) {
            extra = ""
            for (o = 1; o <= n && extra == ""; o++) {
                if (o == l || id[o] != id[l]) continue
                delete K; delete V; delete K2; delete V2
                m = kv(L[l], K, V); m2 = kv(L[o], K2, V2)
                for (i = 1; i <= m && i <= m2; i++)
                    if (K[i] == K2[i] && V[i] != V2[i]) {
                        extra = "_" K[i] V[i]; break
                    }
            }
            delete K; delete V
            m = kv(L[l], K, V)
            split(L[l], f, " ")
            for (i = 1; i <= m; i++) {
                if (K[i] !~ /_per_s$/ || V[i] !~ /^[0-9.]+([eE][-+]?[0-9]+)?$/ ||
                    V[i] + 0 <= 0)
                    continue
                ref = K[i] ~ /^ref|_ref_|baseline|reference|minimal|sklearn|river/ ||
                    f[3] ~ /^(ref|sklearn|river)/
                print id[l] extra ":" K[i], V[i], (ref ? "reference" : "measured")
            }
        }
    }' "$work/results" >"$work/throughput.dat"
    if [ -s "$work/throughput.dat" ]; then
        sh bench/plot.sh bars "$work/throughput.dat" \
            "$plots_tmp/throughput.png" \
            "weir throughput (grey: references measured in the same run)" \
            "per second (log scale)" || plot_note="Throughput chart failed."
    fi
    # Learning curves: one chart per CURVE series.
    # shellcheck disable=SC2013 # series names are single words
    for s in $(awk '{ print $3 }' "$work/curves" | LC_ALL=C sort -u); do
        case $s in *[!A-Za-z0-9_.-]*) continue ;; esac
        awk -v s="$s" -v dat="$work/curve-$s.dat" \
            -v ylab="$work/curve-$s.ylabel" '
        $3 != s { next }
        {
            n++; w[n] = "?"
            for (i = 4; i <= NF; i++) {
                k = $i; sub(/=.*/, "", k); v = substr($i, length(k) + 2)
                if (k == "window") { w[n] = v; continue }
                if (k == "metric") { metric = v; continue }
                if (k == "rows" || k == "row" || k == "ts_ms") continue
                if (v !~ /^[-+]?[0-9.]+([eE][-+]?[0-9]+)?$/ && v != "nan")
                    continue
                if (!(k in seen)) { seen[k] = 1; cols[++nc] = k }
                val[n, k] = (v == "nan") ? "?" : v
            }
        }
        END {
            hdr = "window"
            for (c = 1; c <= nc; c++) hdr = hdr " " cols[c]
            print hdr > dat
            for (r = 1; r <= n; r++) {
                line = w[r]
                for (c = 1; c <= nc; c++) {
                    k = cols[c]
                    line = line " " (((r, k) in val) ? val[r, k] : \
                        (k == "drift" || k == "injected" ? 0 : "?"))
                }
                print line > dat
            }
            print (metric == "" ? "metric" : metric) > ylab
        }' "$work/curves"
        sh bench/plot.sh curve "$work/curve-$s.dat" \
            "$plots_tmp/learning-$s.png" \
            "$s: validation metric per window (champion vs baselines)" \
            "$(cat "$work/curve-$s.ylabel")" ||
            plot_note="A learning-curve chart failed."
    done
fi

# ---- BENCHMARKS.md -------------------------------------------------------
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    commit="$commit (with uncommitted changes)"
fi
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
[ -n "$cpu" ] || cpu=$(uname -m)
cores=$(nproc 2>/dev/null || echo "?")
mem=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
os=$(sed -n 's/^PRETTY_NAME="\(.*\)"/\1/p' /etc/os-release 2>/dev/null)
cc_v=$(${CC:-cc} --version 2>/dev/null | head -n 1)
when=$(date -u '+%Y-%m-%d %H:%M UTC')
total_s=$(( ($(now_ms) - t_begin) / 1000 ))

{
    echo "# weir benchmarks"
    echo
    echo "Written by \`make bench\` (bench/all.sh) on $when at commit"
    echo "$commit, in ${total_s} s. Every figure was measured in this run;"
    echo "a ratio compares with a reference measured in the same run on the"
    echo "same machine. Run \`make bench\` to measure again, or one line's"
    echo "command below for one benchmark."
    echo
    echo "| machine | |"
    echo "|---|---|"
    echo "| CPU | $cpu, $cores cores online |"
    echo "| memory | $mem |"
    echo "| system | ${os:-unknown}, Linux $(uname -r) |"
    echo "| compiler | ${cc_v:-unknown} (build: \`$BUILD\`) |"
    echo "| load average at start | $(cut -d' ' -f1-3 /proc/loadavg) (shared machines lower the figures) |"
    case $BUILD in
    *asan* | *tsan*)
        echo
        echo "**Sanitizer build: these figures say nothing about speed.**"
        ;;
    esac
    echo
    awk -v work="$work" -v plots="$BENCH_PLOTS" -f /dev/stdin \
        "$status_file" <<'AWK'
function isnum(v) { return v ~ /^[-+]?[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?$/ }
function esc(v) { gsub(/\|/, "\\|", v); return v }
function stname(st, sec) {
    if (st == "ok") return "ok"
    if (st == "missing") return "not written yet"
    if (st == "timeout") return "**timed out** after " sec " s"
    if (st == "no_time") return "**skipped**: time budget spent"
    if (st == "no_result") return "**printed no RESULT line**"
    if (st == "build_failed") return "**did not build**"
    if (st ~ /^failed_/) return "**failed** (exit " substr(st, 8) ")"
    return st
}
function repro(n, how) {
    return "`make bench-" n "`" (how == "-" ? "" : " (`" how "`)")
}
# Split a RESULT line (fields from 3) into keys/values.
function split_kv(line, K, V,    f, nf, i, k) {
    nf = split(line, f, " ")
    for (i = 4; i <= nf; i++) {
        k = f[i]; sub(/=.*/, "", k)
        K[i - 3] = k
        V[i - 3] = (index(f[i], "=") ? substr(f[i], length(k) + 2) : "")
    }
    return nf - 3
}
{
    n = $1; st[n] = $2; sec[n] = $3; nres[n] = $4
    how[n] = $5; for (i = 6; i <= NF; i++) how[n] = how[n] " " $i
    order[++nb] = n
}
END {
    # Summary.
    print "| benchmark | status | seconds | RESULT lines | reproduce |"
    print "|---|---|---|---|---|"
    for (b = 1; b <= nb; b++) {
        n = order[b]
        printf "| bench-%s | %s | %s | %s | %s |\n", n, stname(st[n], sec[n]),
            (st[n] == "missing" ? "" : sec[n]), nres[n], repro(n, how[n])
    }
    print ""
    # Headlines: one row per RESULT line.
    nl = 0
    while ((getline line < (work "/results")) > 0) {
        split(line, f, " ")
        rb[++nl] = f[1]; rn[nl] = f[3]; rl[nl] = line
    }
    if (nl > 0) {
        print "## Headline figures"
        print ""
        print "Per RESULT line: its throughput, or else its first figure, and"
        print "its ratios to the references measured in the same run (every"
        print "figure: per benchmark below)."
        print ""
        print "| benchmark | result | figure | ratios |"
        print "|---|---|---|---|"
        for (l = 1; l <= nl; l++) {
            delete K; delete V
            m = split_kv(rl[l], K, V)
            id = rn[l]; fig = ""; rat = ""; rate = ""
            for (i = 1; i <= m; i++) {
                if (V[i] ~ /^[0-9.]+\/[0-9.]+$/) continue   # a fraction
                if (!isnum(V[i])) { id = id " " K[i] "=" V[i]; continue }
                if (K[i] ~ /ratio/) {
                    rat = rat (rat == "" ? "" : ", ") K[i] "=" V[i]
                } else if (fig == "") fig = K[i] "=" V[i]
                if (rate == "" && K[i] ~ /_per_s$/ && K[i] !~ /^ref/)
                    rate = K[i] "=" V[i]
            }
            # A throughput is the headline of a line that has one.
            if (rate != "") fig = rate
            hid[l] = id; hfig[l] = fig; hrat[l] = rat
        }
        # Lines of one result that read the same so far (sim_publish at
        # qos=0 and qos=1) get the first key whose value tells them apart.
        for (l = 1; l <= nl; l++) {
            extra = ""
            for (o = 1; o <= nl && extra == ""; o++) {
                if (o == l || rb[o] != rb[l] || hid[o] != hid[l]) continue
                delete K; delete V; delete K2; delete V2
                m = split_kv(rl[l], K, V); m2 = split_kv(rl[o], K2, V2)
                for (i = 1; i <= m && i <= m2; i++)
                    if (K[i] == K2[i] && V[i] != V2[i]) {
                        extra = " " K[i] "=" V[i]; break
                    }
            }
            printf "| bench-%s | %s | %s | %s |\n", rb[l], esc(hid[l] extra),
                esc(hfig[l]), (hrat[l] == "" ? "-" : esc(hrat[l]))
        }
        print ""
    }
    # Per benchmark.
    for (b = 1; b <= nb; b++) {
        n = order[b]
        print "## bench-" n
        print ""
        print "Status: " stname(st[n], sec[n]) \
            (st[n] == "ok" ? " in " sec[n] " s" : "") "."
        if (st[n] == "missing") {
            print "Neither bench/" n ".sh nor bench/bench_" n ".c exists yet."
            print ""
            continue
        }
        print "Reproduce: " repro(n, how[n]) "."
        ld = ""
        getline ld < (work "/" n ".load")
        close(work "/" n ".load")
        if (ld != "") print "Load average when it started: " ld "."
        print ""
        # Its RESULT lines, grouped by name, in order of appearance.
        ng = 0; delete gseen
        for (l = 1; l <= nl; l++) {
            if (rb[l] != n) continue
            if (!(rn[l] in gseen)) { gseen[rn[l]] = 1; gname[++ng] = rn[l] }
        }
        for (g = 1; g <= ng; g++) {
            delete cols; delete cseen; nc = 0; nr = 0
            delete cell
            for (l = 1; l <= nl; l++) {
                if (rb[l] != n || rn[l] != gname[g]) continue
                nr++
                delete K; delete V
                m = split_kv(rl[l], K, V)
                for (i = 1; i <= m; i++) {
                    if (!(K[i] in cseen)) { cseen[K[i]] = 1; cols[++nc] = K[i] }
                    cell[nr, K[i]] = V[i]
                }
            }
            print "### " gname[g]
            print ""
            if (nr <= 4 && nc > 6) {
                # Few rows, many keys: one column per RESULT line.
                hdr = "| key |"; sep = "|---|"
                for (r = 1; r <= nr; r++) { hdr = hdr " " r " |"; sep = sep "---|" }
                print hdr; print sep
                for (c = 1; c <= nc; c++) {
                    row = "| " esc(cols[c]) " |"
                    for (r = 1; r <= nr; r++)
                        row = row " " esc(((r, cols[c]) in cell) ? \
                            cell[r, cols[c]] : "") " |"
                    print row
                }
            } else {
                hdr = "|"; sep = "|"
                for (c = 1; c <= nc; c++) {
                    hdr = hdr " " esc(cols[c]) " |"; sep = sep "---|"
                }
                print hdr; print sep
                for (r = 1; r <= nr; r++) {
                    row = "|"
                    for (c = 1; c <= nc; c++)
                        row = row " " esc(((r, cols[c]) in cell) ? \
                            cell[r, cols[c]] : "") " |"
                    print row
                }
            }
            print ""
        }
        if (st[n] != "ok") {
            print "Last lines of its output (" work "/" n ".log):"
            print ""
            print "```"
            cmd = "tail -n 15 '" work "/" n ".log'"
            while ((cmd | getline line) > 0) print line
            close(cmd)
            print "```"
            print ""
        }
    }
}
AWK
    echo "## Charts"
    echo
    if [ -n "$plot_note" ]; then
        echo "$plot_note"
        echo
    fi
    if [ -f "$plots_tmp/throughput.png" ]; then
        echo "Throughput (every \`*_per_s\` figure; grey bars are references):"
        echo
        echo "![throughput]($BENCH_PLOTS/throughput.png)"
        echo
    else
        echo "No throughput chart: no RESULT line had a \`*_per_s\` figure."
        echo
    fi
    found_curve=false
    for f in "$plots_tmp"/learning-*.png; do
        [ -e "$f" ] || continue
        found_curve=true
        b=$(basename "$f")
        s=${b#learning-}
        echo "Learning curve, ${s%.png} (validation metric per window;"
        echo "dashed lines: drift detected):"
        echo
        echo "![${s%.png}]($BENCH_PLOTS/$b)"
        echo
    done
    if ! $found_curve; then
        echo "No learning curves: no benchmark printed CURVE lines."
        echo
    fi
    echo "<details><summary>Every RESULT line, as printed</summary>"
    echo
    echo '```'
    cut -d' ' -f2- "$work/results"
    echo '```'
    echo
    echo "</details>"
} >"$tmp_out"

# Replace the report and its charts together.
mkdir -p "$BENCH_PLOTS"
rm -f "$BENCH_PLOTS"/throughput.png "$BENCH_PLOTS"/learning-*.png
for f in "$plots_tmp"/*.png; do
    [ -e "$f" ] && cp "$f" "$BENCH_PLOTS/"
done
mv "$tmp_out" "$BENCH_OUT"
echo "bench/all.sh: wrote $BENCH_OUT ($failures problem(s)); logs in $work" >&2
[ $failures -eq 0 ]
