#!/usr/bin/env bash
# Installs what is missing from Debian 12's archive, then configures and builds topup in build/.
# Safe to run again: installs nothing that is already there and rebuilds only what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  g++ cmake ninja-build
  libboost1.81-dev libboost-json1.81-dev  # Asio/Beast (HTTP), Boost.JSON
  libsqlite3-dev                          # the embedded store
  libssl-dev                              # HMAC, SHA-256, AES-GCM, TLS
  clang libclang-rt-14-dev                # libFuzzer: the tests' bounded fuzz runs
  libspdlog-dev libcli11-dev libgtest-dev
  pkg-config libpq-dev libhiredis-dev librabbitmq-dev  # scale-out backends
  postgresql redis-server rabbitmq-server              # run privately by the tests
  prometheus-cpp-dev  # GET /metrics: its core library and text serializer (we serve it ourselves)
  prometheus          # promtool checks /metrics; a private server scrapes it in a test
  libtomlplusplus-dev # topup serve --config FILE.toml
  libsystemd-dev      # sd_notify: the systemd unit's readiness and stopping (Type=notify)
  dpkg-dev            # cpack's Debian package: dpkg-shlibdeps finds the binary's dependencies
  file                # cpack's Debian package: CPackDeb tells binaries apart with it
  libjs-chart.js      # Chart.js, built into the binary for the dashboard's charts (/ui)
  chromium            # the headless browser of the dashboard's test
  nodejs              # runs that test's script (tests/browser): the DevTools protocol, no npm
)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$package")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build --parallel "$(nproc)"
