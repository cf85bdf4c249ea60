#!/usr/bin/env bash
# Runs every check and test of Benchline. Installs what it needs when it is missing:
# - the rustfmt and clippy components;
# - the thumbv7em-none-eabihf target (the jig firmware for Cortex-M4F: the QEMU board image) and the
#   thumbv6m-none-eabi target (the RP2040 board image);
# - Debian's tmux (the terminal UI's end-to-end tests drive the real binary inside tmux), fuse3 (the
#   power-cut test mounts tests/powercut, a FUSE filesystem, and needs /dev/fuse) and qemu-system-arm
#   (the firmware image runs in QEMU's mps2-an386 machine for an end-to-end test) and postgresql
#   (the plant tests start their own server: a cluster in a temporary directory, on a Unix socket
#   only, run as the package's `postgres` user when the tests run as root, stopped afterwards).
# Also needs what a Debian machine with rustup has: a C compiler (zstd, libusb, libFuzzer), python3,
# bash and setpriv (util-linux).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "toolchain components"
if command -v rustup >/dev/null; then
  rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt
  rustup component list --installed | grep -q '^clippy' || rustup component add clippy
  for target in thumbv7em-none-eabihf thumbv6m-none-eabi; do
    rustup target list --installed | grep -q "^$target\$" || rustup target add "$target"
  done
else
  echo "rustup not found: the rustfmt and clippy components and the thumbv7em-none-eabihf and thumbv6m-none-eabi targets must already be installed" >&2
fi

step "Debian packages"
missing=()
command -v tmux >/dev/null || missing+=(tmux)
command -v fusermount3 >/dev/null || missing+=(fuse3)
command -v qemu-system-arm >/dev/null || missing+=(qemu-system-arm)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
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

step "the QEMU board image the end-to-end tests boot (firmware/boards/mps2-an386, outside the workspace)"
# cargo reads a board's .cargo/config.toml (its target) only when run from the board's folder
(cd firmware/boards/mps2-an386 && cargo fmt --check && cargo clippy --release --locked -- -D warnings && cargo build --release --locked)
# not a product image: its RAM holds a 128 KiB heap for the simulated phones it carries
python3 scripts/footprint.py --ram-goal 160 firmware/boards/mps2-an386/target/thumbv7em-none-eabihf/release/benchline-board-mps2-an386

step "tests (unit, property, simulated hardware, end-to-end over PTYs and in QEMU)"
cargo test --workspace --locked

step "protocol conformance: a Python host written from firmware/protocol/README.md"
[ -x target/debug/benchctl ] || cargo build --locked -p benchctl --bin benchctl
python3 tests/conformance/jig_client.py --benchctl target/debug/benchctl

step "jig firmware and device models build without std (thumbv7em-none-eabihf, thumbv6m-none-eabi)"
cargo build --locked -p benchline-jig -p benchline-protocol -p benchline-models --target thumbv7em-none-eabihf
cargo build --locked -p benchline-jig -p benchline-protocol --target thumbv6m-none-eabi

step "RP2040 board image (Raspberry Pi Pico, thumbv6m-none-eabi): format, lint, build, footprint"
# cargo reads a board's .cargo/config.toml (its target) only when run from the board's folder
(cd firmware/boards/rp2040 && cargo fmt --check && cargo clippy --release --locked -- -D warnings && cargo build --release --locked)
python3 scripts/footprint.py --check firmware/boards/rp2040/target/thumbv6m-none-eabi/release/benchline-board-rp2040

step "the phone library is what its generator makes"
python3 fixtures/tools/make_library.py --check

step "fuzz target compiles"
cargo check --locked --manifest-path firmware/protocol/fuzz/Cargo.toml

step "all checks passed"
