#!/usr/bin/env bash
# CI smoke run of the fuzz targets: builds every target (so they stay buildable) and runs each for
# a few seconds on the corpus seeded from fixtures/ (seed.sh). A crash, a panic, an input taking
# over 1 s or an RSS over 256 MiB fails the run. Runs per target: FUZZ_RUNS (default 100,000, seed 1),
# at most FUZZ_SECONDS (default 30).
#
# Works on stable Rust: `--sanitizer none` needs no nightly flag (cargo-fuzz ≥ 0.12); the targets
# are safe Rust, so AddressSanitizer would add little. See fuzz/README.md for longer runs.
set -euo pipefail
cd "$(dirname "$0")"
# A fixed seed and a fixed number of runs make the smoke run repeatable: it proves the targets
# build and that nothing known regressed, and cannot turn red on a new finding by chance (the
# long runs in README.md look for those). The time cap only bounds a slow machine.
runs="${FUZZ_RUNS:-100000}"
seconds="${FUZZ_SECONDS:-30}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
./seed.sh >/dev/null
cargo fuzz build --sanitizer none

failed=()
for target in xml_request query_filters ical_ingest vcard_ingest imap_login smtp_command; do
    case "$target" in
        xml_request | query_filters) dict=dict/xml.dict ;;
        imap_login) dict=dict/imap.dict ;;
        smtp_command) dict=dict/smtp.dict ;;
        *) dict=dict/ical.dict ;;
    esac
    echo "--- $target ($runs runs, at most ${seconds}s)"
    # -max_len keeps the smoke run on realistic sizes; the long runs in README.md go bigger.
    if ! cargo fuzz run --sanitizer none "$target" "corpus/$target" -- \
        -dict="$dict" -seed=1 -runs="$runs" -max_total_time="$seconds" -rss_limit_mb=256 -timeout=1 -max_len=16384 \
        -print_final_stats=1 2>"corpus/$target.log"; then
        failed+=("$target")
        grep -a -v '^#' "corpus/$target.log" | tail -40 >&2
    else
        grep -a -E '^Done' "corpus/$target.log" || true
    fi
done

if ((${#failed[@]})); then
    echo "fuzz smoke run failed: ${failed[*]} (inputs in fuzz/artifacts/<target>/)" >&2
    exit 1
fi
echo "fuzz smoke run passed"
