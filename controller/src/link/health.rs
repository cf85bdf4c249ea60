//! How well a link works: its round trip (to size the wait before a lost frame is recovered)
//! and its loss rate over a window of recent exchanges (to take a jig out of service instead of
//! grinding on).

use std::collections::VecDeque;
use std::time::Duration;

/// When a jig is taken out of service and brought back.
#[derive(Debug, Clone)]
pub struct HealthPolicy {
    /// Exchanges remembered.
    pub window: usize,
    /// Exchanges needed before the rate is judged.
    pub min_samples: usize,
    /// Fraction of exchanges that lost a frame at or above which the jig goes out of service.
    pub max_loss: f64,
    /// Requests in a row that got no answer at all before the jig goes out of service.
    pub max_dead: u32,
    /// Pause between probes of a jig out of service.
    pub probe_every: Duration,
    /// Clean probes in a row that bring it back.
    pub probes_to_return: u32,
}

impl Default for HealthPolicy {
    fn default() -> Self {
        HealthPolicy {
            window: 64,
            min_samples: 32,
            max_loss: 0.25,
            max_dead: 4,
            probe_every: Duration::from_millis(250),
            probes_to_return: 8,
        }
    }
}

/// How one exchange (a request and everything it took to get its answer) went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exchange {
    /// Answered without a lost frame.
    Clean,
    /// Answered after a lost request or reply was recovered.
    Recovered,
    /// No answer before the deadline.
    Dead,
}

/// Smoothed round trip, as TCP keeps it (RFC 6298): the wait before a frame is taken for lost
/// is the smoothed round trip plus four deviations, bounded.
#[derive(Debug, Clone)]
pub struct RoundTrip {
    srtt: Option<f64>,
    rttvar: f64,
    floor: Duration,
    ceiling: Duration,
}

impl RoundTrip {
    /// An estimator whose wait stays within `floor..=ceiling`.
    pub fn new(floor: Duration, ceiling: Duration) -> Self {
        RoundTrip {
            srtt: None,
            rttvar: 0.0,
            floor,
            ceiling,
        }
    }

    /// Takes one measured round trip (time to answer minus the procedure's own duration).
    pub fn sample(&mut self, rtt: Duration) {
        let r = rtt.as_secs_f64();
        match self.srtt {
            None => {
                self.srtt = Some(r);
                self.rttvar = r / 2.0;
            }
            Some(s) => {
                self.rttvar = 0.75 * self.rttvar + 0.25 * (s - r).abs();
                self.srtt = Some(0.875 * s + 0.125 * r);
            }
        }
    }

    /// How long to wait past a procedure's own duration before its frame is taken for lost.
    pub fn slack(&self) -> Duration {
        let s = match self.srtt {
            None => self.ceiling.as_secs_f64(),
            Some(s) => s + 4.0 * self.rttvar,
        };
        Duration::from_secs_f64(s.clamp(self.floor.as_secs_f64(), self.ceiling.as_secs_f64()))
    }
}

/// Loss over the last exchanges.
#[derive(Debug, Clone)]
pub struct LossWindow {
    recent: VecDeque<Exchange>,
    dead_in_a_row: u32,
}

/// Why a jig should go out of service.
#[derive(Debug, Clone, PartialEq)]
pub struct Unhealthy(pub String);

impl LossWindow {
    /// An empty window.
    pub fn new() -> Self {
        LossWindow {
            recent: VecDeque::new(),
            dead_in_a_row: 0,
        }
    }

    /// Forgets the past (when a jig comes back into service).
    pub fn clear(&mut self) {
        self.recent.clear();
        self.dead_in_a_row = 0;
    }

    /// Records one exchange; `Some` when the link has become too bad to use under `policy`.
    pub fn record(&mut self, e: Exchange, policy: &HealthPolicy) -> Option<Unhealthy> {
        self.recent.push_back(e);
        while self.recent.len() > policy.window.max(1) {
            self.recent.pop_front();
        }
        self.dead_in_a_row = if e == Exchange::Dead {
            self.dead_in_a_row + 1
        } else {
            0
        };
        if self.dead_in_a_row >= policy.max_dead {
            return Some(Unhealthy(format!(
                "{} requests in a row got no answer",
                self.dead_in_a_row
            )));
        }
        let n = self.recent.len();
        let lost = self
            .recent
            .iter()
            .filter(|&&e| e != Exchange::Clean)
            .count();
        if n >= policy.min_samples && lost as f64 >= policy.max_loss * n as f64 {
            return Some(Unhealthy(format!(
                "{lost} of the last {n} exchanges lost a frame, {:.0} %",
                lost as f64 * 100.0 / n as f64
            )));
        }
        None
    }
}

impl Default for LossWindow {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clean_link_stays_in_service_and_a_lossy_one_does_not() {
        let policy = HealthPolicy::default();
        let mut w = LossWindow::new();
        for i in 0..1000 {
            let e = if i % 10 == 0 {
                Exchange::Recovered
            } else {
                Exchange::Clean
            };
            assert_eq!(w.record(e, &policy), None, "exchange {i}");
        }
        let mut verdict = None;
        for i in 0..200 {
            let e = if i % 3 == 0 {
                Exchange::Clean
            } else {
                Exchange::Recovered
            };
            verdict = verdict.or(w.record(e, &policy));
        }
        assert!(verdict.is_some_and(|u| u.0.contains("lost a frame")));
    }

    #[test]
    fn requests_that_die_in_a_row_take_the_jig_out() {
        let policy = HealthPolicy::default();
        let mut w = LossWindow::new();
        for _ in 1..policy.max_dead {
            assert_eq!(w.record(Exchange::Dead, &policy), None);
        }
        assert!(w.record(Exchange::Dead, &policy).is_some());
        w.clear();
        assert_eq!(w.record(Exchange::Dead, &policy), None);
    }

    #[test]
    fn the_wait_follows_the_round_trip_within_its_bounds() {
        let (floor, ceiling) = (Duration::from_millis(5), Duration::from_millis(500));
        let mut rt = RoundTrip::new(floor, ceiling);
        assert_eq!(rt.slack(), ceiling, "unknown round trip: the longest wait");
        for _ in 0..50 {
            rt.sample(Duration::from_micros(200));
        }
        assert_eq!(rt.slack(), floor);
        for _ in 0..50 {
            rt.sample(Duration::from_millis(40));
        }
        let s = rt.slack();
        assert!(s >= Duration::from_millis(40) && s < ceiling, "{s:?}");
    }
}
