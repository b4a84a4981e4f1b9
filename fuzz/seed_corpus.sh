#!/usr/bin/env bash
# Seeds fuzz/corpus/<target>/ (git-ignored) from fixtures/. Each seed is one options byte
# followed by a fixture, whole and cut to its first 4 KiB and 16 KiB (small inputs run faster
# and still cover the EBML header, Tracks and the first Clusters).
set -euo pipefail
cd "$(dirname "$0")"
for target in mkv_reader mkv_roundtrip; do
  mkdir -p "corpus/$target"
  for f in ../fixtures/*.mkv ../fixtures/*.bin; do
    name=$(basename "$f")
    for opts in 0 1; do
      { printf "\\x0$opts"; cat "$f"; } >"corpus/$target/$name.$opts"
      for cut in 4096 16384; do
        { printf "\\x0$opts"; head -c "$cut" "$f"; } >"corpus/$target/$name.$opts.$cut"
      done
    done
  done
done
echo "seeded $(ls corpus/mkv_reader | wc -l) inputs per target"
