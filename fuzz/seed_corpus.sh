#!/usr/bin/env bash
# Seeds fuzz/corpus/<target>/ (git-ignored) from fixtures/. Each seed is one options byte
# followed by a fixture, whole and cut to its first 4 KiB and 16 KiB (small inputs run faster
# and still cover the EBML header, Tracks and the first Clusters). sigv4_parse gets a few
# hand-written requests that reach the signature check.
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

# sigv4_parse: an options byte, then the Authorization value, query, path, date and session
# token, one per line (see fuzz_targets/sigv4_parse.rs).
mkdir -p corpus/sigv4_parse
sig=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31
scope=AKIDEXAMPLE/20260126/us-east-1/kinesisvideo/aws4_request
auth="AWS4-HMAC-SHA256 Credential=$scope, SignedHeaders=host;x-amz-date, Signature=$sig"
auth_date="AWS4-HMAC-SHA256 Credential=$scope, SignedHeaders=date;host, Signature=$sig"
query="X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=${scope//\//%2F}&X-Amz-Date=20260126T101112Z"
query="$query&X-Amz-Expires=300&X-Amz-SignedHeaders=host&X-Amz-Security-Token=TOKEN&X-Amz-Signature=$sig"
seed() { printf "\\x0$1%s\\n%s\\n%s\\n%s\\n%s" "$3" "$4" "$5" "$6" "$7" >"corpus/sigv4_parse/$2"; }
seed 0 header "$auth" "" describeStream 20260126T101112Z ""
seed 2 header_date "$auth_date" "a=1&b=x%20y" putMedia "Mon, 26 Jan 2026 10:11:12 GMT" TOKEN
seed 1 presigned "" "$query" "hls/a%2Fb/master.m3u8" 20260126T101112Z ""
echo "seeded $(ls corpus/sigv4_parse | wc -l) sigv4 inputs"

# sps_parse: each fixture's CodecPrivate (MKV element 0x63A2, an avcC or hvcC), after a pick
# byte saying its codec (even: H.264, odd: H.265).
mkdir -p corpus/sps_parse
python3 - <<'PY'
import pathlib
for f in sorted(pathlib.Path("../fixtures").glob("*.mkv")):
    data = f.read_bytes()
    i = data.find(b"\x63\xa2")
    if i < 0:
        continue
    # EBML size vint after the id.
    first = data[i + 2]
    n = 8 - first.bit_length() + 1
    size = first & ((1 << (8 - n)) - 1)
    for b in data[i + 3 : i + 2 + n]:
        size = (size << 8) | b
    private = data[i + 2 + n : i + 2 + n + size]
    pick = b"\x01" if b"HEVC" in data[:4096] else b"\x00"
    pathlib.Path("corpus/sps_parse", f.name).write_bytes(pick + private)
PY
echo "seeded $(ls corpus/sps_parse | wc -l) sps inputs"
