#!/bin/sh
# e2e.sh -- `make bench-e2e`: weir end to end against a private mosquitto
# on 127.0.0.1, each figure next to a reference measured in the same run.
#
#   BUILD=build/default sh bench/e2e.sh          (about 2-3 minutes)
#
# 1. Drain rate (the consumer alone). For each case -- protobuf Reading at
#    QoS 1 and at QoS 0, ReadingBatch of 32 metrics (+1 label) at QoS 1 --
#    a fresh broker (max_queued_messages raised, queue_qos0_messages true:
#    mosquitto.conf(5) queues QoS 0 for offline persistent sessions only
#    then) holds two persistent sessions, weir's and the reference's
#    (bench/bench_e2e_sub.c, a bare Paho MQTTAsync subscriber that only
#    counts), both subscribed at the same QoS. With both offline, weir-sim
#    queues N messages of the building scenario (100 rooms, stamped from a
#    day ago: valid readings that train both tasks) and the broker goes
#    idle; then each consumer connects in turn and drains its copy of the
#    backlog, so a slow publisher cannot hide a slow consumer. Time runs
#    from the connect to the last message processed:
#      reference  just before MQTTAsync_connect() -> its N-th callback;
#      weir       its "running:" log line (logged as its MQTT worker starts
#                 connecting; ms) -> the first /metrics answer showing
#                 weir_messages_total (+ weir_qos0_drops_total) >= N, i.e.
#                 every message decoded, logged, deduplicated, validated,
#                 turned into rows and learnt (predict, score, train).
#    weir has no `--exit-after N` and no per-message log line, so its end
#    is found by polling /metrics over one keep-alive connection, more
#    often as the count nears N (bench/bench_e2e_watch.c: 50 ms down to
#    2 ms apart; a poll costs weir ~0.15 ms of CPU, a few dozen polls per
#    drain): the end is known to a few ms (end_ms= per round, the gap to
#    the previous poll), and the figure is the conservative end of that
#    interval. weir starts
#    from an empty state directory each time (the backlog reuses sequence
#    numbers). E2E_ROUNDS rounds (3), consumers' order alternating, each
#    round a new backlog; the best round of each counts (ratio=), and
#    the median of the rounds' own ratios (round_ratio_median=, each
#    round's two drains back to back under the same load). Also CPU
#    seconds (user+system, /proc and getrusage) per message of each
#    consumer, of the best round and the median of the rounds: on a
#    shared machine the cost is steadier than the rate. Target: weir >=
#    90% of the reference's rate.
# 2. Resident memory with 1k and 100k devices: weir with max_devices =
#    the fleet size gets one ReadingBatch per device at QoS 1 (live); once
#    /metrics shows every device known, VmRSS and VmHWM from
#    /proc/PID/status; also VmRSS before the first message.
# 3. Publish-to-learned latency at half the maximum rate. weir and the
#    reference, bench/bench_e2e_relay.c (a bare Paho client in its own
#    process that subscribes to the same readings and republishes each
#    label's ts_ms at once: the floor of an MQTT-in, MQTT-out service
#    here), consume the same stream at the same time, so the machine's
#    other load is the same for both. The maximum is the lower of weir's
#    best QoS 1 drain rate above and the live path's: 3 s of publishing
#    flat out with both consumers on. bench/bench_e2e_lat.c then
#    publishes Readings (QoS 1) of 100 rooms at half that rate for
#    E2E_LAT_SECONDS (8; E2E_LAT_RATE sets the rate) and times each
#    occupancy label from just before its send to the arrival of the
#    prediction weir publishes for that row on weir/pred/occupancy/{room}
#    (publish_predictions = true; QoS 0), matched by the label's ts_ms, and
#    likewise the relay's copy; the first second is not counted.
#
# weir runs bench/e2e/weir.ini: examples/building.ini's two tasks, range
# checks, dedup, the ingest log (fsync = interval; E2E_FSYNC) and
# checkpoints, as deployed. Every process this starts (mosquitto, weir,
# the relay) is stopped on exit, Ctrl-C or TERM, and dies with the script
# (setpriv --pdeathsig) if it is killed. Settings: BUILD, E2E_ROUNDS,
# E2E_N1 (QoS 1 backlog, 60000), E2E_N0 (QoS 0, 120000), E2E_NB (batches,
# 20000), E2E_LAT_SECONDS, E2E_LAT_RATE, E2E_FSYNC, E2E_MEM_DEVICES
# ("1000 100000"), E2E_PARTS (a subset of "pb_qos1 pb_qos0 batch32 memory
# latency"; latency without pb_qos1 halves only the live maximum). Lines
# starting with '#' explain; RESULT lines are the figures (DESIGN.md
# "Benchmarks").
set -u
cd "$(dirname "$0")/.." || exit 2
: "${BUILD:=build/default}"
ROUNDS=${E2E_ROUNDS:-3}
N1=${E2E_N1:-60000}
N0=${E2E_N0:-120000}
NB=${E2E_NB:-20000}
LAT_S=${E2E_LAT_SECONDS:-8}
FSYNC=${E2E_FSYNC:-interval}
MEM_DEVICES=${E2E_MEM_DEVICES:-1000 100000}
PARTS=${E2E_PARTS:-pb_qos1 pb_qos0 batch32 memory latency}
ROOMS=100
POLL_MS=50

WEIR=$BUILD/weir
SIM=$BUILD/weir-sim
SUB=$BUILD/bench/bench_e2e_sub
WATCH=$BUILD/bench/bench_e2e_watch
LAT=$BUILD/bench/bench_e2e_lat
RELAY=$BUILD/bench/bench_e2e_relay
for b in "$WEIR" "$SIM" "$SUB" "$WATCH" "$LAT" "$RELAY"; do
    if ! [ -x "$b" ]; then
        echo "e2e.sh: $b is missing (make BUILD=$BUILD bench-e2e builds it)" >&2
        exit 2
    fi
done
PDS=
if command -v setpriv >/dev/null 2>&1; then
    PDS="setpriv --pdeathsig KILL"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/weir-e2e-XXXXXX") || exit 2
WEIR_PID=
RELAY_PID=
FAILED=0
. tests/broker.sh

# ---- processes ------------------------------------------------------------

alive() { # PID: running and not a zombie
    st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
    [ -n "$st" ] && [ "$st" != Z ]
}

stop_pid() { # PID: SIGTERM, up to 10 s, then SIGKILL
    [ -n "$1" ] || return 0
    kill -TERM "$1" 2>/dev/null || true
    i=0
    while alive "$1" && [ $i -lt 500 ]; do
        sleep 0.02
        i=$((i + 1))
    done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

cleanup() {
    stop_pid "$WEIR_PID"
    WEIR_PID=
    stop_pid "$RELAY_PID"
    RELAY_PID=
    broker_cleanup
    rm -rf "$WORK"
}

set_traps() { # after broker_start, which installs its own
    trap cleanup EXIT
    trap 'cleanup; exit 130' INT
    trap 'cleanup; exit 143' TERM
}
set_traps

fail() {
    echo "# FAILED: $*"
    FAILED=1
}

now_ms() { date +%s%3N; }

# A fresh broker: big queues, QoS 0 queued for offline persistent sessions.
new_broker() {
    broker_cleanup
    broker_start false 50000000 >/dev/null || return 1
    echo "queue_qos0_messages true" >>"$BROKER_DIR/mosquitto.conf"
    broker_restart || return 1
    set_traps
}

# Wait until mosquitto used no more than one clock tick in 100 ms.
broker_idle() {
    prev=-9
    i=0
    while [ $i -lt 100 ]; do
        cur=$(awk '{ print $14 + $15 }' "/proc/$BROKER_PID/stat" 2>/dev/null)
        [ -n "$cur" ] || return 1
        [ $((cur - prev)) -le 1 ] && return 0
        prev=$cur
        sleep 0.1
        i=$((i + 1))
    done
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null; }

# val KEY LINE: the value of KEY=value in LINE.
val() {
    echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -n 1
}

# ---- weir -----------------------------------------------------------------

# weir_config QOS TOPIC FORMAT PREDICTIONS DEVICES CLIENT
weir_config() {
    HTTP_PORT=$("$WATCH" freeport) || return 1
    STATE=$WORK/state
    sed -e "s|@STATE@|$STATE|" -e "s|@URI@|$BROKER_URI|" \
        -e "s|@CLIENT@|$6|" -e "s|@QOS@|$1|g" -e "s|@TOPIC@|$2|" \
        -e "s|@FORMAT@|$3|" -e "s|@PREDICTIONS@|$4|" \
        -e "s|@HTTP@|$HTTP_PORT|" -e "s|@DEVICES@|$5|" \
        -e "s|@FSYNC@|$FSYNC|" bench/e2e/weir.ini >"$WORK/weir.ini"
}

weir_start() { # from an empty state directory
    rm -rf "$STATE"
    : >"$WORK/weir.log"
    $PDS "$WEIR" -c "$WORK/weir.ini" 2>>"$WORK/weir.log" &
    WEIR_PID=$!
}

weir_stop() {
    stop_pid "$WEIR_PID"
    WEIR_PID=
}

# weir_wait METRICS TARGET TIMEOUT_S: the watcher's line; 1 on failure.
weir_wait() {
    out=$("$WATCH" wait "$HTTP_PORT" "$1" "$2" "$POLL_MS" "$3" "$WEIR_PID")
    rc=$?
    echo "$out"
    if [ $rc -ne 0 ]; then
        echo "# weir log:" >&2
        sed 's/^/#   /' "$WORK/weir.log" >&2
    fi
    return $rc
}

weir_counters() {
    "$WATCH" get "$HTTP_PORT" weir_messages_total weir_readings_total \
        weir_readings_accepted_total weir_task_rows_learned_total \
        weir_qos0_drops_total weir_ring_waits_total \
        weir_ring_wait_timeouts_total weir_catchups_total weir_devices
}

# Wall-clock ms of weir's "running:" log line.
weir_running_ms() {
    ts=$(sed -n 's/^\([0-9T:.-]*Z\) info  running:.*/\1/p' "$WORK/weir.log" |
        head -n 1)
    [ -n "$ts" ] && date -d "$ts" +%s%3N
}

# Let weir create its persistent session (subscribe once), then stop it.
weir_register() {
    weir_start
    weir_wait weir_mqtt_connected 1 20 >/dev/null || return 1
    weir_stop
}

# ---- 1. drain rates -------------------------------------------------------

# fill QOS SIM_ARGS...: queue a backlog; prints the number of messages.
fill() {
    q=$1
    shift
    start=$(($(date +%s) - 86400))
    line=$("$SIM" run --broker "$BROKER_URI" --max --qos "$q" \
        --devices "$ROOMS" --start "$start" --seed "$ROUND" \
        --client-id e2e-fill "$@" 2>&1 | grep ' readings in ')
    broker_idle
    echo "$line" | sed -n 's/.* readings in \([0-9]*\) messages.*/\1/p'
}

# drain_ref QOS FILTER N -> "seconds cpu_s"
drain_ref() {
    out=$("$SUB" "$BROKER_URI" e2e-ref "$2" "$1" drain "$3" 60) || return 1
    echo "$(val seconds "$out") $(val cpu_s "$out")"
}

# drain_weir N -> "seconds cpu_s counters..."
drain_weir() {
    weir_start
    w=$(weir_wait weir_messages_total,weir_qos0_drops_total "$1" 60) || {
        weir_stop
        return 1
    }
    ticks=$(cpu_ticks "$WEIR_PID")
    counters=$(weir_counters)
    t0=$(weir_running_ms)
    weir_stop
    [ -n "$t0" ] || return 1
    secs=$(awk -v a="$(val reached_ms "$w")" -v b="$t0" \
        'BEGIN { printf "%.3f", (a - b) / 1000 }')
    unc=$(($(val reached_ms "$w") - $(val prev_ms "$w")))
    cpu=$(awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" \
        'BEGIN { printf "%.2f", t / hz }')
    echo "$secs $cpu end_ms=+-$unc polls=$(val polls "$w") $counters"
}

median() { # VALUES...: the median (the mean of the middle two if even)
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "nan"; exit }
        m = int((NR + 1) / 2)
        printf "%.3f", (NR % 2 ? v[m] : (v[m] + v[m + 1]) / 2) }'
}

rate() {
    awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }'
}
per_msg_us() {
    awk -v c="$1" -v n="$2" 'BEGIN { printf "%.2f", c * 1e6 / n }'
}

# drain_case NAME QOS TOPIC FILTER FORMAT N SIM_ARGS...
drain_case() {
    name=$1
    qos=$2
    topic=$3
    filter=$4
    format=$5
    n=$6
    shift 6
    new_broker || { fail "$name: mosquitto did not start"; return; }
    weir_config "$qos" "$topic" "$format" false 1000 "weir-e2e-$name"
    weir_register || { fail "$name: weir did not connect"; return; }
    "$SUB" "$BROKER_URI" e2e-ref "$filter" "$qos" register ||
        { fail "$name: reference did not subscribe"; return; }
    best_w=0
    best_r=0
    cpu_w=''
    cpu_r=''
    ratios=''
    cpus_w=''
    cpus_r=''
    msgs=0
    wline=''
    ROUND=1
    while [ $ROUND -le "$ROUNDS" ]; do
        msgs=$(fill "$qos" --count "$n" "$@")
        if [ -z "$msgs" ] || [ "$msgs" -le 0 ]; then
            fail "$name: weir-sim queued nothing"
            return
        fi
        r=''
        w=''
        order="ref weir"
        if [ $((ROUND % 2)) -eq 0 ]; then
            order="weir ref"
        fi
        for who in $order; do
            if [ "$who" = ref ]; then
                r=$(drain_ref "$qos" "$filter" "$msgs") ||
                    { fail "$name: the reference did not drain $msgs"; return; }
            else
                w=$(drain_weir "$msgs") || {
                    fail "$name: weir did not process $msgs messages"
                    return
                }
            fi
        done
        rr=$(rate "$msgs" "${r%% *}")
        wr=$(rate "$msgs" "${w%% *}")
        wc=$(echo "$w" | cut -d' ' -f3-)
        echo "# $name round $ROUND: $msgs messages; reference" \
            "${r%% *} s ($rr msgs/s, cpu ${r#* } s); weir ${w%% *} s" \
            "($wr msgs/s, cpu $(echo "$w" | cut -d' ' -f2) s); $wc"
        ratios="$ratios $(awk -v a="$wr" -v b="$rr" \
            'BEGIN { printf "%.3f", a / b }')"
        cpus_w="$cpus_w $(per_msg_us "$(echo "$w" | cut -d' ' -f2)" "$msgs")"
        cpus_r="$cpus_r $(per_msg_us "${r#* }" "$msgs")"
        if [ "$wr" -gt "$best_w" ]; then
            best_w=$wr
            cpu_w=$(per_msg_us "$(echo "$w" | cut -d' ' -f2)" "$msgs")
            wline=$wc
        fi
        if [ "$rr" -gt "$best_r" ]; then
            best_r=$rr
            cpu_r=$(per_msg_us "${r#* }" "$msgs")
        fi
        ROUND=$((ROUND + 1))
    done
    ratio=$(awk -v a="$best_w" -v b="$best_r" 'BEGIN { printf "%.3f", a / b }')
    meets=$(awk -v r="$ratio" 'BEGIN { print (r >= 0.9 ? 1 : 0) }')
    extra=
    if [ "$name" = batch32 ]; then
        rpm=$(awk -v r="$(val weir_readings_total "$wline")" -v m="$msgs" \
            'BEGIN { printf "%.0f", r / m }')
        extra=" readings_per_msg=$rpm weir_readings_per_s=$((best_w * rpm))"
        extra="$extra ref_sub_readings_per_s=$((best_r * rpm))"
    fi
    echo "RESULT e2e_drain case=$name qos=$qos messages=$msgs" \
        "weir_msgs_per_s=$best_w ref_sub_msgs_per_s=$best_r ratio=$ratio" \
        "target_min=0.90 meets_target=$meets$extra" \
        "weir_cpu_us_per_msg=$cpu_w ref_sub_cpu_us_per_msg=$cpu_r" \
        "qos0_drops=$(val weir_qos0_drops_total "$wline") best_of=$ROUNDS" \
        "round_ratio_median=$(median $ratios)" \
        "weir_cpu_us_per_msg_median=$(median $cpus_w)" \
        "ref_sub_cpu_us_per_msg_median=$(median $cpus_r)"
    if [ "$name" = pb_qos1 ]; then
        BEST_QOS1=$best_w
    fi
}

# ---- 2. memory ------------------------------------------------------------

vm() { sed -n "s/^$1:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$2/status"; }

mem_case() { # DEVICES
    d=$1
    new_broker || { fail "memory: mosquitto did not start"; return; }
    weir_config 1 "sensors/{device}" protobuf_batch false "$d" weir-e2e-mem
    weir_start
    weir_wait weir_mqtt_connected 1 20 >/dev/null ||
        { fail "memory $d: weir did not connect"; weir_stop; return; }
    rss0=$(vm VmRSS "$WEIR_PID")
    start=$(($(date +%s) - 86400))
    "$SIM" run --broker "$BROKER_URI" --max --qos 1 --format batch \
        --devices "$d" --count $((d * 5)) --start "$start" --seed 1 \
        --client-id e2e-fill >/dev/null 2>&1 ||
        { fail "memory $d: weir-sim failed"; weir_stop; return; }
    if ! weir_wait weir_messages_total "$d" 60 >/dev/null ||
        ! weir_wait weir_devices "$d" 10 >/dev/null; then
        fail "memory $d: weir did not see every device"
        weir_stop
        return
    fi
    c=$(weir_counters)
    rss=$(vm VmRSS "$WEIR_PID")
    hwm=$(vm VmHWM "$WEIR_PID")
    weir_stop
    echo "# memory $d devices: $c"
    fleet=n$d
    if [ $((d % 1000)) -eq 0 ]; then
        fleet=$((d / 1000))k
    fi
    echo "RESULT e2e_memory fleet=$fleet vm_rss_kb=$rss vm_hwm_kb=$hwm" \
        "rss_before_kb=$rss0 devices=$d max_devices=$d" \
        "kb_per_device=$(awk -v a="$rss" -v b="$rss0" -v d="$d" \
            'BEGIN { printf "%.2f", (a - b) / d }')" \
        "messages=$(val weir_messages_total "$c")"
}

# ---- 3. latency -----------------------------------------------------------

lat_case() {
    new_broker || { fail "latency: mosquitto did not start"; return; }
    weir_config 1 "sensors/{device}/{sensor}" protobuf_reading true 1000 \
        weir-e2e-lat
    weir_start
    weir_wait weir_mqtt_connected 1 20 >/dev/null ||
        { fail "latency: weir did not connect"; weir_stop; return; }
    $PDS "$RELAY" "$BROKER_URI" 1 $((3 * LAT_S + 60)) >"$WORK/relay.out" &
    RELAY_PID=$!
    i=0
    while ! grep -q ready "$WORK/relay.out" && [ $i -lt 500 ]; do
        sleep 0.02
        i=$((i + 1))
    done
    # The live path's maximum: 3 s flat out with both consumers on.
    lm=$("$LAT" "$BROKER_URI" 0 3 "$ROOMS" 1 | grep 'path=weir')
    max_live=$(val rate "$lm")
    weir_wait weir_messages_total "$(val sent "$lm")" 30 >/dev/null ||
        { fail "latency: weir did not catch up"; weir_stop; return; }
    maxr=$max_live
    if [ -n "${BEST_QOS1:-}" ] && [ "$BEST_QOS1" -lt "${maxr:-0}" ]; then
        maxr=$BEST_QOS1
    fi
    rate=${E2E_LAT_RATE:-$((${maxr:-0} / 2))}
    if [ "$rate" -le 0 ]; then
        fail "latency: no maximum rate to halve (set E2E_LAT_RATE)"
        weir_stop
        return
    fi
    echo "# latency: live maximum $max_live msgs/s (publisher flat out," \
        "weir and the relay consuming), drain maximum ${BEST_QOS1:-?}" \
        "msgs/s; measuring at $rate msgs/s for $LAT_S s"
    out=$("$LAT" "$BROKER_URI" "$rate" "$LAT_S" "$ROOMS" 1)
    c=$(weir_counters)
    weir_stop
    stop_pid "$RELAY_PID"
    RELAY_PID=
    echo "$out" | sed 's/^/# /'
    echo "# latency weir counters: $c"
    lw=$(echo "$out" | grep 'path=weir')
    lr=$(echo "$out" | grep 'path=relay')
    if [ -z "$lw" ] || [ -z "$lr" ] || [ "$(val got "$lw")" = 0 ] ||
        [ "$(val got "$lr")" = 0 ]; then
        fail "latency: no measurement ($out)"
        return
    fi
    echo "RESULT e2e_latency weir_p50_ms=$(val p50_ms "$lw")" \
        "weir_p99_ms=$(val p99_ms "$lw") weir_max_ms=$(val max_ms "$lw")" \
        "ref_relay_p50_ms=$(val p50_ms "$lr")" \
        "ref_relay_p99_ms=$(val p99_ms "$lr")" \
        "ref_relay_max_ms=$(val max_ms "$lr")" \
        "ratio_p50=$(awk -v a="$(val p50_ms "$lw")" -v b="$(val p50_ms "$lr")" \
            'BEGIN { printf "%.2f", a / b }')" \
        "ratio_p99=$(awk -v a="$(val p99_ms "$lw")" -v b="$(val p99_ms "$lr")" \
            'BEGIN { printf "%.2f", a / b }')" \
        "qos=1 rate_hz=$(val rate "$lw") max_live_hz=$max_live" \
        "rooms=$ROOMS rows=$(val rows "$lw") weir_got=$(val got "$lw")" \
        "ref_relay_got=$(val got "$lr")" \
        "publisher_late_ms=$(val late_ms "$lw")" \
        "seconds=$LAT_S"
}

# ---- run ------------------------------------------------------------------

T0=$(now_ms)
MOSQ=$("$(_broker_bin)" -h 2>/dev/null | sed -n 's/^mosquitto version //p')
echo "# bench-e2e: $(nproc) cores, load average" \
    "$(cut -d' ' -f1-3 /proc/loadavg), mosquitto $MOSQ, fsync = $FSYNC"
BEST_QOS1=
want() { case " $PARTS " in *" $1 "*) return 0 ;; esac; return 1; }
if want pb_qos1; then
    drain_case pb_qos1 1 "sensors/{device}/{sensor}" "sensors/+/+" \
        protobuf_reading "$N1"
fi
if want pb_qos0; then
    drain_case pb_qos0 0 "sensors/{device}/{sensor}" "sensors/+/+" \
        protobuf_reading "$N0"
fi
if want batch32; then
    drain_case batch32 1 "sensors/{device}" "sensors/+" protobuf_batch \
        $((NB * 33)) --format batch --sensors 32
fi
if want memory; then
    for d in $MEM_DEVICES; do
        mem_case "$d"
    done
fi
if want latency; then
    lat_case
fi
echo "# bench-e2e: $(( ($(now_ms) - T0) / 1000 )) s, load average" \
    "$(cut -d' ' -f1-3 /proc/loadavg)"
exit $FAILED
