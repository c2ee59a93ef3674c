#!/bin/sh
# deps.sh -- installs what pspfc needs to build and test, once.
#
# Idempotent: checks each Debian package and installs only the missing
# ones. As root it runs apt-get; otherwise it prints the exact command.
# Both `make demo` and `make test` run it first.
set -eu

PACKAGES="make gcc flex bison pkg-config libuv1-dev librdkafka-dev
libmosquitto-dev mosquitto mosquitto-clients kcat libsqlite3-dev sqlite3
libcriterion-dev clang clang-format libclang-rt-14-dev mandoc curl prometheus graphviz vim"

missing=""
for p in $PACKAGES; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing="$missing $p"
  fi
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" = 0 ]; then
  echo "deps: installing:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
else
  echo "deps: missing Debian packages:$missing" >&2
  echo "deps: install them with:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y$missing" >&2
  exit 1
fi
