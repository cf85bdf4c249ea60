//! `benchctl`, the Benchline bench controller, as a library; `main.rs` is the command line.
//!
//! - [`link`]: one jig over a serial port (tokio-serial): framing, handshake, requests
//!   multiplexed by sequence number, timeouts, retries of idempotent requests, reset detection by
//!   boot id, reconnection after unplug, and the jig's event stream.
//! - [`sim`]: simulated jigs on PTYs, running the real jig firmware on simulated hardware, with
//!   fault injection; what `benchctl sim-jig` and `benchctl run --sim N` start.
//! - [`run`]: the test run: one task per slot, the procedures of a phone scheduled by channel,
//!   one JSON record per tested phone.
//!
//! Invariant: a measurement only ever comes from a frame that passed its CRC and decoded as the
//! reply to the request that asked for it.

pub mod dryrun;
pub mod export;
pub mod grade;
pub mod link;
pub mod plan;
pub mod run;
pub mod sim;
pub mod store;
