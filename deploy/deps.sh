#!/bin/sh
# deps.sh -- install the Debian packages weir needs, only those missing.
#
#   deploy/deps.sh           install what is missing (needs root, or sudo)
#   deploy/deps.sh --check   exit 0 if nothing is missing, else list it
#   deploy/deps.sh --extra   also the optional tools (fuzzing, plots, bench)
#
# Called by the Makefile before the first build, so that `make check` and
# `make demo` work on a fresh Debian 12 machine with nothing else typed.
set -eu

# Needed to build, test and run.
CORE="gcc make pkg-config libc6-dev libpaho-mqtt-dev libuv1-dev
libprotobuf-c-dev protobuf-c-compiler libcjson-dev libinih-dev zlib1g-dev
libcsv-dev
mosquitto mosquitto-clients ca-certificates openssl gnuplot-nox"
# Optional: fuzzing (clang + libFuzzer runtime), scikit-learn reference.
EXTRA="clang libclang-rt-14-dev python3 python3-sklearn"

want=$CORE
mode=install
for a in "$@"; do
    case $a in
    --check) mode=check ;;
    --extra) want="$CORE $EXTRA" ;;
    *) echo "deps.sh: unknown option $a" >&2; exit 2 ;;
    esac
done

missing=""
for p in $want; do
    # dpkg-query prints "install ok installed" only for a fully installed one.
    s=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [ "$s" = "install ok installed" ] || missing="$missing $p"
done

[ -z "$missing" ] && exit 0
if [ $mode = check ]; then
    echo "missing Debian packages:$missing"
    exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "deps.sh: missing packages:$missing" >&2
    echo "deps.sh: run as root:  apt-get install -y$missing" >&2
    exit 1
fi
echo "deps.sh: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# An old or empty package list makes apt-get fail to find anything: refresh
# it once, quietly, before installing.
$SUDO apt-get update -qq >&2
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >&2
