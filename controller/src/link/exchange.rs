//! One exchange with the jig and its recoveries: how long to wait before a frame is taken for
//! lost (the procedure's nominal duration, scaled, plus a slack from the round trip), and how
//! to recover it without running anything twice (send again what may run twice and answers at
//! once; ask for the reply of anything else with `Resend`).

use std::time::Duration;

use benchline_protocol::{JigError, Reply, Request};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::health::Exchange;
use super::{Cmd, Link, LinkError, LinkStats, Note};

/// The kinds of attempt of one exchange.
#[derive(Clone, Copy, PartialEq)]
enum Attempt {
    /// The request itself (first or sent again).
    Request,
    /// A `Resend` of the request's reply.
    Resend,
}

impl Link {
    pub(super) fn scaled(&self, jig_ms: u32) -> Duration {
        Duration::from_secs_f64(f64::from(jig_ms) / 1000.0 * self.config.time_scale.max(0.0))
    }

    pub(super) fn slack(&self) -> Duration {
        self.shared
            .round_trip
            .lock()
            .map_or(self.config.slack_ceiling, |r| r.slack())
    }

    fn bump(
        &self,
        counters: Option<&LinkStats>,
        which: fn(&LinkStats) -> &std::sync::atomic::AtomicU64,
    ) {
        self.shared.stats.bump(which);
        if let Some(c) = counters {
            c.bump(which);
        }
    }

    fn attempt(
        &self,
        req: Request,
        tag: u32,
        to: &mpsc::UnboundedSender<Note>,
    ) -> Result<(), LinkError> {
        self.cmd
            .send(Cmd::Request {
                req,
                tag,
                to: to.clone(),
            })
            .map_err(|_| LinkError::Closed {
                port: self.port.to_string(),
            })
    }

    /// One exchange with its recoveries; how it went, for the health window (`None` when the
    /// link itself failed: closed, unplugged, reset).
    pub(super) async fn exchange(
        &self,
        req: &Request,
        limit: Duration,
        counters: Option<&LinkStats>,
    ) -> (Result<Reply, LinkError>, Option<Exchange>) {
        let started = Instant::now();
        let deadline = started + limit;
        let nominal = self.scaled(req.nominal_ms());
        // Requests that answer at once and may run twice are simply sent again; anything else
        // asks for its reply, so that nothing that loads or drives a phone runs twice.
        let repeat = req.is_idempotent() && req.nominal_ms() <= INSTANT_MS;
        let (to, mut notes) = mpsc::unbounded_channel();
        // Attempt `tag` is `attempts[tag]`: its kind, and its sequence number once written.
        let mut attempts: Vec<(Attempt, Option<u16>)> = Vec::new();
        let mut last_request = 0u32;
        let written = || {
            self.shared
                .written
                .load(std::sync::atomic::Ordering::Relaxed)
        };
        let mut written_at = written();
        // Each recovery or `Pending` in a row doubles the extra wait: a hung jig is not flooded,
        // a procedure still running is not lost, a lost frame costs one round trip.
        let mut patience = self.slack();
        // A `Pending` shows the jig alive and working: running out of time then is no loss.
        let mut alive = false;
        if let Err(e) = self.attempt(req.clone(), 0, &to) {
            return (Err(e), None);
        }
        attempts.push((Attempt::Request, None));
        let mut wake = started + nominal + self.slack();
        let jig_error = |error| LinkError::Jig {
            port: self.port.to_string(),
            procedure: req.procedure(),
            error,
        };
        loop {
            let note = tokio::select! {
                n = notes.recv() => n,
                _ = tokio::time::sleep_until(wake.min(deadline)) => {
                    let now = Instant::now();
                    if now >= deadline {
                        self.bump(counters, |s| &s.timeouts);
                        let e = LinkError::Timeout {
                            port: self.port.to_string(),
                            procedure: req.procedure(),
                            after: limit,
                        };
                        let how = if alive { Exchange::Clean } else { Exchange::Dead };
                        return (Err(e), Some(how));
                    }
                    let (ask, kind) = if repeat {
                        self.bump(counters, |s| &s.retries);
                        (req.clone(), Attempt::Request)
                    } else if let Some(&(_, Some(seq))) = attempts.get(last_request as usize) {
                        self.bump(counters, |s| &s.resends);
                        (benchline_protocol::Request::Resend { seq }, Attempt::Resend)
                    } else {
                        // Not even written yet (the link is handshaking): wait more.
                        wake = now + self.slack();
                        continue;
                    };
                    tracing::debug!(port = %self.port, procedure = req.procedure(), "no answer in time; recovering with {}", ask.procedure());
                    let tag = attempts.len() as u32;
                    if let Err(e) = self.attempt(ask, tag, &to) {
                        return (Err(e), None);
                    }
                    if kind == Attempt::Request {
                        last_request = tag;
                    }
                    attempts.push((kind, None));
                    patience = (patience * 2).min(self.config.slack_ceiling);
                    wake = now + if repeat { nominal } else { Duration::ZERO } + patience;
                    continue;
                }
            };
            let (tag, result) = match note {
                None => {
                    let e = LinkError::Closed {
                        port: self.port.to_string(),
                    };
                    return (Err(e), None);
                }
                Some(Note::Sent { tag, seq }) => {
                    if let Some(a) = attempts.get_mut(tag as usize) {
                        a.1 = Some(seq);
                    }
                    continue;
                }
                Some(Note::Answer { tag, result }) => (tag, result),
            };
            // Answered by the request's first frame: nothing was lost, however early the wait
            // ran out (a busy host, say). Only an answer that needed a recovery scores a loss.
            let how = if tag == 0 {
                Exchange::Clean
            } else {
                Exchange::Recovered
            };
            let reply = match result {
                Ok(r) => r,
                Err(e) => return (Err(e), None),
            };
            let kind = attempts.get(tag as usize).map(|a| a.0);
            match (kind, reply) {
                (Some(Attempt::Resend), Reply::Pending { remaining_ms }) => {
                    alive = true;
                    patience = (patience * 2).min(self.config.slack_ceiling);
                    wake = Instant::now() + self.scaled(remaining_ms) + patience.max(self.slack());
                }
                (Some(Attempt::Resend), Reply::Error(JigError::UnknownSeq)) => {
                    // The jig keeps its last KEPT_REPLIES replies. Besides the replies to
                    // requests written since this one, the procedures already running (at most
                    // one per channel and slot) may add theirs; while all of those cannot have
                    // pushed this request's reply out, the jig never got it, and sending it
                    // again is safe.
                    let slots = self
                        .hello()
                        .map_or(benchline_jig::MAX_SLOTS as u8, |h| h.slots);
                    let running = 3 * u64::from(slots);
                    let room = (benchline_protocol::KEPT_REPLIES as u64).saturating_sub(running);
                    let since = written().saturating_sub(written_at);
                    if since >= room {
                        let e = LinkError::Forgotten {
                            port: self.port.to_string(),
                            procedure: req.procedure(),
                        };
                        return (Err(e), Some(Exchange::Recovered));
                    }
                    written_at = written();
                    self.bump(counters, |s| &s.retries);
                    let tag = attempts.len() as u32;
                    if let Err(e) = self.attempt(req.clone(), tag, &to) {
                        return (Err(e), None);
                    }
                    last_request = tag;
                    attempts.push((Attempt::Request, None));
                    wake = Instant::now() + nominal + self.slack();
                }
                (_, Reply::Error(e)) => return (Err(jig_error(e)), Some(how)),
                (_, r) => {
                    // The first frame's answer times the round trip without ambiguity, even
                    // after a recovery was started (which then shows the wait was too short).
                    if tag == 0 && req.nominal_ms() <= INSTANT_MS {
                        if let Ok(mut rt) = self.shared.round_trip.lock() {
                            rt.sample(started.elapsed());
                        }
                    }
                    return (Ok(r), Some(how));
                }
            }
        }
    }
}

/// Requests whose jig duration is at most this many ms count as answered at once.
const INSTANT_MS: u32 = 50;
