//! End-to-end tests: real `benchctl` processes talking over real PTYs, with every fault the
//! simulated jig can inject. One binary, one module per area (ripgrep style).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod bad_input;
mod export;
mod faults;
mod grading;
mod harness;
mod library;
mod line;
mod liveness;
mod plans;
mod store;
mod tmux;
mod tui;
