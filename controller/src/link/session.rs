//! The link task: owns the port, frames bytes, matches replies to requests, reconnects.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use benchline_protocol::{
    encode_frame, schema_hash, Event, FrameAccumulator, Hello, JigMsg, Packet, Reply, Request,
    MAX_ENCODED_FRAME, PROTOCOL_VERSION,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::Instant;

use super::port::Port;
use super::{Cmd, LinkConfig, LinkError, LinkEvent, Note, Shared};

/// How often a jig that stays gone is reported again.
const REMIND_EVERY: Duration = Duration::from_secs(10);

/// Where a request's notes go, and which attempt of it this frame is.
struct Waiter {
    tag: u32,
    to: mpsc::UnboundedSender<Note>,
}

impl Waiter {
    fn answer(self, result: Result<Reply, LinkError>) {
        let _ = self.to.send(Note::Answer {
            tag: self.tag,
            result,
        });
    }
}

pub(super) struct Task<P: Port> {
    pub port: P,
    pub name: Arc<str>,
    pub config: LinkConfig,
    pub cmd_rx: mpsc::UnboundedReceiver<Cmd>,
    pub events: broadcast::Sender<LinkEvent>,
    pub hello: watch::Sender<Option<Hello>>,
    pub shared: Arc<Shared>,
    /// Where a failure that ends the link goes: [`super::Link::open`] while it waits for the
    /// handshake.
    pub fatal: Option<oneshot::Sender<LinkError>>,
    /// The serial of the first handshake: every later one must announce it.
    pub serial: std::sync::OnceLock<String>,
}

enum End {
    Close,
    Lost(String),
    Fatal(LinkError),
}

struct Session {
    pending: HashMap<u16, Waiter>,
    queued: Vec<(Request, Waiter)>,
    next_seq: u16,
    handshake: Option<u16>,
    handshake_deadline: Instant,
    handshake_started: Instant,
    /// When the last `Hello` went out: its answer gives the first round-trip sample.
    handshake_sent: Instant,
    garbled: u32,
}

impl<P: Port> Task<P> {
    pub async fn run(mut self, first: P::Stream) {
        let mut stream = Some(first);
        let mut last_boot: Option<u32> = None;
        loop {
            let s = match stream.take() {
                Some(s) => s,
                None => match self.reopen().await {
                    Some(s) => s,
                    None => return,
                },
            };
            match self.session(s, &mut last_boot).await {
                End::Close => return,
                End::Fatal(e) => {
                    // The link is over: nobody may take it for usable (slots then stop and say
                    // so instead of waiting for it).
                    self.hello.send_replace(None);
                    self.shared
                        .service
                        .send_replace(super::Service::Out(e.to_string()));
                    // Whoever opened the link reports it; otherwise it is an alarm now.
                    let unheard = match self.fatal.take() {
                        Some(tx) => tx.send(e).err(),
                        None => Some(e),
                    };
                    if let Some(e) = unheard {
                        tracing::error!(port = %self.name, "jig out of service for the rest of the run: {e}");
                        let _ = self.events.send(LinkEvent::Ended(e));
                    }
                    return;
                }
                End::Lost(why) => {
                    tracing::warn!(port = %self.name, "jig disconnected: {why}; reconnecting");
                    self.hello.send_replace(None);
                    let _ = self.events.send(LinkEvent::Disconnected(why));
                }
            }
        }
    }

    /// Reopens the port until it is back; requests meanwhile fail as disconnected.
    async fn reopen(&mut self) -> Option<P::Stream> {
        let gone_since = Instant::now();
        let mut next_warning = gone_since + REMIND_EVERY;
        loop {
            if let Ok(s) = self.port.open() {
                self.shared.stats.bump(|s| &s.reconnects);
                return Some(s);
            }
            if Instant::now() >= next_warning {
                next_warning += REMIND_EVERY;
                tracing::error!(
                    port = %self.name,
                    "the jig has been gone for {} s; its slots are stopped: check its USB cable and power",
                    gone_since.elapsed().as_secs()
                );
            }
            let pause = tokio::time::sleep(self.config.reconnect_interval);
            tokio::pin!(pause);
            loop {
                tokio::select! {
                    _ = &mut pause => break,
                    cmd = self.cmd_rx.recv() => match cmd {
                        None | Some(Cmd::Close) => return None,
                        Some(Cmd::Request { to, tag, .. }) => {
                            Waiter { tag, to }.answer(Err(self.disconnected("the port is gone")));
                        }
                    },
                }
            }
        }
    }

    fn disconnected(&self, detail: &str) -> LinkError {
        LinkError::Disconnected {
            port: self.name.to_string(),
            detail: detail.into(),
        }
    }

    async fn session(&mut self, stream: P::Stream, last_boot: &mut Option<u32>) -> End {
        let (mut rd, mut wr) = tokio::io::split(stream);
        let now = Instant::now();
        let mut s = Session {
            pending: HashMap::new(),
            queued: Vec::new(),
            next_seq: rand::random(),
            handshake: None,
            handshake_deadline: now,
            handshake_started: now,
            handshake_sent: now,
            garbled: 0,
        };
        let end = self.serve(&mut s, &mut rd, &mut wr, last_boot).await;
        let why = match &end {
            End::Lost(w) => w.clone(),
            _ => "link closed".into(),
        };
        for w in s
            .pending
            .drain()
            .map(|(_, w)| w)
            .chain(s.queued.drain(..).map(|(_, w)| w))
        {
            w.answer(Err(self.disconnected(&why)));
        }
        end
    }

    async fn serve<R, W>(
        &mut self,
        s: &mut Session,
        rd: &mut R,
        wr: &mut W,
        last_boot: &mut Option<u32>,
    ) -> End
    where
        R: tokio::io::AsyncRead + Unpin,
        W: tokio::io::AsyncWrite + Unpin,
    {
        // A lone delimiter ends whatever half frame the jig may hold from an earlier host.
        if let Err(e) = wr.write_all(&[0]).await {
            return End::Lost(e.to_string());
        }
        s.handshake_started = Instant::now();
        if let Err(e) = self.start_handshake(s, wr).await {
            return e;
        }
        let mut acc = FrameAccumulator::new();
        let mut buf = [0u8; 512];
        loop {
            tokio::select! {
                n = rd.read(&mut buf) => {
                    let n = match n {
                        Ok(0) => return End::Lost("end of stream".into()),
                        Ok(n) => n,
                        Err(e) => return End::Lost(e.to_string()),
                    };
                    for &b in &buf[..n] {
                        match acc.feed::<JigMsg>(b) {
                            None => {}
                            Some(Ok(p)) => if let Err(end) = self.on_packet(s, p, wr, last_boot).await { return end },
                            Some(Err(e)) => self.bad_frame(s, e.to_string()),
                        }
                    }
                }
                cmd = self.cmd_rx.recv() => match cmd {
                    None | Some(Cmd::Close) => return End::Close,
                    Some(Cmd::Request { req, tag, to }) => {
                        let w = Waiter { tag, to };
                        if s.handshake.is_some() {
                            s.queued.push((req, w));
                        } else if let Err(e) = self.send(s, req, w, wr).await {
                            return e;
                        }
                    }
                },
                _ = tokio::time::sleep_until(s.handshake_deadline), if s.handshake.is_some() => {
                    let ever = last_boot.is_some();
                    if !ever && s.handshake_started.elapsed() >= self.config.handshake_timeout {
                        let detail = if s.garbled > 0 {
                            format!("{} garbled frame(s) and no valid answer to the handshake", s.garbled)
                        } else {
                            "no answer to the handshake".into()
                        };
                        return End::Fatal(LinkError::NotAJig { port: self.name.to_string(), detail });
                    }
                    if let Err(e) = self.start_handshake(s, wr).await { return e; }
                }
            }
        }
    }

    fn bad_frame(&self, s: &mut Session, why: String) {
        s.garbled += 1;
        self.shared.stats.bump(|s| &s.bad_frames);
        tracing::debug!(port = %self.name, "dropped a bad frame: {why}");
        let _ = self.events.send(LinkEvent::BadFrame(why));
    }

    fn alloc_seq(&self, s: &mut Session) -> u16 {
        s.pending.retain(|_, w| !w.to.is_closed());
        loop {
            let seq = s.next_seq;
            s.next_seq = s.next_seq.wrapping_add(1);
            if !s.pending.contains_key(&seq) && s.handshake != Some(seq) {
                return seq;
            }
        }
    }

    async fn write<W: tokio::io::AsyncWrite + Unpin>(
        &self,
        wr: &mut W,
        seq: u16,
        req: &Request,
    ) -> Result<(), End> {
        let mut buf = [0u8; MAX_ENCODED_FRAME];
        let n = encode_frame(
            &Packet {
                seq,
                msg: req.clone(),
            },
            &mut buf,
        )
        .map_err(|e| {
            End::Fatal(LinkError::Protocol {
                port: self.name.to_string(),
                detail: format!("cannot encode request: {e}"),
            })
        })?;
        wr.write_all(&buf[..n])
            .await
            .map_err(|e| End::Lost(e.to_string()))?;
        wr.flush().await.map_err(|e| End::Lost(e.to_string()))
    }

    async fn start_handshake<W: tokio::io::AsyncWrite + Unpin>(
        &self,
        s: &mut Session,
        wr: &mut W,
    ) -> Result<(), End> {
        let seq = self.alloc_seq(s);
        s.handshake = Some(seq);
        s.handshake_sent = Instant::now();
        s.handshake_deadline = s.handshake_sent + self.config.handshake_interval;
        self.write(wr, seq, &Request::Hello).await
    }

    async fn send<W: tokio::io::AsyncWrite + Unpin>(
        &self,
        s: &mut Session,
        req: Request,
        w: Waiter,
        wr: &mut W,
    ) -> Result<(), End> {
        let seq = self.alloc_seq(s);
        tracing::trace!(port = %self.name, seq, ?req, "request");
        if let Err(end) = self.write(wr, seq, &req).await {
            let why = match &end {
                End::Lost(w) => w.as_str(),
                _ => "the request could not be written",
            };
            w.answer(Err(self.disconnected(why)));
            return Err(end);
        }
        self.shared
            .written
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let _ = w.to.send(Note::Sent { tag: w.tag, seq });
        s.pending.insert(seq, w);
        Ok(())
    }

    /// Why the jig of this handshake may not be used, when it is not the jig of the first one
    /// or fails the check set with [`super::Link::require`].
    fn changed(&self, h: &Hello) -> Option<String> {
        let serial = h.jig_serial.as_str();
        if let Some(first) = self.serial.get().filter(|first| *first != serial) {
            return Some(format!(
                "jig {first} became jig {serial} (another jig answers on this port): put jig {first} back, or restart the line to take jig {serial} in"
            ));
        }
        let check = self.shared.check.lock().ok()?.clone()?;
        check(h).err()
    }

    async fn on_packet<W: tokio::io::AsyncWrite + Unpin>(
        &self,
        s: &mut Session,
        p: Packet<JigMsg>,
        wr: &mut W,
        last_boot: &mut Option<u32>,
    ) -> Result<(), End> {
        match p.msg {
            JigMsg::Reply(Reply::Hello(h)) if s.handshake == Some(p.seq) => {
                if h.protocol_version != PROTOCOL_VERSION || h.schema_hash != schema_hash() {
                    return Err(End::Fatal(LinkError::Incompatible {
                        port: self.name.to_string(),
                        firmware: h.firmware_version.to_string(),
                        theirs: h.protocol_version,
                        ours: PROTOCOL_VERSION,
                        their_hash: h.schema_hash,
                        our_hash: schema_hash(),
                    }));
                }
                if let Some(detail) = self.changed(&h) {
                    return Err(End::Fatal(LinkError::Changed {
                        port: self.name.to_string(),
                        detail,
                    }));
                }
                let _ = self.serial.set(h.jig_serial.to_string());
                s.handshake = None;
                if let Ok(mut rt) = self.shared.round_trip.lock() {
                    rt.sample(s.handshake_sent.elapsed());
                }
                if last_boot.is_some_and(|b| b != h.boot_id) {
                    self.shared.stats.bump(|s| &s.resets);
                    tracing::warn!(port = %self.name, boot_id = h.boot_id, "jig was reset");
                    let _ = self.events.send(LinkEvent::Reset(h.clone()));
                }
                *last_boot = Some(h.boot_id);
                tracing::info!(port = %self.name, serial = %h.jig_serial, firmware = %h.firmware_version, "jig connected");
                self.hello.send_replace(Some(h.clone()));
                let _ = self.events.send(LinkEvent::Connected(h));
                let mut queued = std::mem::take(&mut s.queued)
                    .into_iter()
                    .filter(|(_, w)| !w.to.is_closed());
                while let Some((req, w)) = queued.next() {
                    if let Err(end) = self.send(s, req, w, wr).await {
                        // The rest fail as disconnected when the session ends.
                        s.queued.extend(queued);
                        return Err(end);
                    }
                }
            }
            JigMsg::Reply(r) => match s.pending.remove(&p.seq) {
                Some(w) => {
                    tracing::trace!(port = %self.name, seq = p.seq, ?r, "reply");
                    w.answer(Ok(r));
                }
                None => {
                    tracing::trace!(port = %self.name, seq = p.seq, "dropped a reply nobody waits for (late or duplicate)")
                }
            },
            JigMsg::Event(ev) => {
                if let Event::Booted { boot_id } = ev {
                    if s.handshake.is_none() && last_boot.is_some_and(|b| b != boot_id) {
                        // The jig restarted: everything in flight is lost. Handshake again; the
                        // reset is reported when the new boot id is confirmed.
                        for (_, w) in s.pending.drain() {
                            w.answer(Err(LinkError::JigReset {
                                port: self.name.to_string(),
                            }));
                        }
                        self.hello.send_replace(None);
                        s.handshake_started = Instant::now();
                        self.start_handshake(s, wr).await?;
                    }
                }
                let _ = self.events.send(LinkEvent::Jig(ev));
            }
        }
        Ok(())
    }
}
