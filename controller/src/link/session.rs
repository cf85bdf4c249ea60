//! The link task: owns the port, frames bytes, matches replies to requests, reconnects.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use benchline_protocol::{
    decode_frame, encode_frame, schema_hash, Event, Hello, JigMsg, Packet, Reply, Request,
    MAX_ENCODED_FRAME, PROTOCOL_VERSION,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_serial::{SerialPortBuilderExt, SerialStream};

use super::{Cmd, LinkConfig, LinkError, LinkEvent, LinkStats};

type Waiter = oneshot::Sender<Result<Reply, LinkError>>;

/// How often a jig that stays gone is reported again.
const REMIND_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

pub(super) fn open_port(port: &str) -> Result<SerialStream, LinkError> {
    tokio_serial::new(port, 115_200)
        .open_native_async()
        .map_err(|e| LinkError::Open {
            port: port.into(),
            detail: e.to_string(),
        })
}

pub(super) struct Task {
    pub port: Arc<str>,
    pub config: LinkConfig,
    pub cmd_rx: mpsc::UnboundedReceiver<Cmd>,
    pub events: broadcast::Sender<LinkEvent>,
    pub hello: watch::Sender<Option<Hello>>,
    pub stats: Arc<LinkStats>,
    /// Where a failure that ends the link goes: [`Link::open`] while it waits for the handshake.
    pub fatal: Option<oneshot::Sender<LinkError>>,
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
    handshake_attempts: u32,
    garbled: u32,
}

impl Task {
    pub async fn run(mut self, first: SerialStream) {
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
                    // Whoever opened the link reports it; log it only if nobody waits any more.
                    if let Some(Err(e)) = self.fatal.take().map(|tx| tx.send(e)) {
                        tracing::error!(port = %self.port, "{e}");
                    }
                    return;
                }
                End::Lost(why) => {
                    tracing::warn!(port = %self.port, "jig disconnected: {why}; reconnecting");
                    self.hello.send_replace(None);
                    let _ = self.events.send(LinkEvent::Disconnected(why));
                }
            }
        }
    }

    /// Reopens the port until it is back; requests meanwhile fail as disconnected.
    async fn reopen(&mut self) -> Option<SerialStream> {
        let gone_since = Instant::now();
        let mut next_warning = gone_since + REMIND_EVERY;
        loop {
            if let Ok(s) = open_port(&self.port) {
                self.stats.reconnects.fetch_add(1, Ordering::Relaxed);
                return Some(s);
            }
            if Instant::now() >= next_warning {
                next_warning += REMIND_EVERY;
                tracing::error!(
                    port = %self.port,
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
                        Some(Cmd::Request { reply, .. }) => {
                            let _ = reply.send(Err(self.disconnected("the port is gone")));
                        }
                    },
                }
            }
        }
    }

    fn disconnected(&self, detail: &str) -> LinkError {
        LinkError::Disconnected {
            port: self.port.to_string(),
            detail: detail.into(),
        }
    }

    async fn session(&mut self, stream: SerialStream, last_boot: &mut Option<u32>) -> End {
        let (mut rd, mut wr) = tokio::io::split(stream);
        let mut s = Session {
            pending: HashMap::new(),
            queued: Vec::new(),
            next_seq: rand::random(),
            handshake: None,
            handshake_deadline: Instant::now(),
            handshake_attempts: 0,
            garbled: 0,
        };
        let end = self.serve(&mut s, &mut rd, &mut wr, last_boot).await;
        let why = match &end {
            End::Lost(w) => w.clone(),
            _ => "link closed".into(),
        };
        for (_, w) in s
            .pending
            .drain()
            .chain(s.queued.drain(..).map(|(_, w)| (0, w)))
        {
            let _ = w.send(Err(self.disconnected(&why)));
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
        if let Err(e) = self.start_handshake(s, wr).await {
            return e;
        }
        let mut acc: Vec<u8> = Vec::with_capacity(MAX_ENCODED_FRAME);
        let mut overflow = false;
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
                        if b != 0 {
                            if acc.len() < MAX_ENCODED_FRAME { acc.push(b) } else { overflow = true }
                            continue;
                        }
                        if acc.is_empty() { continue; }
                        let frame = std::mem::take(&mut acc);
                        if std::mem::replace(&mut overflow, false) {
                            self.bad_frame(s, "frame longer than the protocol allows".into());
                            continue;
                        }
                        match decode_frame::<JigMsg>(&frame) {
                            Ok(p) => if let Err(end) = self.on_packet(s, p, wr, last_boot).await { return end },
                            Err(e) => self.bad_frame(s, e.to_string()),
                        }
                    }
                }
                cmd = self.cmd_rx.recv() => match cmd {
                    None | Some(Cmd::Close) => return End::Close,
                    Some(Cmd::Request { req, reply }) => {
                        if s.handshake.is_some() {
                            s.queued.push((req, reply));
                        } else if let Err(e) = self.send(s, req, reply, wr).await {
                            return e;
                        }
                    }
                },
                _ = tokio::time::sleep_until(s.handshake_deadline), if s.handshake.is_some() => {
                    let ever = last_boot.is_some();
                    if !ever && s.handshake_attempts > self.config.retries {
                        let detail = if s.garbled > 0 {
                            format!("{} garbled frame(s) and no valid answer to the handshake", s.garbled)
                        } else {
                            "no answer to the handshake".into()
                        };
                        return End::Fatal(LinkError::NotAJig { port: self.port.to_string(), detail });
                    }
                    if let Err(e) = self.start_handshake(s, wr).await { return e; }
                }
            }
        }
    }

    fn bad_frame(&self, s: &mut Session, why: String) {
        s.garbled += 1;
        self.stats.bad_frames.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(port = %self.port, "dropped a bad frame: {why}");
        let _ = self.events.send(LinkEvent::BadFrame(why));
    }

    fn alloc_seq(&self, s: &mut Session) -> u16 {
        s.pending.retain(|_, w| !w.is_closed());
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
                port: self.port.to_string(),
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
        s.handshake_attempts += 1;
        s.handshake_deadline = Instant::now() + self.config.handshake_timeout;
        self.write(wr, seq, &Request::Hello).await
    }

    async fn send<W: tokio::io::AsyncWrite + Unpin>(
        &self,
        s: &mut Session,
        req: Request,
        reply: Waiter,
        wr: &mut W,
    ) -> Result<(), End> {
        let seq = self.alloc_seq(s);
        tracing::trace!(port = %self.port, seq, ?req, "request");
        if let Err(end) = self.write(wr, seq, &req).await {
            let why = match &end {
                End::Lost(w) => w.as_str(),
                _ => "the request could not be written",
            };
            let _ = reply.send(Err(self.disconnected(why)));
            return Err(end);
        }
        s.pending.insert(seq, reply);
        Ok(())
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
                        port: self.port.to_string(),
                        firmware: h.firmware_version.to_string(),
                        theirs: h.protocol_version,
                        ours: PROTOCOL_VERSION,
                        their_hash: h.schema_hash,
                        our_hash: schema_hash(),
                    }));
                }
                s.handshake = None;
                s.handshake_attempts = 0;
                if last_boot.is_some_and(|b| b != h.boot_id) {
                    self.stats.resets.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(port = %self.port, boot_id = h.boot_id, "jig was reset");
                    let _ = self.events.send(LinkEvent::Reset(h.clone()));
                }
                *last_boot = Some(h.boot_id);
                tracing::info!(port = %self.port, serial = %h.jig_serial, firmware = %h.firmware_version, "jig connected");
                self.hello.send_replace(Some(h.clone()));
                let _ = self.events.send(LinkEvent::Connected(h));
                let mut queued = std::mem::take(&mut s.queued).into_iter();
                while let Some((req, reply)) = queued.next() {
                    if let Err(end) = self.send(s, req, reply, wr).await {
                        // The rest fail as disconnected when the session ends.
                        s.queued.extend(queued);
                        return Err(end);
                    }
                }
            }
            JigMsg::Reply(r) => match s.pending.remove(&p.seq) {
                Some(w) => {
                    tracing::trace!(port = %self.port, seq = p.seq, ?r, "reply");
                    let _ = w.send(Ok(r));
                }
                None => {
                    tracing::debug!(port = %self.port, seq = p.seq, "dropped a reply nobody waits for (late or duplicate)")
                }
            },
            JigMsg::Event(ev) => {
                if let Event::Booted { boot_id } = ev {
                    if s.handshake.is_none() && last_boot.is_some_and(|b| b != boot_id) {
                        // The jig restarted: everything in flight is lost. Handshake again; the
                        // reset is reported when the new boot id is confirmed.
                        for (_, w) in s.pending.drain() {
                            let _ = w.send(Err(LinkError::JigReset {
                                port: self.port.to_string(),
                            }));
                        }
                        self.hello.send_replace(None);
                        self.start_handshake(s, wr).await?;
                    }
                }
                let _ = self.events.send(LinkEvent::Jig(ev));
            }
        }
        Ok(())
    }
}
