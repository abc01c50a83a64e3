#!/usr/bin/env bash
# Installs what the local stack needs and is missing, from the package registries only:
# MariaDB and PostgreSQL 15 (Debian), openssl (the local TLS certificates), pgvector >= 0.8 built from Debian's source package,
# the moto AWS emulator in a project venv (PyPI), optionally cargo-lambda (PyPI), and
# optionally the storefront's browser test: Debian's Chromium and fonts, Playwright (PyPI).
# Idempotent: a second run finds everything and does nothing.
#   usage: local-install.sh [--with-cargo-lambda] [--with-browser]
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"

# Drives Debian's Chromium (never a browser build of its own: `playwright install` is not run).
PLAYWRIGHT_VERSION="${PLAYWRIGHT_VERSION:-1.65.2}"

with_cargo_lambda=0
with_browser=0
for arg in "$@"; do
  case "$arg" in
    --with-cargo-lambda) with_cargo_lambda=1 ;;
    --with-browser) with_browser=1 ;;
    *) die "unknown option $arg (usage: local-install.sh [--with-cargo-lambda] [--with-browser])" ;;
  esac
done

apt_missing=()
command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || apt_missing+=(mariadb-server)
command -v mariadb >/dev/null 2>&1 || apt_missing+=(mariadb-client)
[ -x "$PG_BIN/initdb" ] || apt_missing+=(postgresql-$PG_MAJOR)
command -v psql >/dev/null 2>&1 || apt_missing+=(postgresql-client-$PG_MAJOR)
# The local CA and the servers' TLS certificates (scripts/local-up.sh).
command -v openssl >/dev/null 2>&1 || apt_missing+=(openssl)
if [ "$with_cargo_lambda" -eq 1 ]; then
  # The Lambda zips: `zip` packs them, `objdump` checks their glibc needs.
  command -v zip >/dev/null 2>&1 || apt_missing+=(zip)
  command -v objdump >/dev/null 2>&1 || apt_missing+=(binutils)
fi
if [ "$with_browser" -eq 1 ]; then
  # The storefront check's headless browser, and fonts so its screenshots show text.
  [ -x /usr/bin/chromium ] || apt_missing+=(chromium)
  [ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || apt_missing+=(fonts-dejavu-core)
  [ -d /usr/share/fonts/truetype/liberation2 ] || apt_missing+=(fonts-liberation2)
fi
vector_control="/usr/share/postgresql/$PG_MAJOR/extension/vector.control"
installed_vector=""
[ -f "$vector_control" ] && installed_vector="$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$vector_control")"
need_pgvector=0
if [ -z "$installed_vector" ] || [ "$(printf '%s\n%s\n' "$PGVECTOR_MIN_VERSION" "$installed_vector" | sort -V | head -1)" != "$PGVECTOR_MIN_VERSION" ]; then
  need_pgvector=1
  [ -x "$(command -v pg_config || true)" ] && [ -d "/usr/include/postgresql/$PG_MAJOR/server" ] || apt_missing+=(postgresql-server-dev-$PG_MAJOR)
  command -v make >/dev/null 2>&1 && command -v gcc >/dev/null 2>&1 || apt_missing+=(build-essential)
fi
if [ "${#apt_missing[@]}" -gt 0 ]; then
  say "installing Debian packages: ${apt_missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -qq --no-install-recommends "${apt_missing[@]}" >"$LOG_DIR/apt.log" 2>&1 \
    || die "apt-get install ${apt_missing[*]} failed (log: $LOG_DIR/apt.log)"
fi

if [ "$need_pgvector" -eq 1 ]; then
  # pgvector is not packaged for this Debian release: fetch Debian's source package from the
  # newer release's deb-src index (through apt, the registry's own client) and build it.
  build="$LOCAL_DIR/build/pgvector"
  rm -rf "$build" && mkdir -p "$build/lists/partial"
  echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" >"$build/sources.list"
  apt_opts=(-o "Dir::Etc::SourceList=$build/sources.list" -o Dir::Etc::SourceParts=/dev/null -o "Dir::State::Lists=$build/lists")
  say "building pgvector from Debian's source package"
  (
    cd "$build"
    apt-get "${apt_opts[@]}" update -qq >"$LOG_DIR/pgvector-build.log" 2>&1
    apt-get "${apt_opts[@]}" source --download-only pgvector >>"$LOG_DIR/pgvector-build.log" 2>&1
    tar xzf pgvector_*.orig.tar.gz
    cd pgvector-*/
    make -s PG_CONFIG="$PG_BIN/pg_config" OPTFLAGS="" >>"$LOG_DIR/pgvector-build.log" 2>&1
    as_root make -s PG_CONFIG="$PG_BIN/pg_config" install >>"$LOG_DIR/pgvector-build.log" 2>&1
  ) || die "pgvector build failed (log: $LOG_DIR/pgvector-build.log)"
  say "pgvector $(sed -n "s/^default_version = '\(.*\)'/\1/p" "$vector_control") installed"
fi

if [ ! -x "$VENV_DIR/bin/moto_server" ] || ! "$VENV_DIR/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
  say "installing moto[server]==$MOTO_VERSION into $VENV_DIR"
  python3 -m venv "$VENV_DIR"
  "$VENV_DIR/bin/pip" install -q --disable-pip-version-check "moto[server]==$MOTO_VERSION" >"$LOG_DIR/pip-moto.log" 2>&1 \
    || die "pip install moto[server] failed (log: $LOG_DIR/pip-moto.log)"
fi

if [ "$with_cargo_lambda" -eq 1 ] && [ ! -x "$VENV_DIR/bin/cargo-lambda" ]; then
  say "installing cargo-lambda==$CARGO_LAMBDA_VERSION into $VENV_DIR"
  "$VENV_DIR/bin/pip" install -q --disable-pip-version-check "cargo-lambda==$CARGO_LAMBDA_VERSION" >"$LOG_DIR/pip-cargo-lambda.log" 2>&1 \
    || die "pip install cargo-lambda failed (log: $LOG_DIR/pip-cargo-lambda.log)"
fi

if [ "$with_browser" -eq 1 ] \
  && ! "$VENV_DIR/bin/python" -c "import sys, importlib.metadata as m; sys.exit(m.version('playwright') != '$PLAYWRIGHT_VERSION')" 2>/dev/null; then
  say "installing playwright==$PLAYWRIGHT_VERSION into $VENV_DIR"
  "$VENV_DIR/bin/pip" install -q --disable-pip-version-check "playwright==$PLAYWRIGHT_VERSION" >"$LOG_DIR/pip-playwright.log" 2>&1 \
    || die "pip install playwright failed (log: $LOG_DIR/pip-playwright.log)"
fi
exit 0
