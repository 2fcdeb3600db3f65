# Shared by scripts/demo, scripts/test and scripts/bench: make sure the
# machine has what loa needs, installing it when we may (root on Debian),
# otherwise saying exactly what is missing and how to get it.
# Usage: loa_require_debs PKG:COMMAND ...   then   loa_require_node

loa_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

# Installs Debian packages when we may (root with apt), else says exactly what to run.
loa_apt_install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "loa: installing Debian packages: $*" >&2
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -qq --no-install-recommends "$@" >/tmp/loa-apt.log 2>&1; then
      apt-get update -qq >/tmp/loa-apt.log 2>&1
      apt-get install -y -qq --no-install-recommends "$@" >>/tmp/loa-apt.log 2>&1 || {
        echo "loa: apt-get install failed, see /tmp/loa-apt.log" >&2; return 1; }
    fi
  else
    echo "loa: missing Debian packages: $*" >&2
    echo "loa: run: sudo apt-get install $*" >&2
    return 1
  fi
}

# loa_require_debs PACKAGE:COMMAND ...: each package, checked by a command it provides.
loa_require_debs() {
  local missing=()
  local spec
  for spec in "$@"; do
    command -v "${spec#*:}" >/dev/null 2>&1 || missing+=("${spec%%:*}")
  done
  [ ${#missing[@]} -eq 0 ] || loa_apt_install "${missing[@]}"
}

# loa_require_font PACKAGE FILE: a font package, checked by one of its files.
loa_require_font() {
  [ -f "$2" ] || loa_apt_install "$1"
}

loa_require_node() {
  command -v node >/dev/null || { echo "loa: Node.js 20 is missing: sudo apt-get install nodejs npm" >&2; return 1; }
  local major; major="$(node -p 'process.versions.node.split(".")[0]')"
  [ "$major" -ge 20 ] || { echo "loa: Node.js $major is too old, loa needs 20" >&2; return 1; }
  cd "$loa_root"
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "loa: installing npm packages (about 3 minutes the first time: better-sqlite3 compiles SQLite)" >&2
    npm ci --no-audit --no-fund >/tmp/loa-npm.log 2>&1 || { echo "loa: npm ci failed, see /tmp/loa-npm.log" >&2; return 1; }
  fi
  if [ ! -f dist/.built ] || [ -n "$(find agent/src agent/bench firmware-bridge/src firmware-bridge/bench province/src scripts/lib -name '*.ts' -newer dist/.built 2>/dev/null | head -1)" ]; then
    npx tsc -p tsconfig.build.json || { echo "loa: TypeScript build failed" >&2; return 1; }
    touch dist/.built
  fi
}
