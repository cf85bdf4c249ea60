//! Arrivals and departures of jigs between two scans (`benchctl jigs --follow`).
//!
//! The caller rescans when libusb reports a hot-plug event or when its tick passes (ports
//! named with `--port` and machines without hot-plug are polled), and [`changes`] says what
//! differs. Jigs are matched by [`Jig::key`].

use std::collections::BTreeMap;

use super::Jig;

/// What happened to one jig between two scans.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// It appeared.
    Arrived,
    /// It went away.
    Left,
    /// It is still there but says something else (it answered now, or stopped answering).
    Changed,
}

/// The jigs of a scan by key, those whose port has gone left out (a named port with nothing
/// behind it is a departure, not a jig with a problem).
pub fn present(jigs: &[Jig]) -> BTreeMap<String, Jig> {
    jigs.iter()
        .filter(|j| j.port.as_ref().is_none_or(|p| p.metadata().is_ok()))
        .map(|j| (j.key(), j.clone()))
        .collect()
}

/// What changed from `before` to `after`, departures first, each group in key order.
pub fn changes(
    before: &BTreeMap<String, Jig>,
    after: &BTreeMap<String, Jig>,
) -> Vec<(Change, Jig)> {
    let mut out = Vec::new();
    for (key, jig) in before {
        if !after.contains_key(key) {
            out.push((Change::Left, jig.clone()));
        }
    }
    for (key, jig) in after {
        match before.get(key) {
            None => out.push((Change::Arrived, jig.clone())),
            Some(old) if old != jig => out.push((Change::Changed, jig.clone())),
            Some(_) => {}
        }
    }
    out
}
