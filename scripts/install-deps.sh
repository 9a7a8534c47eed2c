#!/usr/bin/env bash
# Installs the Debian packages kiln's build and tests need, when they are missing.
set -euo pipefail
packages="build-essential cmake clang libclang-rt-14-dev libomp-dev python3 python3-venv python3-pip"
missing=""
for p in $packages; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
sudo_cmd=""
[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
echo "installing:$missing"
$sudo_cmd apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q --no-install-recommends $missing
