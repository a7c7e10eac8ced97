# broker.sh -- a private Mosquitto on a free 127.0.0.1 port, for shell tests
# and benchmarks. Source it (POSIX sh), then:
#
#   broker_start [persist] [max_queued]   sets BROKER_PORT BROKER_URI
#                                         BROKER_PID BROKER_DIR; returns 1 on
#                                         failure (log on stderr)
#   broker_stop                           SIGTERM, wait 5 s, SIGKILL; keeps
#                                         BROKER_DIR for broker_restart
#   broker_restart                        same port, same directory
#   broker_cleanup                        stop and remove BROKER_DIR
#
# BROKER_EXTRA (set before broker_start): more mosquitto.conf lines, written
# after the listener's, so listener options (cafile, certfile, keyfile,
# require_certificate, ...) apply to it and global ones (password_file,
# allow_anonymous false, ...) override the defaults above them. A TLS
# listener keeps BROKER_URI's tcp:// (make ssl://127.0.0.1:$BROKER_PORT
# yourself). With BROKER_EXTRA, readiness is mosquitto's own "running"
# log line instead of an anonymous plain-text mosquitto_pub, which such a
# listener may refuse.
#
# broker_start installs an EXIT/INT/TERM trap that calls broker_cleanup
# (pass your own cleanup afterwards if you need one, and call
# broker_cleanup from it). Mosquitto runs under `setpriv --pdeathsig KILL`
# when setpriv exists, so it dies with this shell even on SIGKILL.
# Ports: a random one in 20000..59999 is tried; if mosquitto cannot bind
# it, another (up to 10 tries). Readiness: mosquitto_pub connects (see
# BROKER_EXTRA for the exception).
# Binary: $WEIR_MOSQUITTO, else /usr/sbin/mosquitto. Safe under set -e.

BROKER_PORT=
BROKER_URI=
BROKER_PID=
BROKER_DIR=
BROKER_PERSIST=false
BROKER_MAXQ=0
BROKER_EXTRA=${BROKER_EXTRA:-}

_broker_bin() {
    if [ -n "${WEIR_MOSQUITTO:-}" ]; then echo "$WEIR_MOSQUITTO"
    elif [ -x /usr/sbin/mosquitto ]; then echo /usr/sbin/mosquitto
    else echo mosquitto; fi
}

_broker_conf() {
    {
        echo "listener $BROKER_PORT 127.0.0.1"
        echo "allow_anonymous true"
        if [ "$(id -u)" -eq 0 ]; then echo "user root"; fi
        echo "persistence $BROKER_PERSIST"
        if [ "$BROKER_PERSIST" = true ]; then
            echo "persistence_location $BROKER_DIR/"
            echo "autosave_interval 0"
        fi
        if [ "$BROKER_MAXQ" -gt 0 ]; then
            echo "max_queued_messages $BROKER_MAXQ"
        fi
        echo "log_type error"
        echo "log_type warning"
        if [ -n "$BROKER_EXTRA" ]; then
            echo "log_type information" # the "running" line: readiness
            printf '%s\n' "$BROKER_EXTRA"
        fi
    } >"$BROKER_DIR/mosquitto.conf"
}

# Lines of the log saying mosquitto runs (listeners bound); the log is
# appended to across restarts.
_broker_runs() {
    n=$(grep -c 'mosquitto version .* running' "$BROKER_DIR/mosquitto.log" \
        2>/dev/null)
    echo "${n:-0}"
}

# Ready? An anonymous publish, or with BROKER_EXTRA (which may make the
# listener TLS or closed to anonymous clients) one more "running" line.
_broker_ready() {
    if [ -n "$BROKER_EXTRA" ]; then
        [ "$(_broker_runs)" -gt "$1" ]
    else
        mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -t weir/ping -n -q 0 \
            >/dev/null 2>&1
    fi
}

# kill -0 succeeds on a zombie: read the state from /proc instead.
_broker_alive() {
    [ -n "$BROKER_PID" ] || return 1
    st=$(sed 's/.*) //' "/proc/$BROKER_PID/stat" 2>/dev/null | cut -c1)
    [ -n "$st" ] && [ "$st" != Z ]
}

_broker_spawn() {
    runs=$(_broker_runs)
    if command -v setpriv >/dev/null 2>&1; then
        setpriv --pdeathsig KILL "$(_broker_bin)" \
            -c "$BROKER_DIR/mosquitto.conf" \
            >>"$BROKER_DIR/mosquitto.log" 2>&1 </dev/null &
    else
        "$(_broker_bin)" -c "$BROKER_DIR/mosquitto.conf" \
            >>"$BROKER_DIR/mosquitto.log" 2>&1 </dev/null &
    fi
    BROKER_PID=$!
    i=0
    while [ $i -lt 500 ]; do
        if ! _broker_alive; then
            wait "$BROKER_PID" 2>/dev/null || true
            BROKER_PID=
            return 1
        fi
        if _broker_ready "$runs"; then
            return 0
        fi
        sleep 0.02
        i=$((i + 1))
    done
    broker_stop
    return 1
}

broker_start() {
    BROKER_PERSIST=${1:-false}
    BROKER_MAXQ=${2:-0}
    BROKER_DIR=$(mktemp -d "${TMPDIR:-/tmp}/weir-broker-XXXXXX") || return 1
    trap 'broker_cleanup' EXIT
    trap 'broker_cleanup; exit 130' INT
    trap 'broker_cleanup; exit 143' TERM
    tries=0
    while [ $tries -lt 10 ]; do
        r=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
        BROKER_PORT=$((20000 + r % 40000))
        _broker_conf
        if _broker_spawn; then
            BROKER_URI="tcp://127.0.0.1:$BROKER_PORT"
            return 0
        fi
        tries=$((tries + 1))
    done
    echo "broker.sh: mosquitto did not start; log:" >&2
    cat "$BROKER_DIR/mosquitto.log" >&2
    return 1
}

broker_stop() {
    [ -n "$BROKER_PID" ] || return 0
    kill -TERM "$BROKER_PID" 2>/dev/null || true
    i=0
    while _broker_alive && [ $i -lt 250 ]; do
        sleep 0.02
        i=$((i + 1))
    done
    kill -KILL "$BROKER_PID" 2>/dev/null || true
    wait "$BROKER_PID" 2>/dev/null || true
    BROKER_PID=
    return 0
}

broker_restart() {
    broker_stop
    tries=0
    while [ $tries -lt 20 ]; do
        _broker_spawn && return 0
        sleep 0.2
        tries=$((tries + 1))
    done
    echo "broker.sh: mosquitto did not restart on port $BROKER_PORT" >&2
    return 1
}

broker_cleanup() {
    broker_stop
    if [ -n "$BROKER_DIR" ] && [ -d "$BROKER_DIR" ]; then
        rm -rf "$BROKER_DIR"
    fi
    BROKER_DIR=
    return 0
}
