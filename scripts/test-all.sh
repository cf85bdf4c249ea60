#!/usr/bin/env bash
# Runs every check and test of Benchline. Installs what it needs when it is missing:
# the rustfmt and clippy components and the thumbv7em-none-eabihf target (the jig firmware
# library must build for a Cortex-M4F board without std), and Debian's tmux package (the
# terminal UI's end-to-end tests drive the real binary inside tmux) and Debian's fuse3 package (the
# power-cut test mounts tests/powercut, a FUSE filesystem, and needs /dev/fuse). Also needs what a Debian machine
# with rustup has: a C compiler (zstd, libFuzzer), python3, bash and setpriv (util-linux).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "toolchain components"
if command -v rustup >/dev/null; then
  rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt
  rustup component list --installed | grep -q '^clippy' || rustup component add clippy
  rustup target list --installed | grep -q '^thumbv7em-none-eabihf$' || rustup target add thumbv7em-none-eabihf
else
  echo "rustup not found: the rustfmt and clippy components and the thumbv7em-none-eabihf target must already be installed" >&2
fi

step "Debian packages"
missing=()
command -v tmux >/dev/null || missing+=(tmux)
command -v fusermount3 >/dev/null || missing+=(fuse3)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi

step "format"
cargo fmt --all --check

step "lint"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "the power-cut filesystem the end-to-end tests mount (found beside target/debug/benchctl)"
cargo build --locked -p benchline-powercut --bin powercut-fs

step "tests (unit, property, simulated hardware, end-to-end over PTYs)"
cargo test --workspace --locked

step "protocol conformance: a Python host written from firmware/protocol/README.md"
[ -x target/debug/benchctl ] || cargo build --locked -p benchctl --bin benchctl
python3 tests/conformance/jig_client.py --benchctl target/debug/benchctl

step "jig firmware builds without std for thumbv7em-none-eabihf"
cargo build --locked -p benchline-jig -p benchline-protocol --target thumbv7em-none-eabihf

step "the phone library is what its generator makes"
python3 fixtures/tools/make_library.py --check

step "fuzz target compiles"
cargo check --locked --manifest-path firmware/protocol/fuzz/Cargo.toml

step "all checks passed"
