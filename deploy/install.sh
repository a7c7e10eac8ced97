#!/bin/sh
# install.sh -- `make install` / `make uninstall` for weir.
#
#   sh deploy/install.sh [--uninstall]
#
# Settings come from the environment, with the GNU make-install meanings:
#
#   BUILD       where the binaries were built          build/default
#               (relative BUILD and CONFIG: to the current directory;
#               the defaults: to the source tree)
#   DESTDIR     staging root, prefixed to every path   (empty)
#   PREFIX      installation prefix                    /usr/local
#   BINDIR      programs                               $PREFIX/bin
#   SYSCONFDIR  configuration                          /etc
#   UNITDIR     systemd system units                   $PREFIX/lib/systemd/system
#   DOCDIR      README and example configurations      $PREFIX/share/doc/weir
#   CONFIG      the file installed as weir.ini         examples/building.ini
#
# What goes where (PREFIX=/usr/local):
#
#   /usr/local/bin/weir, /usr/local/bin/weir-sim             0755
#   /usr/local/lib/systemd/system/weir.service               0644
#   /etc/weir/weir.ini                                       0644
#   /usr/local/share/doc/weir/README.md, examples/*.ini      0644
#
# Why these places (Debian practice, FHS 3.0, systemd.unit(5)):
# - The unit goes under $PREFIX/lib/systemd/system: systemd searches both
#   /usr/local/lib/systemd/system (software the administrator installed) and
#   /usr/lib/systemd/system (packages), and leaves /etc/systemd/system to
#   the administrator's own units and overrides. Another PREFIX (/opt/weir)
#   is not searched: the script says so; `systemctl link` the unit, or set
#   UNITDIR.
# - The configuration is /etc/weir whatever the prefix: the unit's
#   ConfigurationDirectory=weir is always under /etc, and FHS puts host
#   configuration there.
# - weir.ini is a configuration file in dpkg's sense: an existing one is
#   never overwritten. If the new default differs, it is installed beside it
#   as weir.ini.new and the script says so; `diff` them after an upgrade.
#   --uninstall leaves the configuration (like `apt remove`, not purge).
# - The state directory (/var/lib/weir) is not installed: systemd creates it
#   for the service (StateDirectory=weir).
#
# In the unit, @bindir@, @sysconfdir@ and @docdir@ become the final paths
# (without DESTDIR), so a package built with DESTDIR runs where it lands.
# With no DESTDIR, as root, on a machine running systemd, the script runs
# `systemctl daemon-reload`; it never enables or starts the service.
#
# Exit status: 0 done, 1 a file could not be installed, 2 bad settings or
# binaries not built.
set -eu

# Paths the caller gave are relative to the caller's directory; the script
# then works from the source tree, where the defaults are.
here=$(pwd)
abs() {
    case $1 in
    /*) echo "$1" ;;
    *) echo "$here/$1" ;;
    esac
}
[ -n "${BUILD:-}" ] && BUILD=$(abs "$BUILD")
[ -n "${CONFIG:-}" ] && CONFIG=$(abs "$CONFIG")
[ -n "${DESTDIR:-}" ] && DESTDIR=$(abs "$DESTDIR")
cd "$(dirname "$0")/.."

: "${BUILD:=build/default}"
: "${DESTDIR:=}"
: "${PREFIX:=/usr/local}"
: "${BINDIR:=$PREFIX/bin}"
: "${SYSCONFDIR:=/etc}"
: "${UNITDIR:=$PREFIX/lib/systemd/system}"
: "${DOCDIR:=$PREFIX/share/doc/weir}"
: "${CONFIG:=examples/building.ini}"

mode=install
for a in "$@"; do
    case $a in
    --uninstall) mode=uninstall ;;
    -h | --help)
        sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "install.sh: unknown option $a (try --help)" >&2
        exit 2
        ;;
    esac
done

die() {
    echo "install.sh: $*" >&2
    exit 2
}

# The paths end up in sed replacements and in a systemd unit: refuse what
# either would misread rather than install a broken unit.
for p in "$PREFIX" "$BINDIR" "$SYSCONFDIR" "$UNITDIR" "$DOCDIR"; do
    case $p in
    /*) ;;
    *) die "PREFIX, BINDIR, SYSCONFDIR, UNITDIR and DOCDIR must be" \
        "absolute paths, not '$p'" ;;
    esac
    case $p in
    *[!A-Za-z0-9/._+-]*) die "a path a unit file cannot take: '$p'" ;;
    esac
done

say() {
    echo "install.sh: $*"
}

install_file() { # mode src dst
    install -d -m 0755 "$(dirname "$3")"
    install -m "$1" "$2" "$3"
    say "installed $3"
}

install_unit() {
    dst=$DESTDIR$UNITDIR/weir.service
    tmp=$(mktemp "${TMPDIR:-/tmp}/weir.service.XXXXXX")
    sed -e "s|@bindir@|$BINDIR|g" -e "s|@sysconfdir@|$SYSCONFDIR|g" \
        -e "s|@docdir@|$DOCDIR|g" deploy/weir.service >"$tmp"
    if grep -n '@[a-z_]*@' "$tmp" >&2; then
        rm -f "$tmp"
        echo "install.sh: unit has unknown placeholders (above)" >&2
        exit 1
    fi
    install_file 0644 "$tmp" "$dst"
    rm -f "$tmp"
    case $UNITDIR in
    /usr/lib/systemd/system | /lib/systemd/system | \
        /usr/local/lib/systemd/system | /etc/systemd/system) ;;
    *)
        say "note: systemd does not look in $UNITDIR;" \
            "run: systemctl link $UNITDIR/weir.service"
        ;;
    esac
}

# dpkg conffile semantics: keep the administrator's file.
install_config() {
    dst=$DESTDIR$SYSCONFDIR/weir/weir.ini
    if [ ! -e "$dst" ]; then
        install_file 0644 "$CONFIG" "$dst"
    elif cmp -s "$CONFIG" "$dst"; then
        say "kept $dst (same as the default)"
    else
        install_file 0644 "$CONFIG" "$dst.new"
        say "kept $dst (yours); the new default is $dst.new:" \
            "diff -u $dst $dst.new"
    fi
}

do_install() {
    for b in weir weir-sim; do
        [ -x "$BUILD/$b" ] ||
            die "$BUILD/$b is not built (run 'make' first, or set BUILD)"
    done
    [ -r "$CONFIG" ] || die "no configuration to install: $CONFIG"
    install_file 0755 "$BUILD/weir" "$DESTDIR$BINDIR/weir"
    install_file 0755 "$BUILD/weir-sim" "$DESTDIR$BINDIR/weir-sim"
    install_unit
    install_config
    install_file 0644 README.md "$DESTDIR$DOCDIR/README.md"
    for f in examples/*.ini; do
        [ -e "$f" ] || continue
        install_file 0644 "$f" "$DESTDIR$DOCDIR/examples/$(basename "$f")"
    done
}

do_uninstall() {
    for f in "$DESTDIR$BINDIR/weir" "$DESTDIR$BINDIR/weir-sim" \
        "$DESTDIR$UNITDIR/weir.service" "$DESTDIR$DOCDIR/README.md" \
        "$DESTDIR$DOCDIR"/examples/*.ini; do
        [ -e "$f" ] || continue
        rm -f "$f"
        say "removed $f"
    done
    for d in "$DESTDIR$DOCDIR/examples" "$DESTDIR$DOCDIR"; do
        if [ -d "$d" ]; then
            rmdir "$d" 2>/dev/null || true
        fi
    done
    if [ -e "$DESTDIR$SYSCONFDIR/weir/weir.ini" ]; then
        say "kept $DESTDIR$SYSCONFDIR/weir (configuration; remove it by hand)"
    fi
}

if [ $mode = install ]; then
    do_install
else
    do_uninstall
fi

if [ -z "$DESTDIR" ] && [ "$(id -u)" -eq 0 ] &&
    [ -d /run/systemd/system ]; then
    systemctl daemon-reload || say "note: systemctl daemon-reload failed"
    [ $mode = install ] &&
        say "enable and start with: systemctl enable --now weir"
fi
exit 0
