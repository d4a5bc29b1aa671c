#!/usr/bin/env bash
# Prints the packages of debian-packages.txt that are not installed, one per line.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
while read -r pkg cmd; do
    [[ -z "$pkg" || "$pkg" == \#* ]] && continue
    [[ -n "${cmd:-}" ]] && command -v "$cmd" >/dev/null && continue
    [[ "$(dpkg-query -W -f '${Status}' "$pkg" 2>/dev/null)" == "install ok installed" ]] || echo "$pkg"
done <"$here/debian-packages.txt"
