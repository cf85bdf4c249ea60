//! The application: frames in, dispatch, jobs stepped by the clock, replies and events out.
//!
//! Within one [`Jig::poll`] the jig queues its frames in this order:
//! 1. `Booted` (the first poll after boot only);
//! 2. for each request frame received, in the order received, the reply of a state request
//!    (`Hello`, `Ping`, `SlotStatus`, `Resend`, `Abort`, `Release`). `Abort` and `Release` first
//!    send the `Error(Aborted)` reply of each procedure they stop (battery, port, screen), then
//!    `Done`. Requests with bus work wait in a queue; the oldest one is carried out (answered
//!    now, or started as a procedure answered from step 4);
//! 3. per slot in order, `PhoneInserted`, or the `Error(Aborted)` replies of the slot's
//!    procedures followed by `PhoneRemoved`;
//! 4. per slot and per channel (battery, port, screen), the reply of a procedure that finished,
//!    or the `Progress` event of one that passed a progress mark or has a sample due (at most
//!    one frame per procedure). Before each running procedure's turn the jig looks at the link
//!    again, as in step 2, so a `Ping` waits behind one procedure step at most.
//!
//! Transmit never blocks the loop. Frames are encoded into the jig's own transmit queue
//! ([`crate::transmit::TX_QUEUE`], 2 KiB) and leave it in the order queued: each poll writes
//! queued bytes at its start and at its end, only while the link says it is ready
//! ([`embedded_io::WriteReady`]), so a slow UART or a USB endpoint the host does not read
//! holds frames in the queue, never the loop. A frame that does not fit in the queue is
//! dropped whole and counted ([`Jig::tx_dropped`]): the link carries whole frames only, in the
//! order above, with the dropped ones missing. A dropped reply is still kept for `Resend`; a
//! dropped event still takes its event number, so the host sees the gap and asks `SlotStatus`.
//!
//! [`Jig::ping_worst_us`] records, on the jig's clock, the longest a `Ping` may have waited
//! for its `Pong` to be queued, for boards to report (the promise is 10 ms of jig time).

use benchline_protocol::{
    decode_frame, encode_frame, frame_seq, Channel, Event, FrameAccumulator, Hello, Instrument,
    JigError, JigKind, JigMsg, LogLevel, Packet, PhoneState, Reply, Request, SlotStatus, Text,
    MAX_ENCODED_FRAME, MAX_INSTRUMENTS, PROTOCOL_VERSION,
};
use embedded_hal::{delay::DelayNs, i2c::I2c};
use embedded_io::{Read, ReadReady, Write, WriteReady};
use heapless::Vec;

use crate::board::{Board, Clock, SlotIo, SlotOutput, MAX_SLOTS};
use crate::driver::{fusb302, ina226};
use crate::procedure::{self, cc, continuity, dcir, inline, powered, touch, Job, OrFault, Step};
use crate::replies::KeptReplies;
use crate::running::Running;
use crate::transmit::TxQueue;

/// Identity of this jig, fixed at build or read from the board's OTP.
#[derive(Debug, Clone)]
pub struct JigConfig {
    /// Serial number of the board.
    pub serial: Text,
    /// Kind of jig.
    pub kind: JigKind,
    /// Random at every boot (hardware RNG or a counter in flash).
    pub boot_id: u32,
    /// Protocol version to announce; boards always use [`PROTOCOL_VERSION`]. The simulator may
    /// announce another to exercise the host's refusal of incompatible jigs.
    pub protocol_version: u16,
    /// True only on the host simulator (simulated devices and phones), announced in `Hello`
    /// so that no host takes its measurements for a real phone's. Boards leave it false.
    pub simulated: bool,
    /// Firmware version announced in `Hello`: a board announces its own package's version
    /// (the image `benchctl flash` writes and then confirms); [`JigConfig::new`] starts from
    /// this library's [`crate::FIRMWARE_VERSION`].
    pub firmware_version: Text,
}

impl JigConfig {
    /// A configuration announcing this build's protocol version, as real hardware.
    pub fn new(serial: &str, kind: JigKind, boot_id: u32) -> Self {
        JigConfig {
            serial: text(serial),
            kind,
            boot_id,
            protocol_version: PROTOCOL_VERSION,
            simulated: false,
            firmware_version: text(crate::FIRMWARE_VERSION),
        }
    }
}

#[derive(Default)]
struct SlotState {
    /// The presence switch was closed at the last look.
    present: bool,
    /// Released by the host and not yet taken out: not testable.
    released: bool,
    jobs: [Option<Running>; 3],
    /// Rows and columns of the last completed touch scan of this phone.
    touch: Option<(u8, u8)>,
}

impl SlotState {
    fn phone(&self) -> PhoneState {
        match (self.present, self.released) {
            (false, _) => PhoneState::Empty,
            (true, false) => PhoneState::Seated,
            (true, true) => PhoneState::Released,
        }
    }
}

fn channel_index(c: Channel) -> usize {
    match c {
        Channel::Battery => 0,
        Channel::Port => 1,
        Channel::Screen => 2,
    }
}

const CHANNELS: [Channel; 3] = [Channel::Battery, Channel::Port, Channel::Screen];

/// Converts a `&str` to protocol text, truncating at capacity.
pub fn text<const N: usize>(s: &str) -> heapless::String<N> {
    let mut out = heapless::String::new();
    for c in s.chars() {
        if out.push(c).is_err() {
            break;
        }
    }
    out
}

/// What one frame from the host turned out to be.
/// Most requests with bus work waiting for their poll (one per channel of four slots, and an
/// identify each); a request past that is carried out at once.
const QUEUED: usize = 16;

enum Inbound {
    /// A request.
    Request(u16, Request),
    /// Intact (its CRC matches) but not a request this jig knows: answered `BadRequest`.
    Unknown(u16),
    /// Garbled on the line: dropped.
    Garbled,
}

/// The jig application.
pub struct Jig<B, S, D, L, C> {
    board: Board<B, S, D>,
    link: L,
    clock: C,
    config: JigConfig,
    rx: FrameAccumulator,
    /// Requests with bus work, received and not yet carried out: one per poll, in order, so
    /// that a state request (a `Ping`) never waits behind more than one of them.
    queued: heapless::Deque<(u16, Request), QUEUED>,
    event_seq: u16,
    slots: Vec<SlotState, MAX_SLOTS>,
    instruments: Vec<Instrument, MAX_INSTRUMENTS>,
    booted_sent: bool,
    bad_frames: u32,
    kept: KeptReplies,
    /// Encoded frames waiting for the link.
    tx: TxQueue,
    /// Frames dropped whole because the transmit queue was full.
    tx_dropped: u32,
    /// Jig time from which the bytes read in this poll may have waited (see `ping_worst_us`).
    waiting_since: u64,
    /// Jig time of the last look at the link (the end of the last poll's reading), moved on by
    /// the time the board said it slept ([`Jig::slept`]).
    last_look: u64,
    /// Jig time the last poll spent after its last look at the link.
    ping_worst_us: u64,
    pings: u32,
}

impl<B, S, D, L, C> Jig<B, S, D, L, C>
where
    B: I2c,
    S: SlotIo,
    D: DelayNs,
    L: Read + ReadReady + Write + WriteReady,
    C: Clock,
{
    /// Brings the board to its safe state, configures the monitors and probes the instruments.
    /// Every slot starts empty, so the first poll reports each seated phone with
    /// `PhoneInserted`, after `Booted`; the event counter starts at 0.
    pub fn new(mut board: Board<B, S, D>, link: L, clock: C, config: JigConfig) -> Self {
        let mut slots = Vec::new();
        for s in 0..board.slots.len() {
            board.slot_safe(s);
            let _ = slots.push(SlotState::default());
        }
        let instruments = probe(&mut board);
        let booted_at = clock.now_us();
        Jig {
            board,
            link,
            clock,
            config,
            rx: FrameAccumulator::new(),
            queued: heapless::Deque::new(),
            event_seq: 0,
            slots,
            instruments,
            booted_sent: false,
            bad_frames: 0,
            kept: KeptReplies::new(),
            tx: TxQueue::new(),
            tx_dropped: 0,
            waiting_since: 0,
            last_look: booted_at,
            ping_worst_us: 0,
            pings: 0,
        }
    }

    /// The handshake this jig answers with.
    pub fn hello(&self) -> Hello {
        Hello {
            protocol_version: self.config.protocol_version,
            schema_hash: benchline_protocol::schema_hash(),
            firmware_version: self.config.firmware_version.clone(),
            jig_kind: self.config.kind,
            jig_serial: self.config.serial.clone(),
            slots: self.slots.len() as u8,
            instruments: self.instruments.clone(),
            boot_id: self.config.boot_id,
            simulated: self.config.simulated,
        }
    }

    /// Frames dropped since boot because they were garbled (bad COBS, bad CRC, too long or too
    /// short). Intact frames that hold no known request are answered, not counted.
    pub fn bad_frames(&self) -> u32 {
        self.bad_frames
    }

    /// Frames dropped since boot because the transmit queue was full (the link took bytes
    /// slower than the jig made them). Each was dropped whole; the host recovers a reply with
    /// `Resend` and a lost event (a gap in the event numbers) with `SlotStatus`.
    pub fn tx_dropped(&self) -> u32 {
        self.tx_dropped
    }

    /// Encoded bytes waiting in the transmit queue for the link.
    pub fn tx_pending(&self) -> usize {
        self.tx.len()
    }

    /// The longest a `Ping` waited for its `Pong` since boot, jig microseconds (saturating):
    /// from the earliest moment its frame could have been waiting unread (the jig's last look
    /// at the link, in the previous poll) to the moment the `Pong` was queued for the link.
    /// Everything in between counts: the rest of the previous poll and whatever the board did
    /// between polls (a control channel, say), except the time it reported with [`Jig::slept`].
    /// The `Pong` leaves the queue in the same poll when the link is ready; the time on the line
    /// is the host's round trip. 0 before the first `Ping`.
    pub fn ping_worst_us(&self) -> u32 {
        u32::try_from(self.ping_worst_us).unwrap_or(u32::MAX)
    }

    /// `Ping`s answered (their `Pong` queued) since boot.
    pub fn pings(&self) -> u32 {
        self.pings
    }

    /// Requests received and waiting for their poll (one is carried out per poll).
    pub fn queued(&self) -> usize {
        self.queued.len()
    }

    /// The earliest time a running procedure wants the main loop: its next step or its next
    /// progress report; now while requests wait in the queue or bytes wait for the link.
    /// `None` when nothing runs.
    pub fn next_deadline(&self) -> Option<u64> {
        if !self.queued.is_empty() || !self.tx.is_empty() {
            return Some(self.clock.now_us());
        }
        self.slots
            .iter()
            .flat_map(|s| s.jobs.iter().flatten())
            .map(Running::next_wake)
            .min()
    }

    /// The board, for the simulator's inspection.
    pub fn board(&self) -> &Board<B, S, D> {
        &self.board
    }

    /// The link, for the simulator.
    pub fn link_mut(&mut self) -> &mut L {
        &mut self.link
    }

    /// One turn of the main loop: send what the link takes, serve the requests received, watch
    /// the presence switches, step due jobs, then send again. Never blocks longer than one job
    /// step and one battery monitor reading (a few milliseconds of bus time) per running
    /// procedure, plus the inline procedures of the requests received: the link is only written
    /// while it says it is ready ([`WriteReady`]), and frames it cannot take yet wait in the
    /// transmit queue for the next polls.
    ///
    /// Errors are the link's own; the jig's state stays consistent, so the board may poll on.
    pub fn poll(&mut self) -> Result<(), L::Error> {
        self.flush()?;
        if !self.booted_sent {
            self.booted_sent = true;
            self.event(Event::Booted {
                boot_id: self.config.boot_id,
            });
        }
        self.look()?;
        if let Some((seq, req)) = self.queued.pop_front() {
            self.dispatch(seq, req);
        }
        self.watch_presence();
        self.step_jobs()?;
        self.flush()
    }

    /// Reads what the link holds, answering state requests at once and queuing the others,
    /// then hands the link what it takes of the transmit queue. Done at the start of a poll
    /// and again after every procedure step, so that a `Ping` waits behind one step at most.
    fn look(&mut self) -> Result<(), L::Error> {
        // Bytes read now may have waited since the jig last looked at the link: the work done
        // since and whatever the board did between polls count, the time it said it slept
        // does not.
        self.waiting_since = self.last_look;
        let mut buf = [0u8; 64];
        while self.link.read_ready()? {
            let n = self.link.read(&mut buf)?;
            if n == 0 {
                break;
            }
            for &b in &buf[..n] {
                self.rx_byte(b);
            }
        }
        self.last_look = self.clock.now_us();
        self.flush()
    }

    /// Tells the jig that the board slept `us` microseconds since the last poll, waiting for
    /// received bytes or a deadline ([`Jig::next_deadline`]): a board that sleeps calls it when
    /// it wakes, so that the sleep is not counted in [`Jig::ping_worst_us`] (bytes that arrive
    /// wake it). A board that polls in a busy loop never calls it: all its time counts.
    pub fn slept(&mut self, us: u64) {
        self.last_look = self.last_look.saturating_add(us);
    }

    /// Hands the link the queued bytes it takes without blocking: writes while it is ready and
    /// bytes remain.
    fn flush(&mut self) -> Result<(), L::Error> {
        while !self.tx.is_empty() && self.link.write_ready()? {
            let n = self.link.write(self.tx.front())?;
            if n == 0 {
                break;
            }
            self.tx.consume(n);
        }
        Ok(())
    }

    fn rx_byte(&mut self, b: u8) {
        let inbound = match self.rx.push(b) {
            None => return,
            Some(Ok(frame)) => match decode_frame::<Request>(frame) {
                Ok(packet) => Inbound::Request(packet.seq, packet.msg),
                Err(_) => frame_seq(frame).map_or(Inbound::Garbled, Inbound::Unknown),
            },
            Some(Err(_)) => Inbound::Garbled,
        };
        match inbound {
            Inbound::Request(seq, req) if req.is_state_request() => self.dispatch(seq, req),
            Inbound::Request(seq, req) => {
                if let Err((seq, req)) = self.queued.push_back((seq, req)) {
                    self.dispatch(seq, req);
                }
            }
            Inbound::Unknown(seq) => {
                self.reply(seq, Reply::Error(JigError::BadRequest), true);
            }
            Inbound::Garbled => {
                self.bad_frames = self.bad_frames.wrapping_add(1);
                self.log(LogLevel::Warn, "dropped a bad frame");
            }
        }
    }

    fn dispatch(&mut self, seq: u16, req: Request) {
        let now = self.clock.now_us();
        // A copy sent again is not kept again: it would push real replies out of the ring.
        let keep = !matches!(req, Request::Resend { .. });
        let ping = matches!(req, Request::Ping { .. });
        let queued = match self.handle(seq, req, now) {
            Ok(Some(reply)) => self.reply(seq, reply, keep),
            Ok(None) => false,
            Err(e) => self.reply(seq, Reply::Error(e), keep),
        };
        if ping && queued {
            let waited = self.clock.now_us().saturating_sub(self.waiting_since);
            self.ping_worst_us = self.ping_worst_us.max(waited);
            self.pings = self.pings.wrapping_add(1);
        }
    }

    /// Answers at once (`Some`) or starts a job that answers later (`None`).
    fn handle(&mut self, seq: u16, req: Request, now: u64) -> Result<Option<Reply>, JigError> {
        let slot = req.slot();
        if slot.is_some_and(|s| usize::from(s) >= self.slots.len()) || !req.params_in_range() {
            return Err(JigError::BadRequest);
        }
        let slot_u8 = slot.unwrap_or(0);
        let si = usize::from(slot_u8);
        match req {
            Request::Hello => {
                // A handshake starts a host session: replies kept for the sequence numbers of
                // an earlier one must not answer this one's Resends.
                self.kept.clear();
                return Ok(Some(Reply::Hello(self.hello())));
            }
            Request::Ping { nonce } => return Ok(Some(Reply::Pong { nonce })),
            Request::SlotStatus { .. } => return Ok(Some(Reply::Slot(self.slot_status(si)))),
            Request::Resend { seq: earlier } => return Ok(Some(self.resend(earlier, now))),
            Request::Abort { channel, .. } => {
                self.abort(slot_u8, channel);
                return Ok(Some(Reply::Done));
            }
            Request::Release { .. } => {
                self.release(slot_u8)?;
                return Ok(Some(Reply::Done));
            }
            _ => {}
        }
        if self.slots[si].phone() != PhoneState::Seated {
            return Err(JigError::NoPhone);
        }
        let channel = req.channel();
        if let Some(c) = channel {
            if self.slots[si].jobs[channel_index(c)].is_some() {
                return Err(JigError::Busy(c));
            }
        }
        procedure::select(&mut self.board, slot_u8)?;
        let b = &mut self.board;
        let started = match req {
            Request::Identify { .. } => return inline::identify(b).map(Some),
            Request::BatteryGauge { .. } => return inline::gauge(b).map(Some),
            Request::TouchRow { row, .. } => {
                return inline::touch_row(b, self.slots[si].touch, row).map(Some)
            }
            Request::BatteryDcir {
                low_ma,
                low_ms,
                high_ma,
                high_ms,
                ..
            } => {
                // Samples for the host's chart count from the same start as the progress.
                let chart_from = req.reports_progress().then_some(now);
                dcir::Dcir::start(b, low_ma, low_ms, high_ma, high_ms, chart_from)
                    .map(|(j, ms)| (Job::Dcir(j), ms))
            }
            Request::PortCc { .. } => cc::Cc::start(b).map(|(j, ms)| (Job::Cc(j), ms)),
            Request::PortContinuity { .. } => {
                continuity::Continuity::start(b, slot_u8).map(|(j, ms)| (Job::Continuity(j), ms))
            }
            Request::PortCharge { settle_ms, .. } => {
                powered::Powered::start(b, slot_u8, powered::Supply::Vbus, settle_ms)
                    .map(|(j, ms)| (Job::Powered(j), ms))
            }
            Request::ScreenTouch { .. } => {
                self.slots[si].touch = None;
                touch::Touch::start(b, now).map(|(j, ms)| (Job::Touch(j), ms))
            }
            Request::ScreenBacklight { settle_ms, .. } => {
                powered::Powered::start(b, slot_u8, powered::Supply::Backlight, settle_ms)
                    .map(|(j, ms)| (Job::Powered(j), ms))
            }
            _ => return Err(JigError::Unsupported),
        };
        let (job, wait_ms) = match started {
            Ok(v) => v,
            Err(e) => {
                if let Some(c) = channel {
                    procedure::channel_safe(&mut self.board, slot_u8, c);
                }
                return Err(e);
            }
        };
        // Every job runs a procedure of the table, which names its channel; that channel was
        // checked free before the job started.
        let Some(c) = channel else {
            return Err(JigError::Unsupported);
        };
        let ci = channel_index(c);
        let wake_at = procedure::after_ms(self.clock.now_us(), wait_ms);
        self.slots[si].jobs[ci] = Some(Running::new(seq, job, &req, now, wake_at));
        Ok(None)
    }

    /// The answer to `Resend { seq }`: `Pending` while that request runs, a copy of its kept
    /// reply once done, `UnknownSeq` otherwise.
    fn resend(&self, seq: u16, now: u64) -> Reply {
        let running = self
            .slots
            .iter()
            .flat_map(|s| s.jobs.iter().flatten())
            .find(|r| r.seq == seq);
        if let Some(r) = running {
            return Reply::Pending {
                remaining_ms: r.remaining_ms(now),
            };
        }
        // Received and waiting for its poll: it has not started, so it needs all its time.
        if let Some((_, req)) = self.queued.iter().find(|(s, _)| *s == seq) {
            return Reply::Pending {
                remaining_ms: req.nominal_ms(),
            };
        }
        self.kept
            .get(seq)
            .cloned()
            .unwrap_or(Reply::Error(JigError::UnknownSeq))
    }

    fn slot_status(&self, si: usize) -> SlotStatus {
        let mut busy = Vec::new();
        let mut phone = PhoneState::Empty;
        if let Some(s) = self.slots.get(si) {
            phone = s.phone();
            for c in CHANNELS {
                // Running, or received and waiting in the queue for its turn.
                let waiting = self
                    .queued
                    .iter()
                    .any(|(_, r)| r.slot() == Some(si as u8) && r.channel() == Some(c));
                if s.jobs[channel_index(c)].is_some() || waiting {
                    let _ = busy.push(c);
                }
            }
        }
        SlotStatus { phone, busy }
    }

    /// Stops the procedure on `channel` (answering it `Error(Aborted)`), if one runs.
    fn abort(&mut self, slot: u8, channel: Channel) {
        let si = usize::from(slot);
        let Some(running) = self
            .slots
            .get_mut(si)
            .and_then(|s| s.jobs[channel_index(channel)].take())
        else {
            return;
        };
        let mut job = running.job;
        job.stop(&mut self.board, slot, channel);
        // The aborted request is answered now (and kept for `Resend`).
        self.reply(running.seq, Reply::Error(JigError::Aborted), true);
    }

    fn abort_all(&mut self, slot: u8) {
        for c in CHANNELS {
            self.abort(slot, c);
        }
    }

    /// Stops every procedure of the slot, then opens the clamp of a seated phone. An empty
    /// slot has nothing to release.
    fn release(&mut self, slot: u8) -> Result<(), JigError> {
        self.abort_all(slot);
        let si = usize::from(slot);
        let Some(state) = self.slots.get_mut(si) else {
            return Ok(());
        };
        if !state.present {
            return Ok(());
        }
        state.touch = None;
        if let Some(p) = self.board.slots.get_mut(si) {
            p.set(SlotOutput::Release, true)
                .or_fault(Instrument::SlotMux)?;
        }
        // Released only once the clamp is open: a clamp that failed leaves the phone Seated.
        if let Some(state) = self.slots.get_mut(si) {
            state.released = true;
        }
        Ok(())
    }

    fn watch_presence(&mut self) {
        for si in 0..self.slots.len() {
            let present = self.board.phone_present(si as u8);
            if present == self.slots[si].present {
                continue;
            }
            let slot = si as u8;
            if present {
                // A new phone: clamped, untested, no scan of its own yet.
                self.board.slot_safe(si);
                self.slots[si].present = true;
                self.slots[si].released = false;
                self.slots[si].touch = None;
                self.event(Event::PhoneInserted { slot });
            } else {
                self.abort_all(slot);
                self.slots[si].present = false;
                self.slots[si].released = false;
                self.slots[si].touch = None;
                self.board.slot_safe(si);
                self.event(Event::PhoneRemoved { slot });
            }
        }
    }

    fn step_jobs(&mut self) -> Result<(), L::Error> {
        for si in 0..self.slots.len() {
            for (ci, &channel) in CHANNELS.iter().enumerate() {
                let slot = si as u8;
                if self.slots[si].jobs[ci].is_some() {
                    // Before each procedure's bus work, the link is served.
                    self.look()?;
                }
                let now = self.clock.now_us();
                let due = self.slots[si].jobs[ci]
                    .as_ref()
                    .is_some_and(|r| r.wake_at <= now);
                if due {
                    let Some(mut running) = self.slots[si].jobs[ci].take() else {
                        continue;
                    };
                    match running.job.step(&mut self.board, slot, now) {
                        Ok(Step::Wait(ms)) => {
                            running.wake_at = procedure::after_ms(self.clock.now_us(), ms);
                            self.slots[si].jobs[ci] = Some(running);
                        }
                        Ok(Step::Done(reply)) => {
                            if let Reply::TouchScan(scan) = &reply {
                                self.slots[si].touch = Some((scan.rows, scan.cols));
                            }
                            self.reply(running.seq, reply, true);
                            continue;
                        }
                        Err(e) => {
                            running.job.stop(&mut self.board, slot, channel);
                            self.reply(running.seq, Reply::Error(e), true);
                            continue;
                        }
                    }
                }
                self.report(slot, channel);
            }
        }
        Ok(())
    }

    /// Sends the `Progress` event of the procedure on `channel` of `slot` when it passed a mark
    /// or has a sample due: one event at most, carrying the new percent (or the last one) and
    /// the job's sample. A battery monitor that fails to give the sample fails the procedure.
    fn report(&mut self, slot: u8, channel: Channel) {
        let (si, ci) = (usize::from(slot), channel_index(channel));
        let now = self.clock.now_us();
        let Some(running) = self.slots[si].jobs[ci].as_mut() else {
            return;
        };
        let mark = running.progress(now);
        if mark.is_none() && !running.sample_due(now) {
            return;
        }
        let percent = mark.unwrap_or(running.percent());
        let step_end = running.wake_at;
        match running.job.sample(&mut self.board, slot, now, step_end) {
            Ok(sample) => self.event(Event::Progress {
                slot,
                channel,
                percent,
                sample,
            }),
            Err(e) => {
                if let Some(mut running) = self.slots[si].jobs[ci].take() {
                    running.job.stop(&mut self.board, slot, channel);
                    self.reply(running.seq, Reply::Error(e), true);
                }
            }
        }
    }

    /// Queues an event under the next event number. A dropped event still takes its number,
    /// so the host sees the gap.
    fn event(&mut self, ev: Event) {
        let seq = self.event_seq;
        self.event_seq = self.event_seq.wrapping_add(1);
        self.send(seq, JigMsg::Event(ev));
    }

    fn log(&mut self, level: LogLevel, msg: &str) {
        self.event(Event::Log {
            level,
            text: text(msg),
        });
    }

    /// Queues the reply to request `seq`, keeping a copy for `Resend` when `keep` (also when
    /// the queue drops it: `Resend` recovers it). True when queued.
    fn reply(&mut self, seq: u16, reply: Reply, keep: bool) -> bool {
        if keep {
            self.kept.keep(seq, &reply);
        }
        self.send(seq, JigMsg::Reply(reply))
    }

    /// Encodes a frame into the transmit queue: whole, or dropped and counted when it does not
    /// fit. True when queued.
    fn send(&mut self, seq: u16, msg: JigMsg) -> bool {
        let mut buf = [0u8; MAX_ENCODED_FRAME];
        // Every message fits the frame bound (checked by the protocol's tests).
        let queued = match encode_frame(&Packet { seq, msg }, &mut buf) {
            Ok(n) => self.tx.push(&buf[..n]),
            Err(_) => false,
        };
        if !queued {
            self.tx_dropped = self.tx_dropped.wrapping_add(1);
        }
        queued
    }
}

/// Configures the monitors of every slot and lists the instruments that answered on slot 0.
fn probe<B: I2c, S, D>(board: &mut Board<B, S, D>) -> Vec<Instrument, MAX_INSTRUMENTS> {
    let mut found = Vec::new();
    let mut monitors = true;
    let mut front_end = false;
    for slot in 0..board.slots.len() as u8 {
        if procedure::select(board, slot).is_err() {
            return found;
        }
        for fit in [
            ina226::Fit::BATTERY,
            ina226::Fit::VBUS,
            ina226::Fit::BACKLIGHT,
        ] {
            monitors &= ina226::init(&mut board.i2c, fit).unwrap_or(false);
        }
        if slot == 0 {
            front_end = fusb302::probe(&mut board.i2c).unwrap_or(false);
        }
    }
    let _ = found.push(Instrument::SlotMux);
    // The gauge, EEPROM and touch IC belong to the phone: fitted means the connector is there.
    let _ = found.push(Instrument::Gauge);
    let _ = found.push(Instrument::DiagEeprom);
    let _ = found.push(Instrument::TouchIc);
    let _ = found.push(Instrument::Continuity);
    let _ = found.push(Instrument::Load);
    if monitors {
        let _ = found.push(Instrument::PowerMonitor);
    }
    if front_end {
        let _ = found.push(Instrument::CcFrontEnd);
    }
    found
}

#[cfg(test)]
pub(crate) mod tests;
