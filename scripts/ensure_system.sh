#!/usr/bin/env bash
# Install the Debian packages the app needs -- only those that are missing.
#
#   scripts/ensure_system.sh          what `make run` needs (PDF fonts and libraries, venv support)
#   scripts/ensure_system.sh --test   also what `make test` needs (Chromium, PostgreSQL 15)
#
# Idempotent and quiet: when everything is present it prints nothing and takes a few
# milliseconds (one dpkg-query call). `apt-get update` runs only when something must be
# installed. Needs root for installing; as another user it names the missing packages and fails.
#
# Environment: PYTHON (the interpreter the venv is built from; default python3),
#              PG_BIN (PostgreSQL 15 binaries; default /usr/lib/postgresql/15/bin).
set -euo pipefail

want_test=0
for arg in "$@"; do
    case "$arg" in
        --test) want_test=1 ;;
        -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "ensure_system: unknown argument: $arg" >&2; exit 2 ;;
    esac
done

if ! command -v dpkg-query >/dev/null 2>&1; then
    extra=""
    [[ $want_test == 1 ]] && extra=", Chromium, PostgreSQL 15"
    echo "ensure_system: not a Debian system (no dpkg-query); install by hand:" \
         "Noto CJK fonts, HarfBuzz subset, Pango, poppler-utils$extra" >&2
    exit 0
fi

pkgs=(
    fonts-noto-cjk          # Chinese glyphs for certificates and rankings (WeasyPrint, Chromium)
    libharfbuzz-subset0     # WeasyPrint font subsetting
    libpango-1.0-0          # WeasyPrint text layout
    libpangoft2-1.0-0
    poppler-utils           # pdftoppm / pdftotext: looking at and checking generated PDFs
    bsdextrautils           # `column`, used to print the demo logins as a table
)

python=${PYTHON:-python3}
if ! command -v "$python" >/dev/null 2>&1; then
    pkgs+=(python3 python3-venv)
elif ! "$python" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    pkgs+=(python3-venv)    # Debian's python3 lacks ensurepip without it
fi

if [[ $want_test == 1 ]]; then
    pkgs+=(chromium)        # browser tests: Playwright drives /usr/bin/chromium
    if [[ ! -x "${PG_BIN:-/usr/lib/postgresql/15/bin}/initdb" ]]; then
        pkgs+=(postgresql-15)   # the throwaway test cluster (scripts/pg_cluster.sh)
    fi
fi

# One dpkg-query for all of them; unknown packages are simply absent from the output.
installed=$(dpkg-query -W -f='${Package} ${Status}\n' "${pkgs[@]}" 2>/dev/null \
            | awk '$NF == "installed" && $(NF-1) == "ok" {print $1}' || true)
missing=()
for p in "${pkgs[@]}"; do
    grep -qxF -- "$p" <<<"$installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
    echo "ensure_system: missing Debian packages: ${missing[*]}" >&2
    echo "ensure_system: run as root, or: sudo apt-get install ${missing[*]}" >&2
    exit 1
fi

echo "==> installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp /tmp/ensure_system.XXXXXX.log)
apt_opts=(-y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold
          -o DPkg::Lock::Timeout=300 --no-install-recommends)

# Installing postgresql-15 creates a "main" cluster and would start it as a service; the
# tests use their own throwaway cluster, so keep services from starting during the install.
policy=/usr/sbin/policy-rc.d
made_policy=0
cleanup() {
    [[ $made_policy == 1 ]] && rm -f "$policy"
    return 0
}
trap cleanup EXIT
if [[ ! -e $policy ]] && printf '%s\n' "${missing[@]}" | grep -q '^postgresql'; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1
fi

if ! apt-get update -q >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    echo "ensure_system: apt-get update failed (log: $log)" >&2
    exit 1
fi
if ! apt-get install "${apt_opts[@]}" "${missing[@]}" >>"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "ensure_system: apt-get install failed (log: $log)" >&2
    exit 1
fi
rm -f "$log"
echo "==> installed: ${missing[*]}"
