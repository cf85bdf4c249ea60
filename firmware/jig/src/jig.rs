//! The application: frames in, dispatch, jobs stepped by the clock, replies and events out.

use benchline_protocol::{
    decode_frame, encode_frame, Channel, Event, Gauge, Hello, Identity, Instrument, JigError,
    JigKind, JigMsg, LogLevel, Packet, Reply, Request, RpLevel, SlotStatus, Text,
    MAX_ENCODED_FRAME, MAX_INSTRUMENTS, PROTOCOL_VERSION,
};
use embedded_hal::{delay::DelayNs, digital::InputPin, digital::OutputPin, i2c::I2c};
use embedded_io::{Read, ReadReady, Write};
use heapless::Vec;

use crate::board::{Board, Clock, MAX_SLOTS};
use crate::driver::{eeprom, fusb302, ina226, sbs, touch};
use crate::procedure::{self, continuity, dcir, powered, Job, OrFault, Step};

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
}

impl JigConfig {
    /// A configuration announcing this build's protocol version.
    pub fn new(serial: &str, kind: JigKind, boot_id: u32) -> Self {
        JigConfig {
            serial: text(serial),
            kind,
            boot_id,
            protocol_version: PROTOCOL_VERSION,
        }
    }
}

struct Running {
    seq: u16,
    job: Job,
    wake_at: u64,
    percent: u8,
}

#[derive(Default)]
struct SlotState {
    present: bool,
    jobs: [Option<Running>; 3],
    touch: Option<(u8, u8)>,
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

/// The jig application.
pub struct Jig<B, O, I, D, L, C> {
    board: Board<B, O, I, D>,
    link: L,
    clock: C,
    config: JigConfig,
    rx: Vec<u8, MAX_ENCODED_FRAME>,
    rx_overflow: bool,
    event_seq: u16,
    slots: Vec<SlotState, MAX_SLOTS>,
    instruments: Vec<Instrument, MAX_INSTRUMENTS>,
    booted_sent: bool,
    bad_frames: u32,
}

impl<B, O, I, D, L, C> Jig<B, O, I, D, L, C>
where
    B: I2c,
    O: OutputPin,
    I: InputPin,
    D: DelayNs,
    L: Read + ReadReady + Write,
    C: Clock,
{
    /// Brings the board to its safe state, configures the monitors and probes the instruments.
    pub fn new(mut board: Board<B, O, I, D>, link: L, clock: C, config: JigConfig) -> Self {
        let mut slots = Vec::new();
        for s in 0..board.slots.len() {
            board.slot_safe(s);
            let _ = slots.push(SlotState::default());
        }
        let instruments = probe(&mut board);
        Jig {
            board,
            link,
            clock,
            config,
            rx: Vec::new(),
            rx_overflow: false,
            event_seq: 0,
            slots,
            instruments,
            booted_sent: false,
            bad_frames: 0,
        }
    }

    /// The handshake this jig answers with.
    pub fn hello(&self) -> Hello {
        Hello {
            protocol_version: self.config.protocol_version,
            schema_hash: benchline_protocol::schema_hash(),
            firmware_version: text(crate::FIRMWARE_VERSION),
            jig_kind: self.config.kind,
            jig_serial: self.config.serial.clone(),
            slots: self.slots.len() as u8,
            instruments: self.instruments.clone(),
            boot_id: self.config.boot_id,
        }
    }

    /// Frames that failed to decode since boot.
    pub fn bad_frames(&self) -> u32 {
        self.bad_frames
    }

    /// The earliest time a job wants to be stepped, if any job runs.
    pub fn next_deadline(&self) -> Option<u64> {
        self.slots
            .iter()
            .flat_map(|s| s.jobs.iter().flatten())
            .map(|r| r.wake_at)
            .min()
    }

    /// The board, for the simulator's inspection.
    pub fn board(&self) -> &Board<B, O, I, D> {
        &self.board
    }

    /// The link, for the simulator.
    pub fn link_mut(&mut self) -> &mut L {
        &mut self.link
    }

    /// One turn of the main loop: serve the link, watch the presence switches, step due jobs.
    /// Never blocks longer than one job step (a few milliseconds of bus time).
    pub fn poll(&mut self) -> Result<(), L::Error> {
        if !self.booted_sent {
            self.booted_sent = true;
            self.event(Event::Booted {
                boot_id: self.config.boot_id,
            })?;
        }
        let mut buf = [0u8; 64];
        while self.link.read_ready()? {
            let n = self.link.read(&mut buf)?;
            if n == 0 {
                break;
            }
            for &b in &buf[..n] {
                self.rx_byte(b)?;
            }
        }
        self.watch_presence()?;
        self.step_jobs()
    }

    fn rx_byte(&mut self, b: u8) -> Result<(), L::Error> {
        if b != 0 {
            if self.rx.push(b).is_err() {
                self.rx_overflow = true;
            }
            return Ok(());
        }
        let frame = core::mem::take(&mut self.rx);
        let overflow = core::mem::replace(&mut self.rx_overflow, false);
        if frame.is_empty() {
            return Ok(());
        }
        match (overflow, decode_frame::<Request>(&frame)) {
            (false, Ok(packet)) => self.dispatch(packet.seq, packet.msg),
            _ => {
                self.bad_frames = self.bad_frames.wrapping_add(1);
                self.log(LogLevel::Warn, "dropped a bad frame")
            }
        }
    }

    fn dispatch(&mut self, seq: u16, req: Request) -> Result<(), L::Error> {
        let now = self.clock.now_us();
        let reply = match self.handle(seq, req, now) {
            Ok(Some(reply)) => reply,
            Ok(None) => return Ok(()),
            Err(e) => Reply::Error(e),
        };
        self.send(seq, JigMsg::Reply(reply))
    }

    /// Answers at once (`Some`) or starts a job that answers later (`None`).
    fn handle(&mut self, seq: u16, req: Request, now: u64) -> Result<Option<Reply>, JigError> {
        let slot = req.slot();
        if let Some(s) = slot {
            if usize::from(s) >= self.slots.len() {
                return Err(JigError::BadRequest);
            }
        }
        let slot_u8 = slot.unwrap_or(0);
        let si = usize::from(slot_u8);
        match req {
            Request::Hello => return Ok(Some(Reply::Hello(self.hello()))),
            Request::Ping { nonce } => return Ok(Some(Reply::Pong { nonce })),
            Request::SlotStatus { .. } => return Ok(Some(Reply::Slot(self.slot_status(si)))),
            Request::Abort { channel, .. } => {
                self.abort(slot_u8, channel);
                return Ok(Some(Reply::Done));
            }
            Request::Release { .. } => {
                self.abort_all(slot_u8);
                if let Some(p) = self.board.slots.get_mut(si) {
                    p.release.set_high().or_fault(Instrument::SlotMux)?;
                }
                return Ok(Some(Reply::Done));
            }
            _ => {}
        }
        if !self.slots.get(si).is_some_and(|s| s.present) {
            return Err(JigError::NoPhone);
        }
        let channel = match req {
            Request::BatteryGauge { .. } | Request::BatteryDcir { .. } => Some(Channel::Battery),
            Request::PortCc { .. }
            | Request::PortContinuity { .. }
            | Request::PortCharge { .. } => Some(Channel::Port),
            Request::ScreenTouch { .. }
            | Request::TouchRow { .. }
            | Request::ScreenBacklight { .. } => Some(Channel::Screen),
            _ => None,
        };
        if let Some(c) = channel {
            if self.slots[si].jobs[channel_index(c)].is_some() {
                return Err(JigError::Busy(c));
            }
        }
        procedure::select(&mut self.board, slot_u8)?;
        let started = match req {
            Request::Identify { .. } => return self.identify().map(Some),
            Request::BatteryGauge { .. } => return self.gauge().map(Some),
            Request::PortCc { .. } => return self.cc().map(Some),
            Request::TouchRow { row, .. } => return self.touch_row(si, row).map(Some),
            Request::BatteryDcir {
                low_ma,
                low_ms,
                high_ma,
                high_ms,
                ..
            } => dcir::Dcir::start(&mut self.board, now, low_ma, low_ms, high_ma, high_ms)
                .map(|(j, t)| (Job::Dcir(j), t)),
            Request::PortContinuity { .. } => {
                continuity::Continuity::start(&mut self.board, slot_u8, now)
                    .map(|(j, t)| (Job::Continuity(j), t))
            }
            Request::PortCharge { settle_ms, .. } => powered::Powered::start(
                &mut self.board,
                slot_u8,
                now,
                powered::Supply::Vbus,
                settle_ms,
            )
            .map(|(j, t)| (Job::Powered(j), t)),
            Request::ScreenTouch { .. } => {
                self.slots[si].touch = None;
                procedure::touch::Touch::start(&mut self.board, now)
                    .map(|(j, t)| (Job::Touch(j), t))
            }
            Request::ScreenBacklight { settle_ms, .. } => powered::Powered::start(
                &mut self.board,
                slot_u8,
                now,
                powered::Supply::Backlight,
                settle_ms,
            )
            .map(|(j, t)| (Job::Powered(j), t)),
            _ => return Err(JigError::Unsupported),
        };
        let (job, wake_at) = match started {
            Ok(v) => v,
            Err(e) => {
                self.board.slot_safe(si);
                return Err(e);
            }
        };
        // The channel was checked free before the job started.
        let ci = channel_index(job.channel());
        self.slots[si].jobs[ci] = Some(Running {
            seq,
            job,
            wake_at,
            percent: 0,
        });
        Ok(None)
    }

    fn slot_status(&self, si: usize) -> SlotStatus {
        let mut busy = Vec::new();
        if let Some(s) = self.slots.get(si) {
            for c in CHANNELS {
                if s.jobs[channel_index(c)].is_some() {
                    let _ = busy.push(c);
                }
            }
        }
        SlotStatus {
            phone_present: self.slots.get(si).is_some_and(|s| s.present),
            busy,
        }
    }

    fn identify(&mut self) -> Result<Reply, JigError> {
        let bus = &mut self.board.i2c;
        Ok(Reply::Identity(Identity {
            model: eeprom::read_field(bus, eeprom::MODEL).or_fault(Instrument::DiagEeprom)?,
            imei: eeprom::read_field(bus, eeprom::IMEI).or_fault(Instrument::DiagEeprom)?,
            serial: eeprom::read_field(bus, eeprom::SERIAL).or_fault(Instrument::DiagEeprom)?,
        }))
    }

    fn gauge(&mut self) -> Result<Reply, JigError> {
        let bus = &mut self.board.i2c;
        let mut word = |cmd| sbs::read_word(bus, cmd).or_fault(Instrument::Gauge);
        let voltage = word(sbs::reg::VOLTAGE)?;
        let current = word(sbs::reg::CURRENT)? as i16;
        let temperature = word(sbs::reg::TEMPERATURE)?;
        let soc = word(sbs::reg::RELATIVE_SOC)?;
        let remaining = word(sbs::reg::REMAINING_CAPACITY)?;
        let full = word(sbs::reg::FULL_CHARGE_CAPACITY)?;
        let design = word(sbs::reg::DESIGN_CAPACITY)?;
        let cycles = word(sbs::reg::CYCLE_COUNT)?;
        let serial = word(sbs::reg::SERIAL_NUMBER)?;
        Ok(Reply::Gauge(Gauge {
            voltage_v: f32::from(voltage) / 1000.0,
            current_a: f32::from(current) / 1000.0,
            temperature_k: f32::from(temperature) / 10.0,
            state_of_charge_pct: soc.min(255) as u8,
            remaining_mah: remaining,
            full_charge_mah: full,
            design_mah: design,
            cycle_count: cycles,
            serial,
            manufacturer: sbs::read_text(bus, sbs::reg::MANUFACTURER_NAME)
                .or_fault(Instrument::Gauge)?,
            device: sbs::read_text(bus, sbs::reg::DEVICE_NAME).or_fault(Instrument::Gauge)?,
        }))
    }

    fn cc(&mut self) -> Result<Reply, JigError> {
        let rp = RpLevel::Current1A5;
        let b = &mut self.board;
        let cc1_v = fusb302::measure_cc(&mut b.i2c, &mut b.delay, 1, rp)
            .or_fault(Instrument::CcFrontEnd)?;
        let cc2_v = fusb302::measure_cc(&mut b.i2c, &mut b.delay, 2, rp)
            .or_fault(Instrument::CcFrontEnd)?;
        Ok(Reply::Cc(benchline_protocol::Cc { rp, cc1_v, cc2_v }))
    }

    fn touch_row(&mut self, si: usize, row: u8) -> Result<Reply, JigError> {
        let (rows, cols) = self.slots[si].touch.ok_or(JigError::BadRequest)?;
        if row >= rows {
            return Err(JigError::BadRequest);
        }
        let raw = touch::read_row(&mut self.board.i2c, row, cols).or_fault(Instrument::TouchIc)?;
        Ok(Reply::TouchRow(benchline_protocol::TouchRow { row, raw }))
    }

    fn abort(&mut self, slot: u8, channel: Channel) -> Option<u16> {
        let si = usize::from(slot);
        let running = self.slots.get_mut(si)?.jobs[channel_index(channel)].take()?;
        let mut job = running.job;
        job.stop(&mut self.board, slot);
        // The aborted request is answered now; a failure to send shows up on the next poll.
        let _ = self.send(running.seq, JigMsg::Reply(Reply::Error(JigError::Aborted)));
        Some(running.seq)
    }

    fn abort_all(&mut self, slot: u8) {
        for c in CHANNELS {
            self.abort(slot, c);
        }
    }

    fn watch_presence(&mut self) -> Result<(), L::Error> {
        for si in 0..self.slots.len() {
            let present = self
                .board
                .slots
                .get_mut(si)
                .is_some_and(|p| p.presence.is_high().unwrap_or(false));
            if present == self.slots[si].present {
                continue;
            }
            self.slots[si].present = present;
            let slot = si as u8;
            if present {
                self.event(Event::PhoneInserted { slot })?;
            } else {
                self.abort_all(slot);
                self.slots[si].touch = None;
                self.board.slot_safe(si);
                self.event(Event::PhoneRemoved { slot })?;
            }
        }
        Ok(())
    }

    fn step_jobs(&mut self) -> Result<(), L::Error> {
        for si in 0..self.slots.len() {
            for (ci, &channel) in CHANNELS.iter().enumerate() {
                let now = self.clock.now_us();
                let due = self.slots[si].jobs[ci]
                    .as_ref()
                    .is_some_and(|r| r.wake_at <= now);
                if !due {
                    continue;
                }
                let Some(mut running) = self.slots[si].jobs[ci].take() else {
                    continue;
                };
                let slot = si as u8;
                match running.job.step(&mut self.board, slot, now) {
                    Ok(Step::WakeAt(t)) => {
                        running.wake_at = t;
                        let percent = match &running.job {
                            Job::Dcir(d) => d.percent(),
                            _ => running.percent,
                        };
                        let report = percent != running.percent;
                        running.percent = percent;
                        self.slots[si].jobs[ci] = Some(running);
                        if report {
                            self.event(Event::Progress {
                                slot,
                                channel,
                                percent,
                            })?;
                        }
                    }
                    Ok(Step::Done(reply)) => {
                        if let Reply::TouchScan(scan) = &reply {
                            self.slots[si].touch = Some((scan.rows, scan.cols));
                        }
                        self.send(running.seq, JigMsg::Reply(reply))?;
                    }
                    Err(e) => {
                        running.job.stop(&mut self.board, slot);
                        self.send(running.seq, JigMsg::Reply(Reply::Error(e)))?;
                    }
                }
            }
        }
        Ok(())
    }

    fn event(&mut self, ev: Event) -> Result<(), L::Error> {
        let seq = self.event_seq;
        self.event_seq = self.event_seq.wrapping_add(1);
        self.send(seq, JigMsg::Event(ev))
    }

    fn log(&mut self, level: LogLevel, msg: &str) -> Result<(), L::Error> {
        self.event(Event::Log {
            level,
            text: text(msg),
        })
    }

    fn send(&mut self, seq: u16, msg: JigMsg) -> Result<(), L::Error> {
        let mut buf = [0u8; MAX_ENCODED_FRAME];
        match encode_frame(&Packet { seq, msg }, &mut buf) {
            Ok(n) => self.link.write_all(&buf[..n]),
            // Every reply type fits the frame bound (checked by the protocol's tests).
            Err(_) => Ok(()),
        }
    }
}

/// Configures the monitors of every slot and lists the instruments that answered on slot 0.
fn probe<B: I2c, O, I, D>(board: &mut Board<B, O, I, D>) -> Vec<Instrument, MAX_INSTRUMENTS> {
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
