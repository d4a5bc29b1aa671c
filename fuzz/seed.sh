#!/usr/bin/env bash
# Seeds fuzz/corpus/<target>/ from the repository's real-world inputs: fixtures/ical/*.ics,
# fixtures/vcard/*.vcf, dav/testdata/requests/*.xml, the request bodies recorded in
# fixtures/replays/*.json (when jq is installed) and the hand-written seeds in fuzz/seeds/<target>/.
# Copies only, named by content hash so re-running adds nothing twice; the corpus directories are
# not committed (.gitignore), libFuzzer grows them in place.
set -euo pipefail
fuzz="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$fuzz")"
corpus="$fuzz/corpus"

add() { # add <target> <file>...
    local target="$1" f
    shift
    mkdir -p "$corpus/$target"
    for f in "$@"; do
        [[ -f "$f" ]] || continue
        cp "$f" "$corpus/$target/$(sha1sum "$f" | cut -c1-40)"
    done
}

add ical_ingest "$root"/fixtures/ical/*.ics "$fuzz"/seeds/ical_ingest/*
add vcard_ingest "$root"/fixtures/vcard/*.vcf "$fuzz"/seeds/vcard_ingest/*
add xml_request "$root"/dav/testdata/requests/*.xml "$fuzz"/seeds/xml_request/*
add query_filters "$root"/dav/testdata/requests/*.xml "$fuzz"/seeds/query_filters/*
add imap_login "$fuzz"/seeds/imap_login/*
add smtp_command "$fuzz"/seeds/smtp_command/*

# Bodies the recorded clients send: XML to the request parsers, calendar and card bodies to ingest.
if command -v jq >/dev/null 2>&1; then
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    n=0
    for replay in "$root"/fixtures/replays/*.json; do
        while IFS= read -r -d '' body; do
            n=$((n + 1))
            printf '%s' "$body" >"$tmp/$n"
            case "$body" in
                *BEGIN:VCALENDAR*) add ical_ingest "$tmp/$n" ;;
                *BEGIN:VCARD*) add vcard_ingest "$tmp/$n" ;;
                \<*) add xml_request "$tmp/$n" && add query_filters "$tmp/$n" ;;
            esac
        done < <(jq -j '.steps[] | select(.body != null and .body != "") | .body + "\u0000"' "$replay")
    done
fi

for target in ical_ingest vcard_ingest xml_request query_filters; do
    echo "$target: $(find "$corpus/$target" -type f | wc -l) inputs"
done
