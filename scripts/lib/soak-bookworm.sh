#!/usr/bin/env bash
# scripts/soak bookworm: what a technician meets on Debian 12 (or Raspberry Pi
# OS Bookworm): Debian's Node 18, nothing else. In a fresh debootstrap root
# (git, nodejs, npm from Debian only), a clone of this checkout's HEAD runs
# scripts/demo and scripts/test on a few tests; both must fetch Node 20, build
# better-sqlite3 against it and succeed. Then provisioning/install.sh with its
# Debian packages, run twice in each of three places: in that root as its
# host, after the demo and the tests (nspawn without --boot: no systemd
# running, as in a container); in a copy of the root made before the demo
# (the README's way: clone, then install.sh, which installs the packages,
# fetches Node 20 and builds the checkout itself); and with --root into a
# bare debootstrap tree from this machine (the tree's apt under nspawn).
# Each time: the packages listed in install.sh are installed (dpkg-query),
# `loa --help` runs from a login shell's PATH, the users exist,
# `systemd-analyze verify` of the units by the tree's own systemd says
# nothing, and the second run reports and writes nothing. Needs root,
# debootstrap, systemd-nspawn, and the Debian mirror and npm registry on the
# network. Options: --keep (leave the roots for a look), --tests "FILE ..."
# (default below), --no-fresh, --no-tree (skip those installs: about 5 and
# 2 min less).
set -euo pipefail
. "$(dirname "$0")/require.sh"
loa_require_debs debootstrap:debootstrap systemd-container:systemd-nspawn git:git || exit 1
[ "$(id -u)" = 0 ] || { echo "soak bookworm: run it as root (debootstrap, systemd-nspawn)" >&2; exit 1; }
keep=no fresh=yes bare=yes
tests="agent/test/planner.test.ts agent/test/store.test.ts agent/test/audio-tones.test.ts"
while [ $# -gt 0 ]; do
  case "$1" in
    --keep) keep=yes; shift ;;
    --tests) tests="$2"; shift 2 ;;
    --no-fresh) fresh=no; shift ;;
    --no-tree) bare=no; shift ;;
    *) echo "soak bookworm: unknown option $1" >&2; exit 2 ;;
  esac
done

work="$(mktemp -d /var/tmp/loa-soak-bookworm-XXXXXX)"
trap '[ "$keep" = yes ] || rm -rf "$work"' EXIT
root="$work/root" fresh_root="$work/fresh" tree="$work/tree"
t0=$SECONDS
echo "soak bookworm: debootstrap Debian 12 (git, nodejs, npm) into $root" >&2
# in_checkout DIR COMMAND...: in the tree at DIR, in its clone /root/loa. The host's
# trusted certificates go in too: where egress passes a TLS proxy with its own CA.
in_checkout() {
  local dir="$1"; shift
  systemd-nspawn -q --register=no --keep-unit --console=pipe -D "$dir" --chdir=/root/loa --setenv=HOME=/root \
    --bind-ro=/etc/ssl/certs/ca-certificates.crt --setenv=NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt "$@"
}
inside() { in_checkout "$root" "$@"; }
# debootstrap cannot resolve npm's dependencies: the tree's own apt installs the three.
# The bare tree (no git, nodejs, npm) is what an image starts from.
{ debootstrap --variant=minbase --include=ca-certificates bookworm "$root" "${LOA_DEBIAN_MIRROR:-http://deb.debian.org/debian}" &&
  { [ "$bare" = no ] || cp -a "$root" "$tree"; } &&
  mkdir -p "$root/root/loa" &&
  inside --setenv=DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends git nodejs npm; } >"$work/debootstrap.log" 2>&1 || {
  echo "soak bookworm: the root could not be made, see $work/debootstrap.log" >&2; keep=yes; exit 1; }
rmdir "$root/root/loa" && git clone -q --no-hardlinks "$loa_root" "$root/root/loa"
[ "$fresh" = no ] || cp -a "$root" "$fresh_root"

system_node="$(inside node -v)"
echo "soak bookworm: Debian's node is $system_node; scripts/demo --lead 10" >&2
demo_status=0
inside scripts/demo --lead 10 --lang en >"$work/demo.log" 2>&1 || demo_status=$?
tail -5 "$work/demo.log" >&2
runtime_node="$(inside bash -c '. scripts/lib/require.sh && loa_require_node_runtime && node -v')"
echo "soak bookworm: scripts/test $tests" >&2
test_status=0
inside scripts/test $tests >"$work/test.log" 2>&1 || test_status=$?
# The test script's own summary line (nspawn may print after it).
summary="$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$work/test.log" | tail -1 || true)"
echo "soak bookworm: ${summary:-no summary line}" >&2

# --- provisioning/install.sh with Debian packages ----------------------------
# in_tree DIR COMMAND...: a command in the tree at DIR; nspawn's own complaints
# (and the command's stderr) go to a log, not into results.
in_tree() { local dir="$1"; shift; systemd-nspawn -q --register=no --keep-unit --console=pipe -D "$dir" --setenv=HOME=/root "$@" 2>>"$work/nspawn.log"; }
checkout="$root/root/loa"
# The packages install.sh installs, from its own list.
mapfile -t debs < <(bash -c 'eval "$(sed -n "/^debs=(/,/)/p" "$1")"; printf "%s\n" "${debs[@]}"' _ "$checkout/provisioning/install.sh")
mapfile -t units < <(cd "$checkout/systemd" && ls -- *.service *.socket *.path *.timer 2>/dev/null)
# missing_debs DIR: those of the list not installed in the tree at DIR.
missing_debs() {
  local p out=()
  for p in "${debs[@]}"; do
    dpkg-query --admindir="$1/var/lib/dpkg" -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed || out+=("$p")
  done
  echo "${out[*]}"
}
# snapshot DIR: every entry install.sh may touch (folders without their times,
# which move as entries come and go; resolv.conf is rewritten by each nspawn start).
snapshot() {
  find "$1/etc" "$1/opt/loa" "$1/usr/local" "$1/var/lib/dpkg/status" -printf '%y %p %m %U:%G %s %l %T@ %C@\n' |
    awk -v skip="$1/etc/resolv.conf" '$2 == skip { next } $1 == "d" { print $1, $2, $3, $4; next } { print }' | sort
}
json_str() { sed 's/\\/\\\\/g; s/"/\\"/g' <<<"$1" | tr '\n' ' ' | sed 's/ *$//'; }

# install_phase PREFIX DIR COMMAND...: COMMAND (an install.sh run) twice on the
# tree at DIR, and the checks; prints JSON fields (each after a comma) and
# fails when one check did.
install_phase() {
  local prefix="$1" dir="$2"; shift 2
  local label="${prefix%_}"; label="${label:-root}"
  local status=0 s1=$SECONDS ok=0 missing loa_path help_status=0 users=() u verify verify_status=0 again_status=0 reported written
  "$@" >"$work/$label-install.log" 2>&1 || status=$?
  printf ',"%sinstall_exit":%s,"%sinstall_s":%s' "$prefix" "$status" "$prefix" "$((SECONDS - s1))"
  echo "soak bookworm: $label: install.sh exit $status in $((SECONDS - s1)) s: $(grep -m1 '^loa: installing Debian packages\|^install.sh: installing Debian packages' "$work/$label-install.log" | cut -c1-160)" >&2
  tail -1 "$work/$label-install.log" >&2

  missing="$(missing_debs "$dir")"
  loa_path="$(in_tree "$dir" env -i HOME=/root TERM=dumb sh -lc 'command -v loa' || true)"
  in_tree "$dir" env -i HOME=/root TERM=dumb sh -lc 'loa --help' >"$work/$label-help.log" || help_status=$?
  # Exit 0 with no overview is a failure too (99).
  [ "$help_status" != 0 ] || grep -q 'loa status' "$work/$label-help.log" || help_status=99
  for u in loa loa-board loa-clock; do grep -q "^$u:" "$dir/etc/passwd" && users+=("$u"); done
  # The tree's own systemd (installed with the packages) reads the units; any output is a complaint.
  verify="$(in_tree "$dir" sh -c 'systemd-analyze verify "$@" 2>&1' sh "${units[@]/#//etc/systemd/system/}")" || verify_status=$?
  [ -z "$verify" ] || { [ "$verify_status" != 0 ] || verify_status=1; printf '%s\n' "$verify" >>"$work/$label-install.log"; }
  echo "soak bookworm: $label: missing packages: ${missing:-none}; loa: ${loa_path:-not on PATH} (--help exit $help_status); users: ${users[*]}; verify: ${verify:-ok}" >&2
  printf ',"%sdebs":%s,"%sdebs_missing":"%s","%sloa_path":"%s","%sloa_help_exit":%s,"%susers":"%s","%sunits_verify":"%s"' \
    "$prefix" "${#debs[@]}" "$prefix" "$missing" "$prefix" "$loa_path" "$prefix" "$help_status" \
    "$prefix" "$(IFS=,; echo "${users[*]}")" "$prefix" "$([ "$verify_status" = 0 ] && echo ok || json_str "$(head -3 <<<"$verify")")"

  # Again: what it reports, and what it writes.
  snapshot "$dir" >"$work/$label-before"
  "$@" >"$work/$label-install-again.log" 2>&1 || again_status=$?
  snapshot "$dir" >"$work/$label-after"
  reported="$(sed -n 's/^install.sh: changed \([0-9]*\):.*/\1/p; s/^install.sh: nothing changed$/0/p' "$work/$label-install-again.log" | tail -1)"
  written="$(diff "$work/$label-before" "$work/$label-after" | grep -c '^>' || true)"
  echo "soak bookworm: $label: second run exit $again_status, reports ${reported:-no change line} changed, wrote $written entries" >&2
  [ "$written" = 0 ] || diff "$work/$label-before" "$work/$label-after" | head -20 >&2
  printf ',"%sinstall_again_exit":%s,"%sinstall_again_changed":%s,"%sinstall_again_written":%s' \
    "$prefix" "$again_status" "$prefix" "${reported:-null}" "$prefix" "$written"

  [ "$status" = 0 ] && [ -z "$missing" ] && [ "$loa_path" = /usr/local/bin/loa ] && [ "$help_status" = 0 ] &&
    [ ${#users[@]} = 3 ] && [ "$verify_status" = 0 ] && [ "$again_status" = 0 ] && [ "${reported:-x}" = 0 ] && [ "$written" = 0 ]
}

# The trees' /tmp (apt's and npm's logs) kept in $work.
mkdir -p "$work/root-tmp" "$work/fresh-tmp"
fields="" install_ok=true
echo "soak bookworm: root: provisioning/install.sh (${#debs[@]} Debian packages listed) in the root as its host, after the demo" >&2
fields+="$(install_phase "" "$root" in_checkout "$root" --bind="$work/root-tmp:/tmp" provisioning/install.sh)" || install_ok=false
if [ "$fresh" = yes ]; then
  echo "soak bookworm: fresh: provisioning/install.sh in a copy of the root made before the demo (clone, then install)" >&2
  fields+="$(install_phase fresh_ "$fresh_root" in_checkout "$fresh_root" --bind="$work/fresh-tmp:/tmp" provisioning/install.sh)" || install_ok=false
fi
if [ "$bare" = yes ]; then
  # From this machine into the bare tree: the root's clone, built there on Node 20, is the release.
  echo "soak bookworm: tree: provisioning/install.sh --root (packages by the tree's apt under nspawn) into the bare tree" >&2
  fields+="$(install_phase tree_ "$tree" "$checkout/provisioning/install.sh" --root "$tree")" || install_ok=false
fi

ok=false
[ "$demo_status" = 0 ] && [ "$test_status" = 0 ] && [ -n "$summary" ] && [ "${runtime_node%%.*}" = v20 ] && [ "$install_ok" = true ] && ok=true
[ "$ok" = true ] || { keep=yes; echo "soak bookworm: logs in $work" >&2; }
printf '{"soak":"bookworm","system_node":"%s","node":"%s","demo_exit":%s,"tests":"%s"%s,"s":%s,"ok":%s}\n' \
  "$system_node" "$runtime_node" "$demo_status" "$(json_str "$summary")" "$fields" "$((SECONDS - t0))" "$ok"
[ "$ok" = true ]
