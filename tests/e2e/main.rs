//! End-to-end tests: real `benchctl` processes talking over real PTYs, with every fault the
//! simulated jig can inject. One binary, one module per area (ripgrep style).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod audit;
mod bad_input;
mod export;
mod faults;
mod grading;
mod hardening;
mod hardware;
mod harness;
mod library;
mod line;
mod liveness;
mod plans;
mod plant_db;
mod plant_reads;
mod plant_sync;
mod plant_tls;
mod postgres;
mod powercut;
mod provenance;
mod qemu;
mod station;
mod store;
mod tmux;
mod tui;
