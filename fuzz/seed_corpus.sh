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
echo "seeded $(ls corpus/mkv_reader | wc -l) inputs per mkv target"

# policy_parse: documents, then \0 ACTION \0 RESOURCE.
mkdir -p corpus/policy_parse
arn='arn:aws:kinesisvideo:us-east-1:123456789012:stream/cam-1/1700000000000'
printf '%s\0kinesisvideo:PutMedia\0%s' \
  '{"Version":"2012-10-17","Statement":[{"Sid":"P","Effect":"Allow","Action":["kinesisvideo:PutMedia","kinesisvideo:Describe*"],"Resource":"arn:aws:kinesisvideo:*:*:stream/cam-*/*"}]}' \
  "$arn" >corpus/policy_parse/producer
printf '%s\0kinesisvideo:GetMedia\0%s' \
  '{"Statement":{"Effect":"Deny","NotAction":"kinesisvideo:Get*","NotResource":["arn:aws:kinesisvideo:*:*:stream/lobby/*","*"]}}' \
  "$arn" >corpus/policy_parse/not_elements
printf '%s\0vidstream:ListCameras\0*' \
  '{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"vidstream:?ist*","Resource":"arn:vidstream:*:*:camera/*a*a*b"}]}' \
  >corpus/policy_parse/admin_with_deny
echo "seeded $(ls corpus/policy_parse | wc -l) policy inputs"
