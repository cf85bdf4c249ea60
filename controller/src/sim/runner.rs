//! The loop of one simulated jig: PTY in, jig application, PTY out, with the simulated operator
//! and the fault injector in between.

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
use benchline_protocol::{decode_frame, JigMsg, Packet, Request};
use benchline_sim::{build_jig, Rig, SimClock, SimJig};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::fault::{mangle, Fault, FaultKind};
use super::{Feeder, Pty, SimError};

/// How one simulated jig behaves.
#[derive(Clone)]
pub struct SimJigOptions {
    /// Jig serial number.
    pub serial: String,
    /// Slots (1-4).
    pub slots: usize,
    /// Seed for boot ids and measurement noise.
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
    inbound: Vec<u8>,
    counts: HashMap<&'static str, u32>,
    fired: Vec<bool>,
    mangle: HashMap<u16, FaultKind>,
    hang_until: Option<Instant>,
    next_insert: Vec<Option<u64>>,
}

impl Runner {
    fn new(opts: SimJigOptions, pty: Pty, stop: Arc<AtomicBool>) -> Self {
        let clock = SimClock::new(opts.time_scale);
        let slots = opts.slots.clamp(1, benchline_jig::MAX_SLOTS);
        let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
        let rig = Rig::new(slots, clock.clone(), rng.gen());
        let jig = build_jig(&rig, &opts.serial, rng.gen(), opts.protocol_version);
        let fired = vec![false; opts.faults.len()];
        Runner {
            stop,
            pty: Some(pty),
            clock,
            rig,
            jig,
            rng,
            inbound: Vec::new(),
            counts: HashMap::new(),
            fired,
            mangle: HashMap::new(),
            hang_until: None,
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
            self.operate();
            let hanging = self.hang_until.is_some_and(|t| Instant::now() < t);
            if !hanging {
                self.hang_until = None;
            }
            let deadline = self.deadline();
            let timeout = if hanging {
                Duration::from_millis(20)
            } else if self.clock.is_virtual() {
                if deadline.is_some() {
                    Duration::ZERO
                } else {
                    Duration::from_millis(20)
                }
            } else {
                deadline
                    .map_or(Duration::from_millis(20), |t| self.clock.real_until(t))
                    .min(Duration::from_millis(20))
            };
            let got = if hanging {
                false
            } else {
                self.read_line(timeout)
            };
            if hanging {
                std::thread::sleep(timeout);
                continue;
            }
            if self.clock.is_virtual() && !got {
                if let Some(t) = deadline {
                    self.clock.advance_to(t);
                }
            }
            if self.jig.poll().is_err() {
                continue;
            }
            let out = self.jig.link_mut().take_output();
            self.write_line(&out);
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

    /// The simulated operator: takes released phones out and seats the next ones.
    fn operate(&mut self) {
        let now = self.clock.now_us();
        let handling = u64::from(self.opts.handling_ms) * 1000;
        let mut rig = self.rig.borrow_mut();
        for slot in 0..self.next_insert.len() {
            if rig.released(slot) && !rig.is_empty(slot) {
                rig.remove(slot);
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
                    }
                }
            }
        }
    }

    /// Waits up to `timeout` for bytes from the host; hands complete frames to the jig.
    fn read_line(&mut self, timeout: Duration) -> bool {
        let Some(pty) = self.pty.as_mut() else {
            return false;
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
        for &b in &buf[..n] {
            self.inbound.push(b);
            if b == 0 {
                let frame = std::mem::take(&mut self.inbound);
                self.on_frame(frame);
            }
        }
        true
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
            self.rng.gen(),
            self.opts.protocol_version,
        );
    }

    fn unplug(&mut self, away: Duration) {
        self.pty = None;
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
        self.inbound.clear();
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
        if let Some(pty) = self.pty.as_mut() {
            // With nobody on the host side the PTY buffers or drops output, as a UART would.
            let _ = pty.master.write_all(&bytes);
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
