#!/usr/bin/env bash
# Runs the Python end-to-end suite (tests/python): real boto3 and the AWS CLI against a real
# vidstream server started by the fixtures in tests/python/conftest.py.
#
#   scripts/pytest.sh                  # whole suite
#   scripts/pytest.sh -k tags -x       # extra arguments go to pytest
#
# Creates/updates the virtualenv .venv from tests/python/requirements.txt, builds the debug binary
# (`cargo build`; a no-op when it is up to date) unless VIDSTREAM_BIN is already set, then runs
# pytest. The exit code is pytest's, except that "no tests collected" (5) also counts as a failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ -f "$HOME/.cargo/env" ]]; then
  # shellcheck source=/dev/null
  . "$HOME/.cargo/env"
fi

VENV=.venv
REQUIREMENTS=tests/python/requirements.txt
PYTHON=${PYTHON:-python3}

# (Re)create the venv when it is missing or its interpreter no longer runs (e.g. the base Python moved).
if ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
  echo "pytest.sh: creating virtualenv $VENV with $("$PYTHON" --version 2>&1)"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
fi

# Install the pinned requirements when they changed since the last successful install.
stamp="$VENV/.requirements.sha256"
want="$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)"
if [[ ! -f $stamp || "$(cat "$stamp")" != "$want" ]]; then
  echo "pytest.sh: installing $REQUIREMENTS into $VENV"
  "$VENV/bin/python" -m pip install --disable-pip-version-check --quiet -r "$REQUIREMENTS"
  echo "$want" >"$stamp"
fi

if [[ -z ${VIDSTREAM_BIN:-} ]]; then
  cargo build --bin vidstream
  VIDSTREAM_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/vidstream"
fi
if [[ ! -x $VIDSTREAM_BIN ]]; then
  echo "pytest.sh: VIDSTREAM_BIN=$VIDSTREAM_BIN is not an executable file" >&2
  exit 1
fi
export VIDSTREAM_BIN

rc=0
"$VENV/bin/python" -m pytest -v tests/python "$@" || rc=$?
if ((rc == 5)); then
  echo "pytest.sh: pytest collected no tests; treating that as a failure" >&2
  rc=1
fi
exit "$rc"
