#!/bin/sh
# test_tls.sh -- the weir daemon over TLS, against real Mosquitto brokers
# with TLS listeners (tests/broker.sh, BROKER_EXTRA), with certificates
# made at run time by openssl: a throwaway CA, a server certificate for
# 127.0.0.1 and localhost, one naming only other.example, a client
# certificate, and a second CA with its own client certificate (EC P-256
# keys: fast). mosquitto_passwd makes the password file.
#
# Broker A (TLS, passwords, no anonymous clients):
#   - MQTT 3.1.1, ca_file, password: connects, `online` on the status
#     topic, /healthz 200, readings published over TLS are all counted and
#     learned; SIGTERM exits 0 and leaves `offline`;
#   - MQTT 5 on mqtts://localhost with a password_file: the same;
#   - ca_file of another CA: no connection, "certificate verify failed",
#     /healthz 503 connected:false;
#   - no ca_file: the system's store (OpenSSL's default paths) is used --
#     refused as is, accepted with SSL_CERT_FILE naming our CA;
#   - ca_file as a directory hashed by `openssl rehash`: connects;
#   - a wrong password, 3.1.1 and 5: refused with the CONNACK code named
#     (MQTT 5's code not 0), weir keeps retrying with back-off (a few
#     attempts in 4 s, not a spin), stays up, exits 0 on SIGTERM.
# Broker C (its certificate names other.example only):
#   - tls_verify = true: refused, the log names the host (OpenSSL gives no
#     reason for a host-name mismatch, so weir's line offers it beside a
#     client certificate); false: connects, to the same broker with the
#     same files, so the name was the only difference.
# Broker B (TLS, require_certificate, passwords):
#   - cert_file and key_file: connects, readings counted (3.1.1 and 5);
#   - no client certificate: refused, the log says one is required (and
#     the broker's log shows that it got none);
#   - a client certificate of another CA: refused, the log names the file
#     (and the broker's log shows that it refused it).
#
#   BUILD=build/default sh tests/test_tls.sh      (KEEP=1 keeps the files)
set -u
: "${BUILD:=build/default}"
WEIR="$BUILD/weir"
. tests/broker.sh

pass=0
fail=0
WEIR_PID=
HTTP_PORT=
tmp=$(mktemp -d "${TMPDIR:-/tmp}/weir-tls-XXXXXX")

ok() { pass=$((pass + 1)); echo "ok - $1"; }
not_ok() { fail=$((fail + 1)); echo "not ok - $1"; }
check() { if eval "$2"; then ok "$1"; else not_ok "$1"; fi; }

# kill -0 succeeds on a zombie: read the state from /proc.
alive() {
    st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
    [ -n "$st" ] && [ "$st" != Z ]
}

# Stop weir: SIGTERM, up to 15 s, then SIGKILL. Sets WEIR_RC.
stop_weir() {
    WEIR_RC=
    [ -n "$WEIR_PID" ] || return 0
    kill -TERM "$WEIR_PID" 2>/dev/null
    i=0
    while alive "$WEIR_PID" && [ $i -lt 300 ]; do
        sleep 0.05
        i=$((i + 1))
    done
    alive "$WEIR_PID" && kill -KILL "$WEIR_PID" 2>/dev/null
    wait "$WEIR_PID"
    WEIR_RC=$?
    WEIR_PID=
}

cleanup() {
    stop_weir
    broker_cleanup
    [ -n "${KEEP:-}" ] || rm -rf "$tmp"
}

# broker_start installs its own traps: put ours back after each.
set_traps() {
    trap 'cleanup' EXIT
    trap 'cleanup; exit 130' INT
    trap 'cleanup; exit 143' TERM
}

finish() {
    echo "$pass passed, $fail failed"
    [ "$fail" -eq 0 ]
    exit
}

# ---- Certificates ---------------------------------------------------------

eckey() {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
        -out "$tmp/$1.key" 2>/dev/null && chmod 600 "$tmp/$1.key"
}

# make_ca NAME
make_ca() {
    eckey "$1" &&
        openssl req -x509 -new -key "$tmp/$1.key" -subj "/CN=weir test $1" \
            -days 2 -sha256 -addext basicConstraints=critical,CA:TRUE \
            -addext keyUsage=critical,keyCertSign,cRLSign \
            -out "$tmp/$1.pem" 2>/dev/null
}

# make_leaf NAME CA EXTENDED_KEY_USAGE [SUBJECT_ALT_NAME]
make_leaf() {
    eckey "$1" || return 1
    {
        echo "basicConstraints = CA:FALSE"
        echo "keyUsage = critical, digitalSignature"
        echo "extendedKeyUsage = $3"
        [ -z "${4:-}" ] || echo "subjectAltName = $4"
    } >"$tmp/$1.ext"
    openssl req -new -key "$tmp/$1.key" -subj "/CN=$1" \
        -out "$tmp/$1.csr" 2>/dev/null &&
        openssl x509 -req -in "$tmp/$1.csr" -CA "$tmp/$2.pem" \
            -CAkey "$tmp/$2.key" -CAcreateserial -days 2 -sha256 \
            -extfile "$tmp/$1.ext" -out "$tmp/$1.pem" 2>/dev/null
}

make_certs() {
    make_ca ca && make_ca other &&
        make_leaf server ca serverAuth "IP:127.0.0.1, DNS:localhost" &&
        make_leaf wronghost ca serverAuth "DNS:other.example" &&
        make_leaf client ca clientAuth &&
        make_leaf stranger other clientAuth &&
        mkdir "$tmp/capath" && cp "$tmp/ca.pem" "$tmp/capath/" &&
        openssl rehash "$tmp/capath" 2>/dev/null &&
        mosquitto_passwd -b -c "$tmp/passwd" weir s3cret 2>/dev/null &&
        printf 's3cret\n' >"$tmp/weir.pass" && chmod 600 "$tmp/weir.pass"
}

# ---- weir -----------------------------------------------------------------

# weir_config NAME URI [MQTT_LINES]: $tmp/NAME/weir.ini
weir_config() {
    mkdir -p "$tmp/$1"
    cat >"$tmp/$1/weir.ini" <<EOF
[weir]
state_dir = $tmp/$1/state
[mqtt]
uri = $2
client_id = weir-tls-$1
connect_timeout = 5s
retry_min = 1s
retry_max = 2s
${3:-}
[subscription s]
topic = sensors/{device}/{sensor}
format = json
[task t]
kind = regression
features = a
target = b
test_fraction = 0
[topics]
status = weir/$1/status
[http]
listen = 127.0.0.1:0
EOF
    chmod 600 "$tmp/$1/weir.ini"
}

# start_weir NAME [VAR=value ...]: run weir in the background and wait
# (20 s) until it serves HTTP (HTTP_PORT). Returns 1 if it never did.
start_weir() {
    d="$tmp/$1"
    shift
    env "$@" "$WEIR" -c "$d/weir.ini" >"$d/weir.log" 2>&1 &
    WEIR_PID=$!
    HTTP_PORT=
    i=0
    while [ $i -lt 400 ] && alive "$WEIR_PID"; do
        if grep -qx '[0-9][0-9]*' "$d/state/http.port" 2>/dev/null; then
            HTTP_PORT=$(cat "$d/state/http.port")
            return 0
        fi
        sleep 0.05
        i=$((i + 1))
    done
    echo "# weir did not serve HTTP; log:"
    sed 's/^/#   /' "$d/weir.log"
    return 1
}

# wait_log NAME TEXT SECONDS: the log of NAME holds TEXT (fixed string).
wait_log() {
    i=0
    while [ $i -lt $(($3 * 20)) ]; do
        grep -qF -- "$2" "$tmp/$1/weir.log" && return 0
        sleep 0.05
        i=$((i + 1))
    done
    echo "# no '$2' in the log of $1 after $3 s; log:"
    sed 's/^/#   /' "$tmp/$1/weir.log"
    return 1
}

# metric NAME: the sample's value (name with labels, as printed), or none.
metric() {
    curl -s -m 5 "http://127.0.0.1:$HTTP_PORT/metrics" |
        awk -v n="$1" '$1 == n { v = $2 } END { print (v == "" ? "none" : v) }'
}

# wait_metric NAME VALUE SECONDS
wait_metric() {
    i=0
    while [ $i -lt $(($3 * 10)) ]; do
        [ "$(metric "$1")" = "$2" ] && return 0
        sleep 0.1
        i=$((i + 1))
    done
    echo "# $1 = $(metric "$1"), wanted $2"
    return 1
}

# health: "CODE BODY" of /healthz.
health() {
    curl -s -m 5 -o "$tmp/health.json" -w '%{http_code}' \
        "http://127.0.0.1:$HTTP_PORT/healthz"
    printf ' '
    cat "$tmp/health.json" 2>/dev/null
}

# ---- Clients of the test --------------------------------------------------

# TLS options for mosquitto_pub/sub: with the client certificate when the
# broker wants one.
TLS_ARGS=
tls_args() {
    TLS_ARGS="--cafile $tmp/ca.pem -u weir -P s3cret"
    [ "${1:-}" != cert ] ||
        TLS_ARGS="$TLS_ARGS --cert $tmp/client.pem --key $tmp/client.key"
    [ "${1:-}" != insecure ] || TLS_ARGS="$TLS_ARGS --insecure"
}

# publish DEVICE N: N readings of sensor a, then N of sensor b (the target)
# over TLS at QoS 1; every b makes a row from the last a. Sequence numbers
# are per device: 1..N, then N+1..2N.
publish() {
    for s in a b; do
        i=1
        while [ $i -le "$2" ]; do
            [ $s = a ] && q=$i || q=$(($2 + i))
            echo "{\"seq\":$q,\"value\":$i.5}"
            i=$((i + 1))
        done | mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" $TLS_ARGS \
            -q 1 -t "sensors/$1/$s" -l || return 1
    done
}

# status NAME: the retained status of weir NAME (empty if none in 3 s).
status() {
    mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" $TLS_ARGS -q 1 \
        -t "weir/$1/status" -C 1 -W 3 2>/dev/null
}

# ---- Cases ----------------------------------------------------------------

# good NAME N [VAR=value ...]: weir NAME (configured) connects; N readings
# of a and of b are counted and N rows learned; `online` retained; exits 0
# on SIGTERM, leaving `offline`.
good() {
    name=$1
    n=$2
    shift 2
    if ! start_weir "$name" "$@"; then
        not_ok "$name: weir starts"
        return
    fi
    check "$name: connects over TLS" \
        'wait_log "$name" "mqtt: connected" 20 &&
         [ "$(metric weir_mqtt_connected)" = 1 ]'
    check "$name: /healthz 200, connected" \
        'health | grep -q "^200 .*\"connected\":true"'
    check "$name: status online (retained)" '[ "$(status "$name")" = online ]'
    if publish "dev-$name" "$n"; then
        check "$name: $((2 * n)) readings over TLS accepted" \
            'wait_metric weir_readings_accepted_total $((2 * n)) 20'
        check "$name: $n rows learned" \
            "wait_metric 'weir_task_rows_learned_total{task=\"t\"}' $n 20"
    else
        not_ok "$name: mosquitto_pub over TLS"
    fi
    check "$name: no connect failure" \
        '[ "$(metric weir_mqtt_connect_failures_total)" = 0 ]'
    stop_weir
    check "$name: SIGTERM exits 0" '[ "$WEIR_RC" = 0 ]'
    check "$name: status offline after the stop" \
        '[ "$(status "$name")" = offline ]'
}

# refused NAME TEXT [VAR=value ...]: weir NAME does not connect, logs
# "connect failed" with TEXT, and says so on /healthz and /metrics.
refused() {
    name=$1
    text=$2
    shift 2
    if ! start_weir "$name" "$@"; then
        not_ok "$name: weir starts"
        return
    fi
    check "$name: refused, the log says why" \
        'wait_log "$name" "mqtt: connect failed" 20 &&
         grep "mqtt: connect failed" "$tmp/$name/weir.log" |
             grep -qF -- "$text"'
    check "$name: /healthz 503, not connected" \
        'health | grep -q "^503 .*\"connected\":false"'
    check "$name: metrics say not connected, failures counted" \
        '[ "$(metric weir_mqtt_connected)" = 0 ] &&
         [ "$(metric weir_mqtt_connect_failures_total)" -ge 1 ] &&
         [ "$(metric weir_mqtt_connects_total)" = 0 ]'
    check "$name: never connected" \
        '! grep -q "mqtt: connected" "$tmp/$name/weir.log"'
}

# backoff NAME: after 4 s, weir is alive and made a few attempts (2..8 with
# retry_min 1 s, retry_max 2 s: not a spin), then exits 0 on SIGTERM.
backoff() {
    sleep 4
    n=$(metric weir_mqtt_connect_failures_total)
    echo "# $1: $n failed attempts in about 4 s"
    check "$1: keeps retrying with back-off, no spin" \
        'alive "$WEIR_PID" && [ "$n" -ge 2 ] && [ "$n" -le 8 ]'
    stop_weir
    check "$1: SIGTERM exits 0 while unconnected" '[ "$WEIR_RC" = 0 ]'
}

set_traps
if ! make_certs; then
    not_ok "openssl makes the certificates"
    finish
fi

# ---- Broker A: TLS and passwords ------------------------------------------

BROKER_EXTRA="cafile $tmp/ca.pem
certfile $tmp/server.pem
keyfile $tmp/server.key
password_file $tmp/passwd
allow_anonymous false"
if ! broker_start; then
    not_ok "mosquitto starts with a TLS listener"
    finish
fi
set_traps
A="ssl://127.0.0.1:$BROKER_PORT"
tls_args

weir_config v3 "$A" "username = weir
password = s3cret
ca_file = $tmp/ca.pem"
good v3 20

weir_config v5 "mqtts://localhost:$BROKER_PORT" "version = 5
username = weir
password_file = $tmp/weir.pass
ca_file = $tmp/ca.pem"
good v5 10

weir_config wrongca "$A" "username = weir
password_file = $tmp/weir.pass
ca_file = $tmp/other.pem"
refused wrongca "TLS: certificate verify failed"
check "wrongca: the log names ca_file" \
    'grep -qF "does not chain to a CA in ca_file $tmp/other.pem" \
        "$tmp/wrongca/weir.log"'
stop_weir

weir_config nocafile "$A" "username = weir
password_file = $tmp/weir.pass"
refused nocafile "no CA in the system's store signed"
stop_weir
good nocafile 5 "SSL_CERT_FILE=$tmp/ca.pem"

weir_config capath "$A" "username = weir
password_file = $tmp/weir.pass
ca_file = $tmp/capath"
good capath 5

weir_config badpass "$A" "username = weir
password = wrong
ca_file = $tmp/ca.pem"
refused badpass "refused it: not authorized (CONNACK 5): check [mqtt] username"
backoff badpass

weir_config badpass5 "$A" "version = 5
username = weir
password = wrong
ca_file = $tmp/ca.pem"
refused badpass5 "refused it: Not authorized (reason code 135)"
backoff badpass5

weir_config anon5 "$A" "version = 5
ca_file = $tmp/ca.pem"
refused anon5 "the broker wants a user name and password"
stop_weir
broker_cleanup

# ---- Broker C: a certificate that does not name 127.0.0.1 ---------------

BROKER_EXTRA="cafile $tmp/ca.pem
certfile $tmp/wronghost.pem
keyfile $tmp/wronghost.key
password_file $tmp/passwd
allow_anonymous false"
if broker_start; then
    set_traps
    tls_args insecure # the test's own clients skip the host-name check
    weir_config wronghost "ssl://127.0.0.1:$BROKER_PORT" "username = weir
password_file = $tmp/weir.pass
ca_file = $tmp/ca.pem"
    refused wronghost "does not name the host '127.0.0.1'"
    stop_weir
    weir_config noverify "ssl://127.0.0.1:$BROKER_PORT" "username = weir
password_file = $tmp/weir.pass
ca_file = $tmp/ca.pem
tls_verify = false"
    # The same broker and files, host name unchecked: the name was all.
    good noverify 5
    check "noverify: the log warns about tls_verify = false" \
        'grep -q "tls_verify = false: the broker.s identity is not checked" \
            "$tmp/noverify/weir.log"'
else
    not_ok "mosquitto starts with a certificate for other.example"
fi
broker_cleanup

# ---- Broker B: client certificates required ------------------------------

BROKER_EXTRA="cafile $tmp/ca.pem
certfile $tmp/server.pem
keyfile $tmp/server.key
require_certificate true
password_file $tmp/passwd
allow_anonymous false"
if ! broker_start; then
    not_ok "mosquitto starts with require_certificate"
    finish
fi
set_traps
B="ssl://127.0.0.1:$BROKER_PORT"
tls_args cert

weir_config cert "$B" "username = weir
password_file = $tmp/weir.pass
ca_file = $tmp/ca.pem
cert_file = $tmp/client.pem
key_file = $tmp/client.key"
good cert 10

weir_config cert5 "$B" "version = 5
username = weir
password_file = $tmp/weir.pass
ca_file = $tmp/ca.pem
cert_file = $tmp/client.pem
key_file = $tmp/client.key"
good cert5 10

weir_config nocert "$B" "username = weir
password_file = $tmp/weir.pass
ca_file = $tmp/ca.pem"
refused nocert "the broker requires a client certificate (none is set"
check "nocert: the broker saw no client certificate" \
    'grep -q "peer did not return a certificate" "$BROKER_DIR/mosquitto.log"'
stop_weir

weir_config stranger "$B" "username = weir
password_file = $tmp/weir.pass
ca_file = $tmp/ca.pem
cert_file = $tmp/stranger.pem
key_file = $tmp/stranger.key"
refused stranger "refused the client certificate in $tmp/stranger.pem"
check "stranger: the broker refused its certificate" \
    'grep -q "certificate verify failed" "$BROKER_DIR/mosquitto.log"'
stop_weir

finish
