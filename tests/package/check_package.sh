#!/usr/bin/env bash
# Builds the Debian package from the build directory $1 with cpack and checks it: its files, its
# control data and conffile, its dependencies, and an install with dpkg into a throwaway root
# (maintainer scripts included, run without a chroot) whose binary then runs.
set -euo pipefail
build_dir=$(cd "$1" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/topup-package.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

if ! cpack --config "$build_dir/CPackConfig.cmake" -B "$work/out" >"$work/cpack.log" 2>&1; then
  cat "$work/cpack.log" >&2
  fail "cpack failed"
fi
deb=$(ls "$work"/out/topup_*_*.deb)
echo "built $(basename "$deb") ($(du -k "$deb" | cut -f1) KiB)"

# The files, and nothing else but directories.
contents=$(dpkg-deb -c "$deb")
files=$(awk '$1 !~ /^d/ {print $NF}' <<<"$contents" | sort)
expected=$(printf '%s\n' ./etc/topup/topup.toml ./lib/systemd/system/topup.service ./usr/bin/topup)
[ "$files" = "$expected" ] || fail "package files are"$'\n'"$files"$'\n'"expected"$'\n'"$expected"
grep -q '^-rwxr-xr-x root/root .* ./usr/bin/topup$' <<<"$contents" || fail "/usr/bin/topup mode"

# Control data.
[ "$(dpkg-deb -f "$deb" Package)" = topup ] || fail "package name"
depends=$(dpkg-deb -f "$deb" Depends)
for library in libc6 libstdc++6 libsqlite3-0 libpq5 libssl3 libsystemd0 libhiredis librabbitmq4; do
  grep -q "$library" <<<"$depends" || fail "Depends lacks $library: $depends"
done
dpkg-deb -I "$deb" >"$work/info.txt" || fail "dpkg-deb -I"
mkdir "$work/control"
dpkg-deb -e "$deb" "$work/control"
for script in postinst prerm postrm; do
  [ -x "$work/control/$script" ] || fail "no executable $script in the control archive"
done
[ "$(cat "$work/control/conffiles")" = /etc/topup/topup.toml ] || fail "conffiles"

# The unit: what it runs, how it tells readiness, and its hardening.
unit=$(dpkg-deb --fsys-tarfile "$deb" | tar -xO ./lib/systemd/system/topup.service)
for line in 'Type=notify' 'ExecStart=/usr/bin/topup serve --config /etc/topup/topup.toml' \
  'DynamicUser=yes' 'User=topup' 'StateDirectory=topup' 'ProtectSystem=strict' \
  'NoNewPrivileges=yes' 'PrivateTmp=yes' 'ProtectHome=yes' 'CapabilityBoundingSet=$' \
  'LoadCredential=master.key:/etc/topup/master.key'; do
  grep -q "^$line" <<<"$unit" || fail "the unit lacks $line"
done

# Installed into a throwaway root with its own dpkg database. Its dependencies are not in that
# database (they are on this machine), hence --force-depends.
root="$work/root"
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/var/log"
touch "$root/var/lib/dpkg/status"
dpkg_root=(dpkg --root="$root" --force-script-chrootless --force-depends --log=/dev/null)
"${dpkg_root[@]}" -i "$deb" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -i"; }
[ "$(dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Status}' topup)" = \
  "install ok installed" ] || fail "not installed"
dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Conffiles}' topup |
  grep -q '/etc/topup/topup.toml' || fail "conffile not registered"
key="$root/etc/topup/master.key"
[ -f "$key" ] || fail "postinst made no master key"
[ "$(stat -c %a "$key")" = 600 ] || fail "master key mode $(stat -c %a "$key")"
grep -Eq '^[0-9a-f]{64}$' "$key" || fail "master key is not 64 hex characters"

"$root/usr/bin/topup" --help >"$work/help.txt" || fail "topup --help failed"
grep -q 'serve' "$work/help.txt" || fail "topup --help does not list serve"
# Into a file, not a pipe: `grep -q` stops reading at its first match, and under pipefail the
# writer's SIGPIPE would fail the check.
"$root/usr/bin/topup" serve --help >"$work/serve-help.txt" || fail "topup serve --help failed"
grep -q -- '--drain-timeout-s' "$work/serve-help.txt" || fail "serve --help lacks --drain-timeout-s"

if command -v systemd-analyze >/dev/null; then
  # The unit's syntax, options and commands, as this machine's systemd reads them; its ExecStart
  # pointed at the binary installed in the throwaway root.
  sed "s|/usr/bin/topup|$root/usr/bin/topup|" "$root/lib/systemd/system/topup.service" \
    >"$work/topup.service"
  systemd-analyze verify "$work/topup.service" >"$work/verify.log" 2>&1 ||
    { cat "$work/verify.log" >&2; fail "systemd-analyze verify"; }
  if [ -s "$work/verify.log" ]; then
    cat "$work/verify.log" >&2
    fail "systemd-analyze verify warned"
  fi
  echo "systemd-analyze verify: clean"
fi

"${dpkg_root[@]}" -r topup >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -r"; }
[ ! -e "$root/usr/bin/topup" ] || fail "dpkg -r left /usr/bin/topup"
[ -f "$root/etc/topup/topup.toml" ] || fail "dpkg -r removed the conffile"
echo "package checks passed"
