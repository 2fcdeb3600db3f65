#!/usr/bin/env bash
# Installs loa on a controller (Raspberry Pi OS Bookworm arm64 or armhf,
# Debian 12 or 13): Debian packages, the users loa and loa-board, udev rules,
# journald limits, the release in /opt/loa/releases/<version> with
# /opt/loa/current pointing at it, Node 20 in /opt/loa/runtime where the
# system's is older, the units enabled, `loa` on the PATH and a config
# skeleton. Run it again at will: it changes only what differs.
#
#   sudo provisioning/install.sh               install, or update to this checkout
#   sudo provisioning/install.sh --uninstall   remove it (keeps /etc/loa, /var/lib/loa and the users)
#   sudo provisioning/install.sh --uninstall --purge    those too
#   --root DIR      into the Debian tree at DIR (an image, a test): no systemctl, no udevadm
#   --no-packages   leave Debian packages alone (an image that brings its own)
set -euo pipefail
src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$src/scripts/lib/require.sh"

root="" action=install purge=no packages=yes
while [ $# -gt 0 ]; do
  case "$1" in
    --root) root="$(cd "${2:?--root needs a folder}" && pwd)"; shift 2 ;;
    --uninstall) action=uninstall; shift ;;
    --purge) purge=yes; shift ;;
    --no-packages) packages=no; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ "$purge" = no ] || [ "$action" = uninstall ] || { echo "install.sh: --purge goes with --uninstall" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "install.sh: run it as root: sudo $0" >&2; exit 1; }
[ -z "$root" ] || [ -f "$root/etc/os-release" ] || { echo "install.sh: $root is not a Debian tree (no etc/os-release)" >&2; exit 1; }
umask 022

# shadow's tools work on the tree itself with --root.
shadow_root=()
[ -z "$root" ] || shadow_root=(--root "$root")
on_host() { [ -z "$root" ]; }
# A host whose systemd runs as init (sd_booted). Not so in a container or a
# chroot building an image: there the units are enabled by links, as in a
# tree, and nothing is reloaded or started.
systemd_running() { on_host && [ -d /run/systemd/system ]; }

# Everything created is listed in /etc/loa/install-manifest (kind and path, in
# creation order) so that --uninstall removes exactly that, in reverse; what
# it keeps (configuration, users, groups) stays listed there for --purge.
manifest="$root/etc/loa/install-manifest"
note() { grep -qxF "$1 $2" "$manifest" 2>/dev/null || echo "$1 $2" >>"$manifest"; }

# mkdirs PATH...: each missing folder (and parent) created and noted.
mkdirs() {
  local d missing
  for d in "$@"; do
    missing=()
    while [ ! -d "$root$d" ]; do missing=("$d" "${missing[@]}"); d="$(dirname "$d")"; done
    for d in "${missing[@]}"; do mkdir "$root$d"; note dir "$d"; changed+=("$d"); done
  done
}

# put SOURCE PATH MODE: the file written (temp file and rename) only when its
# content or mode differs, so a second run leaves every byte and time alone.
put() {
  local from="$1" to="$root$2" mode="$3"
  mkdirs "$(dirname "$2")"
  if [ -f "$to" ] && cmp -s "$from" "$to" && [ "$(stat -c %a "$to")" = "${mode#0}" ]; then return 0; fi
  [ -e "$to" ] || note file "$2"
  install -m "$mode" "$from" "$to.loa-new"
  mv -f "$to.loa-new" "$to"
  changed+=("$2")
}

# link TARGET PATH: a symlink, replaced by a rename only when it points elsewhere.
link() {
  [ "$(readlink "$root$2" 2>/dev/null)" = "$1" ] && return 0
  mkdirs "$(dirname "$2")"
  [ -L "$root$2" ] || note file "$2"
  ln -sfn "$1" "$root$2.loa-new"
  mv -T "$root$2.loa-new" "$root$2"
  changed+=("$2")
}

# The numeric id of a user or group in the tree (its names are not the host's).
tree_id() { awk -F: -v n="$2" '$1 == n { print $3 }' "$root/etc/$1"; }
in_group() { awk -F: -v g="$1" -v u="$2" '$1 == g { n = split($4, m, ","); for (i = 1; i <= n; i++) if (m[i] == u) found = 1 } END { exit !found }' "$root/etc/group"; }

# --- Debian packages -------------------------------------------------------
# What the agent and the board run (the units name ffmpeg, gpioset, cec-ctl,
# cage, chromium, pam_systemd and polkit); g++, make and python3 build
# better-sqlite3 where its prebuilt binary cannot be downloaded.
debs=(nodejs npm ca-certificates ffmpeg alsa-utils gpiod espeak-ng v4l-utils cec-utils
      cage xwayland chromium fonts-noto-core fonts-noto-color-emoji libpam-systemd polkitd dbus udev
      g++ make python3)

install_packages() {
  local missing=() p
  for p in "${debs[@]}"; do
    dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed || missing+=("$p")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  changed+=("${missing[@]/#/package:}")
  if on_host; then
    loa_apt_install "${missing[@]}"
  else
    echo "install.sh: installing Debian packages into $root: ${missing[*]}" >&2
    # nspawn without --boot starts no services; the tree's own apt does the work.
    systemd-nspawn -q --register=no --keep-unit --console=pipe -D "$root" --setenv=DEBIAN_FRONTEND=noninteractive \
      sh -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@"' sh "${missing[@]}" >/tmp/loa-apt.log 2>&1 || {
        echo "install.sh: apt-get in $root failed, see /tmp/loa-apt.log" >&2; return 1; }
  fi
}

# --- users and groups --------------------------------------------------------
ensure_group() {
  grep -q "^$1:" "$root/etc/group" && return 0
  groupadd "${shadow_root[@]}" --system "$1"
  note group "$1"
  changed+=("group:$1")
}

# ensure_user NAME HOME COMMENT GROUP...: a system user with its own group, in GROUP...
ensure_user() {
  local name="$1" home="$2" comment="$3" g; shift 3
  if ! grep -q "^$name:" "$root/etc/passwd"; then
    useradd "${shadow_root[@]}" --system --user-group --no-create-home --home-dir "$home" \
      --shell /usr/sbin/nologin --comment "$comment" "$name"
    note user "$name"
    changed+=("user:$name")
  fi
  for g in "$@"; do
    ensure_group "$g"
    in_group "$g" "$name" || { usermod "${shadow_root[@]}" --append --groups "$g" "$name"; changed+=("member:$name@$g"); }
  done
}

# --- the release -----------------------------------------------------------
release_version() {
  local v; v="$(node -p 'require(process.argv[1]).version' "$src/package.json")"
  if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
    v="$v+$(git -C "$src" rev-parse --short=10 HEAD)"
    # Uncommitted changes make another release, never a stale one under the same name.
    if [ -n "$(git -C "$src" status --porcelain --untracked-files=normal)" ]; then
      v="$v.dirty-$( (git -C "$src" diff HEAD; git -C "$src" ls-files --others --exclude-standard -z | xargs -0r cat) | sha256sum | cut -c1-10)"
    fi
  fi
  echo "$v"
}

# The checkout's files, dist/ and the production node_modules, unpacked beside
# the other releases and renamed into place once complete.
install_release() {
  local version="$1" rel="/opt/loa/releases/$1"
  [ -d "$root$rel" ] && return 0
  mkdirs /opt/loa/releases
  local tmp="$root/opt/loa/releases/.partial-$version"
  rm -rf "$tmp" && mkdir "$tmp"
  if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
    git -C "$src" ls-files -z --cached --others --exclude-standard |
      while IFS= read -r -d '' f; do
        # node_modules may be an untracked symlink (a worktree): never copied as such.
        case "$f" in node_modules|node_modules/*|dist|dist/*) continue ;; esac
        [ -e "$src/$f" ] && printf '%s\0' "$f"
      done |
      tar -C "$src" --null -T - -cf - | tar -C "$tmp" -xf -
  else
    tar -C "$src" --exclude=./node_modules --exclude=./.git -cf - . | tar -C "$tmp" -xf -
  fi
  [ ! -e "$tmp/node_modules" ] && [ ! -L "$tmp/node_modules" ] || { echo "install.sh: node_modules came with the sources" >&2; exit 1; }
  cp -a "$src/dist" "$tmp/dist"
  # The production packages only, as package-lock.json lists them (faster than
  # a copy and npm prune); through node_modules when it is a symlink (a worktree).
  node -e '
    const packages = require(process.argv[1] + "/package-lock.json").packages;
    const fs = require("fs"), kept = new Set();
    for (const p of Object.keys(packages).sort()) {
      const e = packages[p];
      if (!p || e.dev || e.link || !fs.existsSync(process.argv[1] + "/" + p)) continue;
      const parts = p.split("/node_modules/");
      if (parts.some((_, i) => i > 0 && kept.has(parts.slice(0, i).join("/node_modules/")))) continue;
      kept.add(p);
      process.stdout.write(p + "\0");
    }' "$src" | tar -C "$src" --null -T - -cf - | tar -C "$tmp" -xf -
  chown -R 0:0 "$tmp"
  mv -T "$tmp" "$root$rel"
  note tree "$rel"
  changed+=("$rel")
}

# The Node the units and `loa` run: the tree's own when it is 20 or newer.
system_node_major() {
  if on_host; then
    /usr/bin/node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0
  else
    dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Version}' nodejs 2>/dev/null | sed -E 's/^([0-9]+:)?([0-9]+).*/\2/; t; s/.*/0/'
  fi
}

# Units whose [Install] names a target: enabled. The same links systemctl enable makes.
enable_units() {
  local unit target
  if systemd_running; then
    systemctl daemon-reload
    for unit in "$@"; do systemctl is-enabled --quiet "$unit" || changed+=("enabled:$unit"); done
    systemctl enable --quiet "$@"
    return
  fi
  for unit in "$@"; do
    for target in $(sed -n 's/^WantedBy=//p' "$root/etc/systemd/system/$unit"); do
      link "/etc/systemd/system/$unit" "/etc/systemd/system/$target.wants/$unit"
    done
  done
}

config_skeleton() {
  [ -e "$root/etc/loa/config.json" ] && return 0
  mkdirs /etc/loa
  local tmp="$root/etc/loa/.config.json.loa-new"
  # The station id comes with enrolment (loa provision) or by hand; until then the
  # agent refuses to start and names the field.
  printf '%s\n' '{' '  "station": { "id": "", "timezone": "Asia/Ho_Chi_Minh", "locale": "vi" }' '}' >"$tmp"
  chown "$(tree_id passwd loa):$(tree_id group loa)" "$tmp"
  chmod 0600 "$tmp"
  mv "$tmp" "$root/etc/loa/config.json"
  note config /etc/loa/config.json
  changed+=(/etc/loa/config.json)
}

do_install() {
  changed=()
  [ "$packages" = no ] || install_packages
  mkdirs /etc/loa /opt/loa

  ensure_user loa /var/lib/loa "loa station agent" gpio audio dialout video
  ensure_user loa-board /run/loa-board "loa bulletin board" video render input
  # Sets the clock from the RTC reading the agent hands over (loa-clock-set.service).
  ensure_user loa-clock /run/loa-clock-set "loa clock from the RTC" loa

  local major; major="$(system_node_major)"
  if [ "${major:-0}" -lt 20 ]; then
    [ -d "$root/opt/loa/runtime" ] || { mkdir "$root/opt/loa/runtime"; note tree /opt/loa/runtime; }
    local before; before="$(readlink "$root/opt/loa/runtime/current" 2>/dev/null || true)"
    loa_node_runtime_install "$root/opt/loa/runtime" "$(loa_deb_arch "$root")"
    [ "$before" = "$(readlink "$root/opt/loa/runtime/current")" ] || changed+=(/opt/loa/runtime)
  fi
  # Builds the checkout (npm ci, tsc) on a Node 20: on the host, the runtime just installed.
  (loa_require_node) || exit 1
  loa_require_node_runtime
  local version; version="$(release_version)"
  install_release "$version"
  link "releases/$version" /opt/loa/current
  # The self-updater (the agent, as loa) unpacks new releases beside this one
  # and switches the current and previous links; the releases stay root's.
  chown "$(tree_id passwd loa):$(tree_id group loa)" "$root/opt/loa" "$root/opt/loa/releases"

  local units=() f name
  for f in "$src"/systemd/*.service "$src"/systemd/*.timer "$src"/systemd/*.socket "$src"/systemd/*.path; do
    [ -f "$f" ] || continue
    name="$(basename "$f")"
    put "$f" "/etc/systemd/system/$name" 0644
    grep -q '^WantedBy=' "$f" && units+=("$name")
  done
  put "$src/systemd/loa-board.pam" /etc/pam.d/loa-board 0644
  put "$src/systemd/loa-board.rules" /etc/polkit-1/rules.d/50-loa-board.rules 0644
  put "$src/provisioning/60-loa.rules" /etc/udev/rules.d/60-loa.rules 0644
  put "$src/provisioning/journald-loa.conf" /etc/systemd/journald.conf.d/60-loa.conf 0644
  put "$src/provisioning/loa" /usr/local/bin/loa 0755
  config_skeleton
  enable_units "${units[@]}"

  # What this run did, one line: "nothing changed" on a second run.
  if [ ${#changed[@]} -eq 0 ]; then echo "install.sh: nothing changed"
  else echo "install.sh: changed ${#changed[@]}: ${changed[*]}"; fi
  if on_host && ! systemd_running; then
    echo "loa $version is installed; systemd is not running here (a container or a chroot): the units are enabled and start at the next boot"
  elif on_host; then
    local c
    for c in "${changed[@]}"; do
      case "$c" in
        /etc/udev/*) udevadm control --reload && udevadm trigger --action=change --subsystem-match=tty --subsystem-match=gpio --subsystem-match=cec ;;
        /etc/systemd/journald.conf.d/*) systemctl restart systemd-journald ;;
      esac
    done
    if grep -q '"id": ""' /etc/loa/config.json; then
      echo "loa $version is installed. Next: enrol the station (loa provision), or set station.id in /etc/loa/config.json, then: sudo systemctl start loa-agent loa-board"
    else
      # An update moves the agent and the board to the new release; a run that
      # changed nothing leaves a running station alone.
      if [ ${#changed[@]} -gt 0 ] || ! systemctl is-active --quiet loa-agent.service; then
        systemctl restart loa-agent.service loa-board.service
      fi
      echo "loa $version is installed and running: loa doctor"
    fi
  else
    echo "loa $version is installed in $root"
  fi
}

do_uninstall() {
  if systemd_running; then
    # Stopping runs the agent's ExecStopPost: every relay off before the files go.
    local units; units="$(awk '$1 == "file" && $2 ~ /^\/etc\/systemd\/system\/[^\/]+$/ { sub(".*/", "", $2); print $2 }' "$manifest" 2>/dev/null || true)"
    [ -z "$units" ] || systemctl disable --now --quiet $units || true
  fi
  if [ -f "$manifest" ]; then
    local entries entry kind path kept=()
    mapfile -t entries < <(tac "$manifest")
    for entry in "${entries[@]}"; do
      read -r kind path <<<"$entry"
      case "$kind" in
        file) rm -f "$root$path" ;;
        tree) rm -rf "${root:?}$path" ;;
        # A folder someone else has put files in stays.
        dir) [ "$path" = /etc/loa ] && kept=("$entry" "${kept[@]}") || rmdir "$root$path" 2>/dev/null || true ;;
        config|user|group)
          if [ "$purge" = no ]; then kept=("$entry" "${kept[@]}")
          elif [ "$kind" = config ]; then rm -f "$root$path"
          elif [ "$kind" = user ]; then ! grep -q "^$path:" "$root/etc/passwd" || userdel "${shadow_root[@]}" "$path"
          else ! grep -q "^$path:" "$root/etc/group" || groupdel "${shadow_root[@]}" "$path"; fi ;;
      esac
    done
    [ "$purge" = yes ] || printf '%s\n' "${kept[@]}" >"$manifest"
  fi
  if [ "$purge" = yes ]; then
    rm -rf "${root:?}/etc/loa" "${root:?}/var/lib/loa"
    local u
    for u in loa-board loa; do ! grep -q "^$u:" "$root/etc/passwd" || userdel "${shadow_root[@]}" "$u"; done
  fi
  if systemd_running; then
    systemctl daemon-reload
    udevadm control --reload || true
    systemctl restart systemd-journald || true
  fi
  echo "loa is uninstalled$([ "$purge" = yes ] && echo ", its configuration and state too" || echo "; /etc/loa and /var/lib/loa are kept (--purge removes them)")"
}

"do_$action"
