#!/usr/bin/env bash
# Installs the Debian packages the conformance suites need (debian-packages.txt), only those
# missing. The one step of the test set-up that changes the machine, so it is separate and
# named: `.ci/run` calls it, and the README tells people to run it once (as root).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mapfile -t missing < <(bash "$here/missing-packages.sh")
if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
    echo "install-packages: run as root (sudo) to install: ${missing[*]}" >&2
    exit 1
fi
echo "install-packages: installing Debian packages: ${missing[*]}"
apt-get update -q >/dev/null
# Servers among them (nginx, Apache, Dovecot) must not start as system services listening on
# every address: the suites start their own on 127.0.0.1. policy-rc.d answering 101 tells
# Debian's maintainer scripts not to start anything (unless the machine already has one).
guard=""
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    guard=/usr/sbin/policy-rc.d
fi
trap 'if [[ -n "$guard" ]]; then rm -f "$guard"; fi' EXIT
DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
