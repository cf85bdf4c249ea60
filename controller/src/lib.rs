//! `benchctl`, the Benchline bench controller, as a library; `main.rs` is the command line.
//!
//! - [`link`]: one jig over a serial port (tokio-serial): framing, handshake, requests
//!   multiplexed by sequence number, timeouts, retries of idempotent requests, reset detection by
//!   boot id, reconnection after unplug, and the jig's event stream.
//! - [`sim`]: simulated jigs on PTYs, running the real jig firmware on simulated hardware, with
//!   fault injection; what `benchctl sim-jig` and `benchctl run --sim N` start.
//! - [`plan`], [`grade`]: test plans (parse, validate, compile) and the pure grading function.
//! - [`run`]: the test run: one task per slot, the procedures of a phone scheduled by channel,
//!   one record per tested phone, committed to the store before anyone hears of it.
//! - [`store`]: the record store (sled): append-only, hash-chained, indexed by device and time.
//! - [`export`]: CSV / JSON / JSONL exports, `verify` and a device's history.
//! - [`plant`]: the plant's PostgreSQL database: every station's records, verified as they
//!   arrive (schema migrations, roles, pushing batches, the lag).
//! - [`discovery`]: jigs on USB (rusb) and serial ports (sysfs), identified by their `Hello`.
//! - [`flash`]: jig firmware through a debug probe (probe-rs), confirmed by the jig's `Hello`.
//! - [`station`]: station files: the station's id, its benches and their jigs by serial
//!   number, the slots in use and the bin labels; where to look for jigs' serial ports.
//! - [`tui`]: the operator's terminal UI (ratatui): the line at a glance, prompts answered with
//!   one key, alarms, shift metrics, device lookup and slot detail, fed by the run's events.
//!
//! Invariant: a measurement only ever comes from a frame that passed its CRC and decoded as the
//! reply to the request that asked for it.

pub mod discovery;
pub mod dryrun;
pub mod export;
pub mod flash;
pub mod grade;
pub mod link;
pub mod plan;
pub mod plant;
pub mod run;
pub mod sim;
pub mod station;
pub mod store;
pub mod tui;
