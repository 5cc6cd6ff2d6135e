#!/usr/bin/env bash
# Installs the Debian packages Tessera needs to build, test and run, when they are missing.
# Called by both README commands; safe to run again (it only installs what is absent).
set -euo pipefail

PKGS=(
  build-essential pkg-config clang clang-format
  libyaml-dev libsqlite3-dev libjansson-dev libxxhash-dev libzstd-dev
  liblmdb-dev libmicrohttpd-dev libhiredis-dev libpq-dev libcmocka-dev
  libgnutls28-dev nettle-dev
  python3
  wrk redis-server redis-tools curl openssl
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "setup: all packages present"
