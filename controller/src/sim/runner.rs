//! The loop of one simulated jig: PTY in, jig application, PTY out, with the simulated operator,
//! the fault injector and the line noise in between.
//!
//! The loop never idles while something is due: it polls the jig at once when the operator
//! changed the rig or a job's deadline has come, and only blocks on the PTY (until bytes arrive,
//! the next deadline in real time, or at most `IDLE`) when nothing is.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use benchline_jig::Clock;
use benchline_protocol::{
    decode_frame, FrameAccumulator, FrameError, JigMsg, Packet, Request, MAX_ENCODED_FRAME,
};
use benchline_sim::{build_jig, Rig, SimClock, SimJig};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::fault::{mangle, Fault, FaultKind};
#[cfg(test)]
use super::noise::STALL_MIN;
use super::noise::{Noise, NoisyLine};
use super::{Feeder, Pty, SimError};

/// Longest the loop blocks when nothing is due, so that a stop is seen.
const IDLE: Duration = Duration::from_millis(20);

/// How one simulated jig behaves.
#[derive(Clone)]
pub struct SimJigOptions {
    /// Jig serial number.
    pub serial: String,
    /// Slots (1-4).
    pub slots: usize,
    /// Seed for measurement noise (boot ids come from the OS's randomness, so that every boot
    /// differs whatever the seed).
    pub seed: u64,
    /// Real seconds per jig second (0 = as fast as possible).
    pub time_scale: f64,
    /// Protocol version the firmware announces.
    pub protocol_version: u16,
    /// Faults to inject.
    pub faults: Vec<Fault>,
    /// A stable path (symlink) for the device, like `/dev/serial/by-id/...`; needed for unplug.
    pub link: Option<PathBuf>,
    /// Where phones come from.
    pub feeder: Feeder,
    /// Time the operator takes to take a phone out and seat the next one, jig ms.
    pub handling_ms: u32,
    /// Not a jig at all: writes random bytes and never answers.
    pub babble: bool,
    /// Noise on the line, both directions (mixed with `seed`, so jigs of a line differ).
    pub noise: Option<Noise>,
}

/// A running simulated jig.
pub struct SimJigHandle {
    /// The device path to open.
    pub path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SimJigHandle {
    /// Stops the jig and waits for its thread.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Waits until the jig's thread ends (it runs until stopped).
    pub fn join(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for SimJigHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Starts a simulated jig on a new PTY.
pub fn spawn(opts: SimJigOptions) -> Result<SimJigHandle, SimError> {
    let pty = Pty::open()?;
    let path = match &opts.link {
        Some(link) => {
            relink(link, &pty.path)?;
            link.clone()
        }
        None => pty.path.clone(),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let thread = std::thread::Builder::new()
        .name(format!("sim-jig {}", opts.serial))
        .spawn(move || Runner::new(opts, pty, stop2).run())
        .map_err(SimError::Thread)?;
    Ok(SimJigHandle {
        path,
        stop,
        thread: Some(thread),
    })
}

fn relink(link: &Path, target: &Path) -> Result<(), SimError> {
    let _ = std::fs::remove_file(link);
    std::os::unix::fs::symlink(target, link).map_err(|cause| SimError::Link {
        path: link.to_path_buf(),
        cause,
    })
}

struct Runner {
    /// Set when the jig is to stop (checked during an unplug, too).
    stop: Arc<AtomicBool>,
    opts: SimJigOptions,
    pty: Option<Pty>,
    clock: SimClock,
    rig: Rc<RefCell<Rig>>,
    jig: SimJig,
    rng: ChaCha8Rng,
    inbound: FrameAccumulator,
    /// Noise towards the jig and towards the host.
    noise: Option<(NoisyLine, NoisyLine)>,
    /// The line is silent (nothing read or written) until then.
    stalled_until: Option<Instant>,
    /// Bytes from the host held by a stall, on their way to the jig.
    held_in: Vec<u8>,
    /// Bytes for the host held by a stall.
    held_out: Vec<u8>,
    counts: HashMap<&'static str, u32>,
    fired: Vec<bool>,
    mangle: HashMap<u16, FaultKind>,
    hang_until: Option<Instant>,
    /// Times the cable was pulled.
    plugs: u64,
    /// The operator changed the rig since the jig's last poll.
    rig_changed: bool,
    next_insert: Vec<Option<u64>>,
}

impl Runner {
    fn new(opts: SimJigOptions, pty: Pty, stop: Arc<AtomicBool>) -> Self {
        let clock = SimClock::new(opts.time_scale);
        let slots = opts.slots.clamp(1, benchline_jig::MAX_SLOTS);
        let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
        let rig = Rig::new(slots, clock.clone(), rng.gen());
        let jig = build_jig(&rig, &opts.serial, rand::random(), opts.protocol_version);
        let fired = vec![false; opts.faults.len()];
        let noise = opts.noise.as_ref().map(|n| {
            let stream = opts.seed.wrapping_mul(2);
            (
                NoisyLine::new(n, stream),
                NoisyLine::new(n, stream.wrapping_add(1)),
            )
        });
        Runner {
            stop,
            pty: Some(pty),
            clock,
            rig,
            jig,
            rng,
            inbound: FrameAccumulator::new(),
            noise,
            stalled_until: None,
            held_in: Vec::new(),
            held_out: Vec::new(),
            counts: HashMap::new(),
            fired,
            mangle: HashMap::new(),
            hang_until: None,
            plugs: 0,
            rig_changed: false,
            next_insert: vec![Some(0); slots],
            opts,
        }
    }

    fn run(mut self) {
        while !self.stop.load(Ordering::Relaxed) {
            if self.opts.babble {
                self.babble();
                continue;
            }
            // A change the jig has not polled yet (a hang may have kept it from it).
            self.rig_changed |= self.operate();
            let changed = self.rig_changed;
            if let Some(until) = self.hang_until {
                // The jig serves nothing while it hangs.
                let left = until.saturating_duration_since(Instant::now());
                if !left.is_zero() {
                    std::thread::sleep(left.min(IDLE));
                    continue;
                }
                self.hang_until = None;
            }
            self.end_stall();
            let deadline = self.deadline();
            // Something to do now: the rig changed under the jig, or a deadline has come.
            let due = changed || deadline.is_some_and(|t| t <= self.clock.now_us());
            let mut wait = if due || (self.clock.is_virtual() && deadline.is_some()) {
                Duration::ZERO
            } else {
                deadline
                    .map_or(IDLE, |t| self.clock.real_until(t))
                    .min(IDLE)
            };
            if let Some(t) = self.stalled_until {
                // The held bytes go on when the stall ends, not later.
                wait = wait.min(t.saturating_duration_since(Instant::now()));
            }
            let got = self.wait_line(wait);
            if self.clock.is_virtual() && !got && !due {
                if let Some(t) = deadline {
                    self.clock.advance_to(t);
                }
            }
            self.rig_changed = false;
            if self.jig.poll().is_err() {
                continue;
            }
            let out = self.jig.link_mut().take_output();
            self.write_line(&out);
        }
        if let Some((to_jig, to_host)) = &self.noise {
            let (i, o) = (to_jig.damage, to_host.damage);
            tracing::info!(
                serial = %self.opts.serial,
                "line noise damaged {} bytes on their way to the jig and {} to the host, {} stalls",
                i.bytes(),
                o.bytes(),
                i.stalls + o.stalls
            );
        }
        if let Some(link) = &self.opts.link {
            let _ = std::fs::remove_file(link);
        }
    }

    fn deadline(&self) -> Option<u64> {
        self.jig
            .next_deadline()
            .into_iter()
            .chain(self.next_insert.iter().flatten().copied())
            .min()
    }

    /// The simulated operator: takes released phones out and seats the next ones. True when a
    /// phone went out or in.
    fn operate(&mut self) -> bool {
        let now = self.clock.now_us();
        let mut changed = false;
        let handling = u64::from(self.opts.handling_ms) * 1000;
        let mut rig = self.rig.borrow_mut();
        for slot in 0..self.next_insert.len() {
            if rig.released(slot) && !rig.is_empty(slot) {
                rig.remove(slot);
                changed = true;
                self.next_insert[slot] = Some(now + handling);
            }
            if let Some(t) = self.next_insert[slot] {
                // The jig must have seen the slot empty (it drops the release line then)
                // before the next phone goes in, or it would never report the removal.
                if t <= now && rig.is_empty(slot) && !rig.released(slot) {
                    self.next_insert[slot] = None;
                    if let Some(p) = self.opts.feeder.next_phone() {
                        tracing::debug!(serial = %self.opts.serial, slot, phone = %p.id, "operator seats a phone");
                        rig.insert(slot, p);
                        changed = true;
                    }
                }
            }
        }
        changed
    }

    /// Waits up to `timeout` for bytes from the host and passes them on; true when some came.
    /// A silent line (a stall, an unplugged cable) only lets the time pass.
    fn wait_line(&mut self, timeout: Duration) -> bool {
        let pty = match self.pty.as_mut() {
            Some(pty) if self.stalled_until.is_none() => pty,
            _ => {
                if !timeout.is_zero() {
                    std::thread::sleep(timeout);
                }
                return false;
            }
        };
        let ready = {
            let mut fds = [PollFd::new(pty.master.as_fd(), PollFlags::POLLIN)];
            let ms = PollTimeout::from(timeout.as_millis().min(1000) as u16);
            poll(&mut fds, ms).is_ok_and(|n| n > 0)
                && fds[0]
                    .revents()
                    .is_some_and(|r| r.contains(PollFlags::POLLIN))
        };
        if !ready {
            return false;
        }
        let mut buf = [0u8; 1024];
        let n = match pty.master.read(&mut buf) {
            Ok(n) if n > 0 => n,
            _ => return false,
        };
        let bytes = match self.noise.as_mut() {
            None => buf[..n].to_vec(),
            Some((to_jig, _)) => {
                let mut passed = to_jig.pass(&buf[..n], true);
                if let Some((at, d)) = passed.stall {
                    self.held_in.extend(passed.bytes.drain(at..));
                    self.stall(d);
                }
                passed.bytes
            }
        };
        self.send_to_jig(&bytes);
        true
    }

    /// Hands bytes from the line to the jig, frame by frame (the fault matcher sees each).
    fn send_to_jig(&mut self, bytes: &[u8]) {
        let plug = self.plugs;
        for &b in bytes {
            if self.plugs != plug {
                // An unplug fault pulled the cable: the rest of the bytes went with it.
                return;
            }
            let frame = match self.inbound.push(b) {
                None => continue,
                Some(Ok(frame)) => {
                    let mut f = Vec::with_capacity(frame.len() + 1);
                    f.extend_from_slice(frame);
                    f.push(0);
                    f
                }
                // The bytes of an overlong frame are gone from here: give the jig one as long,
                // so that it drops it as it would have.
                Some(Err(FrameError::TooLong)) => {
                    let mut f = vec![0xFF; MAX_ENCODED_FRAME];
                    f.push(0);
                    self.jig.link_mut().feed(&f);
                    continue;
                }
                Some(Err(_)) => continue,
            };
            self.on_frame(frame);
        }
    }

    /// The line falls silent for `d`.
    fn stall(&mut self, d: Duration) {
        tracing::debug!(serial = %self.opts.serial, "line noise: the line stalls for {d:?}");
        self.stalled_until = Some(Instant::now() + d);
    }

    /// Once a stall is over, lets the bytes it held through.
    fn end_stall(&mut self) {
        if self.stalled_until.is_some_and(|t| Instant::now() < t) {
            return;
        }
        self.stalled_until = None;
        // These bytes went through the noise already.
        let inbound = std::mem::take(&mut self.held_in);
        let outbound = std::mem::take(&mut self.held_out);
        if !inbound.is_empty() {
            self.send_to_jig(&inbound);
        }
        if !outbound.is_empty() {
            self.write_pty(&outbound);
        }
    }

    fn on_frame(&mut self, frame: Vec<u8>) {
        if self.fired.iter().all(|&f| f) {
            // No fault left to inject: pass the frame on undecoded.
            self.jig.link_mut().feed(&frame);
            return;
        }
        let fault = match decode_frame::<Request>(&frame) {
            Ok(Packet { seq, msg }) => self.match_fault(msg.procedure()).map(|k| (seq, k)),
            Err(_) => None,
        };
        match fault {
            None => self.jig.link_mut().feed(&frame),
            Some((seq, kind @ (FaultKind::Drop | FaultKind::Corrupt | FaultKind::Truncate))) => {
                self.mangle.insert(seq, kind);
                self.jig.link_mut().feed(&frame);
            }
            Some((_, FaultKind::Garbage)) => {
                let junk: Vec<u8> = (0..48).map(|_| self.rng.gen()).collect();
                self.write_line(&junk);
                self.jig.link_mut().feed(&frame);
            }
            Some((_, FaultKind::Hang(d))) => {
                self.jig.link_mut().feed(&frame);
                self.hang_until = Some(Instant::now() + d);
            }
            Some((_, FaultKind::Reset)) => self.reboot(),
            Some((_, FaultKind::Unplug(d))) => self.unplug(d),
        }
    }

    fn match_fault(&mut self, procedure: &'static str) -> Option<FaultKind> {
        let count = self.counts.entry(procedure).or_insert(0);
        *count += 1;
        let count = *count;
        let i = self
            .opts
            .faults
            .iter()
            .enumerate()
            .position(|(i, f)| !self.fired[i] && f.procedure == procedure && f.nth == count)?;
        self.fired[i] = true;
        tracing::info!(serial = %self.opts.serial, procedure, "injecting fault {:?}", self.opts.faults[i].kind);
        Some(self.opts.faults[i].kind.clone())
    }

    /// Power cycle: outputs off, a new boot id, everything in flight lost. Phones stay seated.
    fn reboot(&mut self) {
        {
            let mut rig = self.rig.borrow_mut();
            for s in rig.slots.iter_mut() {
                s.wiring = Default::default();
                s.devices = Default::default();
            }
        }
        self.mangle.clear();
        self.jig = build_jig(
            &self.rig,
            &self.opts.serial,
            rand::random(),
            self.opts.protocol_version,
        );
    }

    fn unplug(&mut self, away: Duration) {
        self.pty = None;
        self.plugs += 1;
        if let Some(link) = &self.opts.link {
            let _ = std::fs::remove_file(link);
        }
        // Away for `away`, but a stop ends it at once.
        let back = Instant::now() + away;
        while Instant::now() < back {
            if self.stop.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(
                back.saturating_duration_since(Instant::now())
                    .min(Duration::from_millis(20)),
            );
        }
        match Pty::open() {
            Ok(pty) => {
                if let Some(link) = &self.opts.link {
                    if let Err(e) = relink(link, &pty.path) {
                        tracing::error!("{e}");
                    }
                }
                self.pty = Some(pty);
            }
            Err(e) => tracing::error!("cannot replug the simulated jig: {e}"),
        }
        // What was on the cable went with it.
        self.inbound.clear();
        self.stalled_until = None;
        self.held_in.clear();
        self.held_out.clear();
        self.reboot();
    }

    fn write_line(&mut self, out: &[u8]) {
        if out.is_empty() {
            return;
        }
        let mut bytes = Vec::with_capacity(out.len());
        for frame in out.split_inclusive(|&b| b == 0) {
            if self.mangle.is_empty() {
                bytes.extend_from_slice(frame);
                continue;
            }
            let kind = match decode_frame::<JigMsg>(frame) {
                Ok(Packet {
                    seq,
                    msg: JigMsg::Reply(_),
                }) => self.mangle.remove(&seq),
                _ => None,
            };
            match kind {
                Some(k) => bytes.extend(mangle(&k, frame)),
                None => bytes.extend_from_slice(frame),
            }
        }
        self.send_to_host(bytes);
    }

    /// Sends bytes down the line to the host, through the noise; a stall holds them.
    fn send_to_host(&mut self, bytes: Vec<u8>) {
        let stalled = self.stalled_until.is_some();
        let (mut bytes, stall) = match self.noise.as_mut() {
            None => (bytes, None),
            Some((_, to_host)) => {
                let passed = to_host.pass(&bytes, !stalled);
                (passed.bytes, passed.stall)
            }
        };
        if stalled {
            self.held_out.append(&mut bytes);
            return;
        }
        if let Some((at, d)) = stall {
            self.held_out.extend(bytes.drain(at..));
            self.stall(d);
        }
        self.write_pty(&bytes);
    }

    fn write_pty(&mut self, bytes: &[u8]) {
        if let Some(pty) = self.pty.as_mut() {
            // With nobody on the host side the PTY buffers or drops output, as a UART would.
            let _ = pty.master.write_all(bytes);
        }
    }

    fn babble(&mut self) {
        std::thread::sleep(Duration::from_millis(20));
        let mut junk = [0u8; 32];
        self.rng.fill(&mut junk[..]);
        if let Some(pty) = self.pty.as_mut() {
            let _ = pty.master.write_all(&junk);
            let mut sink = [0u8; 256];
            let mut fds = [PollFd::new(pty.master.as_fd(), PollFlags::POLLIN)];
            if poll(&mut fds, PollTimeout::ZERO).is_ok_and(|n| n > 0) {
                let _ = pty.master.read(&mut sink);
            }
        }
    }
}

#[cfg(test)]
mod tests;
