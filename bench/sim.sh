#!/bin/sh
# sim.sh -- `make bench-sim`: how fast weir-sim publishes, next to a minimal
# Paho publisher measured in the same run against the same local mosquitto.
#
#   RESULT sim_publish qos=Q weir_sim_msgs_per_s=A paho_minimal_msgs_per_s=B
#          ratio=A/B payload_bytes=S messages=N best_of=3
#   RESULT sim_generate readings_per_s=R messages_per_s=M   (no broker)
#
# weir-sim: `run --max` of the building scenario, protobuf Reading per
# message (generation, encoding, seq numbers, flow control included); the
# reference (bench/bench_sim.c, sim/minpub.c) sends one fixed payload of
# the same mean size with the same in-flight window (1024). Each figure is
# the best of 3 interleaved runs (the machine is shared). About a minute.
set -eu
: "${BUILD:=build/default}"
SIM=$BUILD/weir-sim
REF=$BUILD/bench/bench_sim
. tests/broker.sh
broker_start false 1000000 >/dev/null

N0=${SIM_BENCH_N0:-100000}
N1=${SIM_BENCH_N1:-40000}

# weir-sim run; prints "msgs_per_s bytes_per_msg"
sim_rate() {
    "$SIM" run --broker "$BROKER_URI" --max --qos "$1" --count "$2" \
        --seed 1 2>&1 | awk '
        / readings in / {
            for (i = 1; i <= NF; i++) {
                if ($(i+1) == "messages") m = $i
                if ($(i+1) == "bytes)") b = substr($i, 2)
                if ($(i+1) == "s,") s = $i
            }
        }
        END { if (s > 0) printf "%.0f %.0f\n", m / s, b / m }'
}

best() { # keep the larger of $1 and $2
    awk -v a="$1" -v b="$2" 'BEGIN { print (a > b ? a : b) }'
}

for qos in 0 1; do
    n=$N0
    [ "$qos" -eq 1 ] && n=$N1
    w=0
    r=0
    size=38
    for i in 1 2 3; do
        set -- $(sim_rate "$qos" "$n")
        w=$(best "$w" "$1")
        size=$2
        m=$("$REF" "$BROKER_URI" "$qos" "$n" "$size" |
            sed 's/msgs_per_s=\([0-9]*\).*/\1/')
        r=$(best "$r" "$m")
    done
    ratio=$(awk -v a="$w" -v b="$r" 'BEGIN { printf "%.3f", a / b }')
    echo "RESULT sim_publish qos=$qos weir_sim_msgs_per_s=$w" \
        "paho_minimal_msgs_per_s=$r ratio=$ratio payload_bytes=$size" \
        "messages=$n best_of=3"
done
broker_cleanup

# Generation alone (no broker): all faults on, 1M readings.
"$SIM" run --dry-run --count 1000000 --fault dup=0.01 --fault reorder=0.01 \
    --fault corrupt=0.001 --fault nan=0.001 --fault spike=0.001 \
    --fault stuck=0.0005 2>&1 | awk '
    / readings in / {
        for (i = 1; i <= NF; i++) {
            if ($(i+1) == "readings") r = $i
            if ($(i+1) == "messages") m = $i
            if ($(i+1) == "s,") s = $i
        }
    }
    END { printf "RESULT sim_generate readings_per_s=%.0f messages_per_s=%.0f" \
          " faults=6\n", r / s, m / s }'
