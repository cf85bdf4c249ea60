//! One jig over a serial port.
//!
//! [`Link::open`] opens the port, starts the link task and does the handshake. The task owns the
//! port: it writes requests, splits the byte stream into frames, drops frames that fail their
//! CRC, routes each reply to the request with the same sequence number and broadcasts events.
//! When the port goes away (unplug) it fails the requests in flight, reopens the path until the
//! jig is back and handshakes again; when the boot id changes (reset) it fails the requests in
//! flight with [`LinkError::JigReset`] and reports [`LinkEvent::Reset`].
//!
//! Invariant: a request is answered only by a frame that passed its CRC, decoded, and carries the
//! request's sequence number; late answers to abandoned requests are dropped.

mod error;
mod session;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use benchline_protocol::{Hello, Reply, Request};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

pub use error::LinkError;

/// Timing of a link.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// How long the jig gets to answer the handshake.
    pub handshake_timeout: Duration,
    /// Extra attempts for idempotent requests that time out.
    pub retries: u32,
    /// Pause between attempts to reopen an unplugged port.
    pub reconnect_interval: Duration,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            handshake_timeout: Duration::from_secs(1),
            retries: 2,
            reconnect_interval: Duration::from_millis(100),
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
}

/// Counters of a link.
#[derive(Debug, Default)]
pub struct LinkStats {
    /// Frames dropped because they failed to decode.
    pub bad_frames: AtomicU64,
    /// Requests sent again after a timeout.
    pub retries: AtomicU64,
    /// Requests that timed out.
    pub timeouts: AtomicU64,
    /// Reconnections after the port went away.
    pub reconnects: AtomicU64,
    /// Resets detected by a new boot id.
    pub resets: AtomicU64,
}

/// Cumulative counters of one jig link.
#[derive(Debug, Clone, Copy, serde::Serialize, Default)]
pub struct LinkCounters {
    /// Frames dropped because they failed to decode (CRC, COBS, size).
    pub bad_frames: u64,
    /// Requests sent again after a timeout.
    pub retries: u64,
    /// Requests that timed out.
    pub timeouts: u64,
    /// Jig resets detected.
    pub resets: u64,
    /// Reconnections after the port went away.
    pub reconnects: u64,
}

impl LinkStats {
    /// The counters as they are now.
    pub fn snapshot(&self) -> LinkCounters {
        use std::sync::atomic::Ordering::Relaxed;
        LinkCounters {
            bad_frames: self.bad_frames.load(Relaxed),
            retries: self.retries.load(Relaxed),
            timeouts: self.timeouts.load(Relaxed),
            resets: self.resets.load(Relaxed),
            reconnects: self.reconnects.load(Relaxed),
        }
    }
}

enum Cmd {
    Request {
        req: Request,
        reply: oneshot::Sender<Result<Reply, LinkError>>,
    },
    Close,
}

/// A handle on one jig; cheap to clone, shared by the slot tasks of the jig.
#[derive(Clone)]
pub struct Link {
    port: Arc<str>,
    cmd: mpsc::UnboundedSender<Cmd>,
    events: broadcast::Sender<LinkEvent>,
    hello: watch::Receiver<Option<Hello>>,
    stats: Arc<LinkStats>,
    config: LinkConfig,
}

impl Link {
    /// Opens `port`, starts the link task and waits for the handshake. Errors name the port and
    /// say what to do: not a serial device, no jig answering, incompatible firmware.
    pub async fn open(port: &str, config: LinkConfig) -> Result<Link, LinkError> {
        let stream = session::open_port(port)?;
        let (cmd, cmd_rx) = mpsc::unbounded_channel();
        let (events, _) = broadcast::channel(1024);
        let (hello_tx, hello) = watch::channel(None);
        let stats = Arc::new(LinkStats::default());
        let mut first_events = events.subscribe();
        let (fatal_tx, mut fatal) = oneshot::channel();
        let task = session::Task {
            port: port.into(),
            config: config.clone(),
            cmd_rx,
            events: events.clone(),
            hello: hello_tx,
            stats: stats.clone(),
            fatal: Some(fatal_tx),
        };
        tokio::spawn(task.run(stream));
        let link = Link {
            port: port.into(),
            cmd,
            events,
            hello,
            stats,
            config,
        };
        let deadline =
            tokio::time::sleep(link.config.handshake_timeout * (link.config.retries + 2));
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
            port: port.into(),
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

    /// Waits until the link is connected again (after an unplug), at most `within`.
    pub async fn wait_connected(&self, within: Duration) -> bool {
        let mut rx = self.hello.clone();
        tokio::time::timeout(within, rx.wait_for(|h| h.is_some()))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// The link's counters.
    pub fn stats(&self) -> &LinkStats {
        &self.stats
    }

    /// Events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<LinkEvent> {
        self.events.subscribe()
    }

    /// Sends `req` and waits for its reply, at most `timeout` per attempt. Idempotent requests are
    /// sent again after a timeout, up to [`LinkConfig::retries`] times; others fail with
    /// [`LinkError::Timeout`]. A reply that is a jig error comes back as [`LinkError::Jig`].
    pub async fn request(&self, req: Request, timeout: Duration) -> Result<Reply, LinkError> {
        let attempts = if req.is_idempotent() {
            1 + self.config.retries
        } else {
            1
        };
        for attempt in 0..attempts {
            if attempt > 0 {
                self.stats.retries.fetch_add(1, Ordering::Relaxed);
                tracing::info!(port = %self.port, procedure = req.procedure(), attempt, "retrying after a timeout");
            }
            let (tx, rx) = oneshot::channel();
            self.cmd
                .send(Cmd::Request {
                    req: req.clone(),
                    reply: tx,
                })
                .map_err(|_| LinkError::Closed {
                    port: self.port.to_string(),
                })?;
            match tokio::time::timeout(timeout, rx).await {
                Ok(Ok(Ok(Reply::Error(e)))) => {
                    return Err(LinkError::Jig {
                        port: self.port.to_string(),
                        procedure: req.procedure(),
                        error: e,
                    })
                }
                Ok(Ok(result)) => return result,
                Ok(Err(_)) => {
                    return Err(LinkError::Closed {
                        port: self.port.to_string(),
                    })
                }
                Err(_) => {
                    self.stats.timeouts.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        Err(LinkError::Timeout {
            port: self.port.to_string(),
            procedure: req.procedure(),
            after: timeout,
            attempts,
        })
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
