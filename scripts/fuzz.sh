#!/usr/bin/env bash
# Short fuzz runs of fuzz/fuzz_targets/* (STYLE.md §4), part of `make test` (and `make fuzz`).
#
#   scripts/fuzz.sh                     # every target, FUZZ_SECS (default 25) seconds each
#   scripts/fuzz.sh sigv4_parse         # only the named targets
#   FUZZ_SECS=600 scripts/fuzz.sh mkv_reader
#
# Builds the targets with plain stable cargo + libfuzzer-sys, passing the SanitizerCoverage flags
# cargo-fuzz passes (as `cargo fuzz build --sanitizer none` does), so CI needs neither
# cargo-fuzz nor RUSTC_BOOTSTRAP. No AddressSanitizer (a nightly -Z flag): the parsers under
# test are safe Rust, and panics, overflow checks and debug assertions are what they trip. For
# an ASan run use cargo-fuzz (see fuzz/Cargo.toml).
# `--target` keeps the flags off build scripts and proc macros. The build has its own profile
# (`fuzz` in fuzz/Cargo.toml: the code under test optimized, the rest of the dependency tree
# not) and target dir (target/fuzz), because every crate is compiled instrumented. Measured on
# the 2-core machine while other builds ran: a clean build 6.5–8 min (~8 CPU-minutes), a warm
# one a second; then 5 targets x 25 s. About 8–10 minutes added to `make test` on a clean
# checkout.
#
# Corpora live in fuzz/corpus/<target>/ (git-ignored; seeded by fuzz/seed_corpus.sh and grown
# by each run), dictionaries in fuzz/<family>.dict. A crash (a panic included), leak, timeout
# or OOM fails the script: the input is saved in fuzz/artifacts/<target>/; reproduce with
#   target/fuzz/x86_64-unknown-linux-gnu/fuzz/<target> fuzz/artifacts/<target>/<file>
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f "$HOME/.cargo/env" ]; then . "$HOME/.cargo/env"; fi

secs=${FUZZ_SECS:-25}
triple=$(rustc -vV | sed -n 's/^host: //p')
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(sigv4_parse policy_parse mkv_reader mkv_roundtrip sps_parse)
fi

# SanitizerCoverage as cargo-fuzz sets it up for libFuzzer: 8-bit counters + PC table for
# coverage, compare tracing for the value profile; `--cfg fuzzing` as cargo-fuzz sets it.
export RUSTFLAGS="-Cpasses=sancov-module \
-Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
-Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares \
-Cllvm-args=-simplifycfg-branch-fold-threshold=0 \
--cfg fuzzing -Cdebug-assertions -Coverflow-checks"
export CARGO_TARGET_DIR="$PWD/target/fuzz"

start=$(date +%s)
bins=()
for t in "${targets[@]}"; do bins+=(--bin "$t"); done
cargo build --manifest-path fuzz/Cargo.toml --profile fuzz --target "$triple" "${bins[@]}"
echo "fuzz: built ${targets[*]} in $(($(date +%s) - start)) s"

fuzz/seed_corpus.sh >/dev/null

for t in "${targets[@]}"; do
  case "$t" in
    mkv_*) dict=fuzz/mkv.dict ;;
    policy_*) dict=fuzz/policy.dict ;;
    sigv4_*) dict=fuzz/sigv4.dict ;;
    sps_*) dict=fuzz/sps.dict ;;
    *) echo "fuzz.sh: no dictionary for $t" >&2; exit 2 ;;
  esac
  mkdir -p "fuzz/artifacts/$t"
  echo "fuzz: $t for $secs s"
  # -rss_limit_mb: the targets promise bounded memory (STYLE.md §4); -timeout: one input
  # taking 10 s is a hang. libFuzzer exits non-zero on a crash, leak, timeout or OOM.
  log="fuzz/artifacts/$t/last-run.log"
  status=0
  "$CARGO_TARGET_DIR/$triple/fuzz/$t" "fuzz/corpus/$t" \
    -dict="$dict" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="fuzz/artifacts/$t/" -print_final_stats=1 >"$log" 2>&1 || status=$?
  if [ "$status" -ne 0 ]; then
    tail -n 60 "$log" >&2
    echo "fuzz: $t failed (exit $status); the input is in fuzz/artifacts/$t/, the log in $log" >&2
    exit 1
  fi
  grep -E '^(Done [0-9]+ runs|stat::number_of_executed_units|stat::peak_rss_mb|stat::new_units_added)' "$log" |
    tr "\n" " " | sed "s/^/fuzz: $t: /" || true
  echo
done
echo "fuzz: done in $(($(date +%s) - start)) s"
