//! One jig over a serial port (or any byte stream, through [`Port`]).
//!
//! [`Link::open`] opens the port, starts the link task and does the handshake. The task owns the
//! port: it writes requests, splits the byte stream into frames, drops frames that fail their
//! CRC, routes each reply to the request with the same sequence number and broadcasts events.
//! When the port goes away (unplug) it fails the requests in flight, reopens the path until the
//! jig is back and handshakes again; when the boot id changes (reset) it fails the requests in
//! flight with [`LinkError::JigReset`] and reports [`LinkEvent::Reset`]. The jig that answers
//! again must be the same one (the serial of the first handshake) and pass the check set with
//! [`Link::require`] (the plan's firmware range, the store's rule on simulated jigs): otherwise
//! the link ends with [`LinkError::Changed`] before any request reaches it.
//!
//! [`Link::request`] makes one exchange within a deadline. A lost frame costs about one round
//! trip, not the deadline: the request waits the procedure's own duration
//! ([`Request::nominal_ms`], scaled by [`LinkConfig::time_scale`]) plus a slack derived from the
//! measured round trip ([`health::RoundTrip`]), then recovers. An idempotent request that
//! answers at once is sent again; any other asks the jig for its reply with
//! [`Request::Resend`], and is sent again only when the jig says it never received it. Every
//! exchange is scored in a window ([`health::LossWindow`]); a link that loses too much is taken
//! out of service with an alarm, probed, and brought back when it is clean again.
//!
//! Invariant: a request is answered only by a frame that passed its CRC, decoded, and carries the
//! sequence number of one of its attempts; late answers to abandoned requests are dropped; no
//! request waits past its deadline.

mod error;
mod exchange;
pub mod health;
mod port;
mod session;
mod stats;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use benchline_protocol::{Hello, Reply, Request};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

pub use error::LinkError;
use health::{Exchange, HealthPolicy, LossWindow, RoundTrip};
pub use port::{Port, SerialPort};
pub use stats::{LinkCounters, LinkStats};

/// Timing of a link.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// How long a jig gets to answer the first handshake before it is refused as not a jig.
    pub handshake_timeout: Duration,
    /// Pause between handshake attempts (a `Hello` can be lost like any frame).
    pub handshake_interval: Duration,
    /// Pause between attempts to reopen an unplugged port.
    pub reconnect_interval: Duration,
    /// Real seconds per jig second: sizes the wait for a procedure from its jig duration.
    pub time_scale: f64,
    /// Least wait past a procedure's duration before its frame is taken for lost.
    pub slack_floor: Duration,
    /// Most wait past a procedure's duration before its frame is taken for lost.
    pub slack_ceiling: Duration,
    /// When the jig is taken out of service and brought back.
    pub health: HealthPolicy,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            handshake_timeout: Duration::from_secs(3),
            handshake_interval: Duration::from_millis(250),
            reconnect_interval: Duration::from_millis(100),
            time_scale: 1.0,
            slack_floor: Duration::from_millis(2),
            slack_ceiling: Duration::from_secs(1),
            health: HealthPolicy::default(),
        }
    }
}

/// What happened on the link.
#[derive(Debug, Clone)]
pub enum LinkEvent {
    /// Handshake done (first connection or after a reconnect).
    Connected(Hello),
    /// The jig restarted (new boot id): requests in flight failed and procedures were lost.
    Reset(Hello),
    /// The port went away; the link is trying to reopen it.
    Disconnected(String),
    /// An event from the jig.
    Jig(benchline_protocol::Event),
    /// A frame was dropped (CRC, COBS or decode failure).
    BadFrame(String),
    /// The link lost too much: the jig is out of service (why), its requests fail at once.
    OutOfService(String),
    /// The jig answered cleanly again and is back in service.
    BackInService,
    /// The link ended for good after it was opened (nobody else hears why): the jig came back
    /// as another jig or one the line may no longer use ([`LinkError::Changed`]), or with an
    /// incompatible protocol. Requests fail from now on.
    Ended(LinkError),
}

/// Decides whether the jig of a later handshake (after a reconnect or a reset) may still be
/// used: `Err` says why not and what to do. Set with [`Link::require`].
pub type HelloCheck = Arc<dyn Fn(&Hello) -> Result<(), String> + Send + Sync>;

/// Whether a jig may be used.
#[derive(Debug, Clone, PartialEq)]
pub enum Service {
    /// In service.
    In,
    /// Out of service, and why.
    Out(String),
}

/// What the link task tells a request.
enum Note {
    /// Attempt `tag` went out with this sequence number.
    Sent { tag: u32, seq: u16 },
    /// Attempt `tag` was answered (or failed).
    Answer {
        tag: u32,
        result: Result<Reply, LinkError>,
    },
}

enum Cmd {
    Request {
        req: Request,
        tag: u32,
        to: mpsc::UnboundedSender<Note>,
    },
    Close,
}

struct Shared {
    stats: LinkStats,
    /// Request frames written since the link opened: how far back the jig's kept replies reach.
    written: std::sync::atomic::AtomicU64,
    round_trip: Mutex<RoundTrip>,
    losses: Mutex<LossWindow>,
    service: watch::Sender<Service>,
    /// Times the jig was taken out of service.
    taken_out: std::sync::atomic::AtomicU64,
    /// What every later handshake's `Hello` must pass ([`Link::require`]).
    check: Mutex<Option<HelloCheck>>,
}

/// A handle on one jig; cheap to clone, shared by the slot tasks of the jig.
#[derive(Clone)]
pub struct Link {
    port: Arc<str>,
    cmd: mpsc::UnboundedSender<Cmd>,
    events: broadcast::Sender<LinkEvent>,
    hello: watch::Receiver<Option<Hello>>,
    shared: Arc<Shared>,
    config: LinkConfig,
}

impl Link {
    /// Opens the serial device `port`, starts the link task and waits for the handshake. Errors
    /// name the port and say what to do: not a serial device, no jig answering, incompatible
    /// firmware.
    pub async fn open(port: &str, config: LinkConfig) -> Result<Link, LinkError> {
        Self::open_port(SerialPort::new(port), config).await
    }

    /// [`Link::open`] on any [`Port`].
    pub async fn open_port<P: Port>(mut port: P, config: LinkConfig) -> Result<Link, LinkError> {
        let name: Arc<str> = port.name().into();
        let stream = port.open()?;
        let (cmd, cmd_rx) = mpsc::unbounded_channel();
        let (events, _) = broadcast::channel(1024);
        let (hello_tx, hello) = watch::channel(None);
        let shared = Arc::new(Shared {
            stats: LinkStats::default(),
            written: std::sync::atomic::AtomicU64::new(0),
            round_trip: Mutex::new(RoundTrip::new(config.slack_floor, config.slack_ceiling)),
            losses: Mutex::new(LossWindow::new()),
            service: watch::Sender::new(Service::In),
            taken_out: std::sync::atomic::AtomicU64::new(0),
            check: Mutex::new(None),
        });
        let mut first_events = events.subscribe();
        let (fatal_tx, mut fatal) = oneshot::channel();
        let task = session::Task {
            port,
            name: name.clone(),
            config: config.clone(),
            cmd_rx,
            events: events.clone(),
            hello: hello_tx,
            shared: shared.clone(),
            fatal: Some(fatal_tx),
            serial: std::sync::OnceLock::new(),
        };
        tokio::spawn(task.run(stream));
        let link = Link {
            port: name,
            cmd,
            events,
            hello,
            shared,
            config,
        };
        let deadline = tokio::time::sleep(link.config.handshake_timeout + Duration::from_secs(1));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                ev = first_events.recv() => match ev {
                    Ok(LinkEvent::Connected(_)) => return Ok(link),
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                reason = &mut fatal => {
                    if let Ok(e) = reason {
                        return Err(e);
                    }
                    break;
                }
                _ = &mut deadline => break,
            }
        }
        link.close();
        Err(LinkError::NotAJig {
            port: link.port.to_string(),
            detail: "no valid answer to the handshake".into(),
        })
    }

    /// The port path.
    pub fn port(&self) -> &str {
        &self.port
    }

    /// The jig's last handshake.
    pub fn hello(&self) -> Option<Hello> {
        self.hello.borrow().clone()
    }

    /// From now on, the jig of every later handshake (after a reconnect or a reset) must pass
    /// `check` as well as announce the serial of the first one; otherwise the link ends with
    /// [`LinkError::Changed`] (told as [`LinkEvent::Ended`]) before any request reaches it.
    pub fn require(&self, check: HelloCheck) {
        if let Ok(mut c) = self.shared.check.lock() {
            *c = Some(check);
        }
    }

    /// Waits until the link is connected again (after an unplug), at most `within`.
    pub async fn wait_connected(&self, within: Duration) -> bool {
        let mut rx = self.hello.clone();
        tokio::time::timeout(within, rx.wait_for(|h| h.is_some()))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// True when the link task has ended (closed, or a fatal error such as incompatible
    /// firmware after a reset): nothing will ever be answered again.
    pub fn is_closed(&self) -> bool {
        self.cmd.is_closed()
    }

    /// Whether the jig is in service now.
    pub fn service(&self) -> Service {
        self.shared.service.borrow().clone()
    }

    /// Waits until the jig is in service, at most `within`; true when it is.
    pub async fn wait_in_service(&self, within: Duration) -> bool {
        let mut rx = self.shared.service.subscribe();
        tokio::time::timeout(within, rx.wait_for(|s| *s == Service::In))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// How often the jig was taken out of service since the link was opened.
    pub fn times_out_of_service(&self) -> u64 {
        self.shared
            .taken_out
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The link's counters since it was opened.
    pub fn stats(&self) -> &LinkStats {
        &self.shared.stats
    }

    /// Events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<LinkEvent> {
        self.events.subscribe()
    }

    /// Sends `req` and waits for its reply, at most `limit` in all. Lost frames are recovered
    /// within that time (see the module's overview); a reply that is a jig error comes back as
    /// [`LinkError::Jig`]; a jig out of service fails at once with [`LinkError::OutOfService`].
    pub async fn request(&self, req: Request, limit: Duration) -> Result<Reply, LinkError> {
        self.request_counted(req, limit, None).await
    }

    /// [`Link::request`], also counting retries, resends and timeouts in `counters` (a slot's).
    pub async fn request_counted(
        &self,
        req: Request,
        limit: Duration,
        counters: Option<&LinkStats>,
    ) -> Result<Reply, LinkError> {
        if let Service::Out(why) = self.service() {
            return Err(LinkError::OutOfService {
                port: self.port.to_string(),
                detail: why,
            });
        }
        let (result, how) = self.exchange(&req, limit, counters).await;
        if let Some(how) = how {
            self.score(how);
        }
        result
    }

    /// Scores one exchange; takes the jig out of service when the link has become too bad.
    fn score(&self, how: Exchange) {
        let verdict = match self.shared.losses.lock() {
            Ok(mut w) => w.record(how, &self.config.health),
            Err(_) => None,
        };
        let Some(why) = verdict else { return };
        let taken = self.shared.service.send_if_modified(|s| match s {
            Service::In => {
                *s = Service::Out(why.0.clone());
                true
            }
            Service::Out(_) => false,
        });
        if !taken {
            return;
        }
        self.shared
            .taken_out
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::error!(
            port = %self.port,
            "jig taken out of service: {}; its phones go to retest. Check the jig's USB cable, hub and power; it is probed and comes back by itself when it answers cleanly",
            why.0
        );
        let _ = self.events.send(LinkEvent::OutOfService(why.0));
        tokio::spawn(self.clone().probe());
    }

    /// Pings a jig out of service until it answers cleanly enough times in a row, then brings
    /// it back. Ends when the link is closed.
    async fn probe(self) {
        let policy = self.config.health.clone();
        let mut clean = 0;
        let mut nonce = 0u32;
        while clean < policy.probes_to_return {
            tokio::time::sleep(policy.probe_every).await;
            if self.cmd.is_closed() {
                return;
            }
            nonce = nonce.wrapping_add(1);
            let limit = self.config.slack_ceiling;
            match self.exchange(&Request::Ping { nonce }, limit, None).await {
                (Ok(Reply::Pong { nonce: n }), Some(Exchange::Clean)) if n == nonce => clean += 1,
                (Err(LinkError::Closed { .. }), _) => return,
                _ => clean = 0,
            }
        }
        if let Ok(mut w) = self.shared.losses.lock() {
            w.clear();
        }
        self.shared.service.send_replace(Service::In);
        tracing::warn!(port = %self.port, "jig back in service after {clean} clean probes");
        let _ = self.events.send(LinkEvent::BackInService);
    }

    /// Stops the link task and closes the port.
    pub fn close(&self) {
        let _ = self.cmd.send(Cmd::Close);
    }

    /// Stops the link task and waits (at most `within`) until it has let go of the port.
    pub async fn shutdown(&self, within: Duration) {
        self.close();
        let _ = tokio::time::timeout(within, self.cmd.closed()).await;
    }
}

#[cfg(test)]
mod tests;
