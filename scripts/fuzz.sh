#!/usr/bin/env bash
# Fuzz runs of fuzz/fuzz_targets/* (STYLE.md §4), part of `make test` (and `make fuzz`).
#
#   scripts/fuzz.sh                     # every target, a fixed number of runs each (make test)
#   scripts/fuzz.sh sigv4_parse         # only the named targets
#   FUZZ_SECS=600 scripts/fuzz.sh mkv_reader   # a timed campaign, random seed
#
# The targets are the files in fuzz/fuzz_targets/ (each a [[bin]] of fuzz/Cargo.toml).
#
# Two modes:
# - Fixed (the default, what `make test` runs): each target runs `-runs=N -seed=1` (N from
#   RUNS below) from its seed corpus alone (fuzz/seed_corpus.sh into target/fuzz/seeds/; what
#   earlier runs found is not read, and nothing is written to fuzz/corpus/), with `-reload=0`
#   (no time-driven corpus re-reads) and, where the machine allows it, address-space
#   randomization off (`setarch -R`: libFuzzer's table of recent comparisons is indexed by
#   code address). So the same binary does the same run on every machine: a failure
#   reproduces, and a pass does not depend on luck. Measured: identical coverage and corpus
#   run after run, except for playback_query, whose parsers keep the query in std HashMaps
#   (seeded at random per process), so the order of its comparisons, and with it some
#   mutations, differ a little between runs. N is chosen so each target takes 7–15 s on the
#   2-core CI machine when idle, 10–22 s with a build on the other core (about 100 s for all
#   eight, idle; before, five targets ran 25 s each).
# - Campaign (FUZZ_SECS set): each target runs for FUZZ_SECS seconds with a random seed, from
#   and into its corpus fuzz/corpus/<target>/ (git-ignored; seeded by fuzz/seed_corpus.sh and
#   grown by every campaign).
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
# one a second. About 8–10 minutes added to `make test` on a clean checkout.
#
# Dictionaries are fuzz/<family>.dict. A crash (a panic included), leak, timeout or OOM fails
# the script: the input is saved in fuzz/artifacts/<target>/; reproduce with
#   target/fuzz/x86_64-unknown-linux-gnu/fuzz/<target> fuzz/artifacts/<target>/<file>
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f "$HOME/.cargo/env" ]; then . "$HOME/.cargo/env"; fi

# Fixed-mode runs per target (executions, the seed corpus's included): 7–15 s each on the
# 2-core machine, idle (scripts/fuzz.sh prints each target's time). A new target needs a line.
declare -A RUNS=(
  [codec_config]=200000
  [kvs_json_body]=300000
  [mkv_reader]=120000
  [mkv_roundtrip]=120000
  [playback_query]=40000
  [policy_parse]=400000
  [sigv4_parse]=600000
  [sps_parse]=800000
)

secs=${FUZZ_SECS:-}
triple=$(rustc -vV | sed -n 's/^host: //p')
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in fuzz/fuzz_targets/*.rs; do targets+=("$(basename "$f" .rs)"); done
fi

dict_of() {
  case "$1" in
    codec_*) echo fuzz/codec.dict ;;
    kvs_json_*) echo fuzz/kvs_json.dict ;;
    mkv_*) echo fuzz/mkv.dict ;;
    playback_*) echo fuzz/playback.dict ;;
    policy_*) echo fuzz/policy.dict ;;
    sigv4_*) echo fuzz/sigv4.dict ;;
    sps_*) echo fuzz/sps.dict ;;
    *) echo "fuzz.sh: no dictionary for $1" >&2; return 2 ;;
  esac
}
for t in "${targets[@]}"; do
  dict_of "$t" >/dev/null
  if [ -z "$secs" ] && [ -z "${RUNS[$t]:-}" ]; then
    echo "fuzz.sh: no fixed run count for $t; add it to RUNS in $0" >&2
    exit 2
  fi
done

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

norandom=()
if [ -n "$secs" ]; then
  fuzz/seed_corpus.sh >/dev/null
else
  if setarch "$(uname -m)" -R true 2>/dev/null; then
    norandom=(setarch "$(uname -m)" -R)
  else
    echo "fuzz: setarch -R is not allowed here; runs may differ slightly from run to run" >&2
  fi
  seeds="$CARGO_TARGET_DIR/seeds"
  rm -rf "$seeds" "$CARGO_TARGET_DIR/fixed-run"
  fuzz/seed_corpus.sh "$seeds" >/dev/null
fi

for t in "${targets[@]}"; do
  mkdir -p "fuzz/artifacts/$t"
  if [ -n "$secs" ]; then
    echo "fuzz: $t for $secs s"
    mode=(-max_total_time="$secs")
    corpus=("fuzz/corpus/$t")
  else
    echo "fuzz: $t for ${RUNS[$t]} runs"
    # New inputs go to a scratch directory, so the seeds stay as they are.
    mkdir -p "$CARGO_TARGET_DIR/fixed-run/$t"
    mode=(-runs="${RUNS[$t]}" -seed=1 -reload=0)
    corpus=("$CARGO_TARGET_DIR/fixed-run/$t" "$seeds/$t")
  fi
  # -rss_limit_mb: the targets promise bounded memory (STYLE.md §4); -timeout: one input
  # taking 10 s is a hang. libFuzzer exits non-zero on a crash, leak, timeout or OOM.
  log="fuzz/artifacts/$t/last-run.log"
  status=0
  t0=$(date +%s)
  "${norandom[@]}" "$CARGO_TARGET_DIR/$triple/fuzz/$t" "${corpus[@]}" \
    -dict="$(dict_of "$t")" "${mode[@]}" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="fuzz/artifacts/$t/" -print_final_stats=1 >"$log" 2>&1 || status=$?
  if [ "$status" -ne 0 ]; then
    tail -n 60 "$log" >&2
    echo "fuzz: $t failed (exit $status); the input is in fuzz/artifacts/$t/, the log in $log" >&2
    exit 1
  fi
  grep -E '^(Done [0-9]+ runs|stat::number_of_executed_units|stat::peak_rss_mb|stat::new_units_added)' "$log" |
    tr "\n" " " | sed "s/^/fuzz: $t: /" || true
  echo "($(($(date +%s) - t0)) s)"
done
echo "fuzz: done in $(($(date +%s) - start)) s"
