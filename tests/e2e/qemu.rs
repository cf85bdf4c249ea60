//! The jig firmware on a CPU: the QEMU board image (`firmware/boards/mps2-an386`, the real jig
//! application with the simulated device models compiled in) runs in `qemu-system-arm`;
//! `benchctl run --port` talks to its UART0 through a pseudo-terminal with tokio-serial, and the
//! test plays the person at the bench through the board's control channel (UART1): it seats a
//! phone in every slot, and when the board says the jig released a slot, takes the phone out
//! and seats the next. Every phone must be graded exactly as the host simulator grades it.
//! Meanwhile the test pings the jig through the link while a DCIR runs, and the board's report
//! must show every ping answered within 10 ms of jig time.
//!
//! Jig time is QEMU's instruction count (`-icount shift=3`: 8 ns an instruction, a 125 MHz
//! core), so the 10 ms promise is checked against the firmware's own work and the simulated
//! bus's 100 kHz transfers, never against how busy the host is; the run's deadlines are scaled
//! (`--time-scale`) because such jig time runs slower than real time.
//!
//! No byte is lost at boot: QEMU's own `pty` backend discards what the guest writes until it
//! notices, on a one-second timer, that someone opened the terminal. So the test makes the
//! pseudo-terminals itself and hands QEMU their device paths (`-chardev serial`, a plain tty
//! that buffers): the control channel is read by the test directly, and the link goes through
//! a small relay (the test's "tap") to the pseudo-terminal `benchctl` opens. Both ends are open
//! before QEMU starts, so the jig's `Booted` and the board's `Ready` are there to be read.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use benchctl::sim::Pty;
use benchline_protocol::{
    decode_frame, encode_frame, Event, FrameAccumulator, JigMsg, Packet, Request, MAX_ENCODED_FRAME,
};
use benchline_sim::control::{self, ControlReader, Notice};
use benchline_sim::Phone;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use serde_json::Value;

use crate::harness::*;

/// The board image, relative to the workspace root; built by `BUILD` (scripts/test-all.sh
/// builds it before the tests).
const IMAGE: &str =
    "firmware/boards/mps2-an386/target/thumbv7em-none-eabihf/release/benchline-board-mps2-an386";
const BUILD: &str = "(cd firmware/boards/mps2-an386 && cargo build --release --locked)";

/// Phones of the library with different outcomes, none on a limit: resale (USB-C and
/// Lightning), repair, parts and recycle.
const PHONES: [&str; 6] = [
    "356938035643809", // PX7 resale, Premium
    "353007110215520", // IP12 (Lightning) repair
    "352094113270349", // GS21 parts
    "354211170117480", // ZF9 recycle
    "869012046446667", // OP9 resale, Good
    "861234564401159", // MG5 repair
];

/// Slots the test uses on the board's jig.
const SLOTS_USED: u8 = 4;

/// Upper bound for the whole run: six phones through the standard plan on four slots take
/// about 25 s of jig time (an 11 s DCIR each), which QEMU runs in about 45 s.
const RUN_LIMIT: Duration = Duration::from_secs(300);

/// How long the board gets to answer a control command.
const NOTICE_LIMIT: Duration = Duration::from_secs(20);

/// The test's pings go out this often while a DCIR runs.
const PING_EVERY: Duration = Duration::from_millis(200);

/// Sequence numbers of the test's own pings: far above what `benchctl` reaches in a run, so
/// their replies are told apart and never reach it.
const PING_SEQ_BASE: u16 = 0xff00;

/// The jig's promise: a ping is answered within this much jig time, busy or not.
const PING_PROMISE_US: u32 = 10_000;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A `qemu-system-arm` running the board image; killed when dropped.
struct Qemu {
    child: Child,
    log: PathBuf,
}

impl Qemu {
    /// Starts the image with UART0 on the tty `link` and UART1 on the tty `control`.
    fn start(image: &Path, link: &Path, control: &Path, log: PathBuf) -> Qemu {
        let stderr = File::create(&log).unwrap();
        let child = Command::new("qemu-system-arm")
            .args(["-machine", "mps2-an386", "-nodefaults", "-display", "none"])
            .args(["-monitor", "none", "-nic", "none"])
            // Jig time from the instructions executed (8 ns each: a 125 MHz core), not from the
            // host's clock: a host that preempts QEMU does not make the jig look slow.
            .args(["-icount", "shift=3"])
            // The boot's seed word: under -icount the board's timing jitter is worth nothing.
            .arg("-device")
            .arg(format!(
                "loader,addr=0x21000000,data={:#x},data-len=8",
                rand::random::<u64>()
            ))
            .arg("-chardev")
            .arg(format!("serial,id=link,path={}", link.display()))
            .arg("-chardev")
            .arg(format!("serial,id=control,path={}", control.display()))
            .args(["-serial", "chardev:link", "-serial", "chardev:control"])
            .arg("-kernel")
            .arg(image)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start qemu-system-arm ({e}): install Debian's qemu-system-arm \
                     package (scripts/test-all.sh does)"
                )
            });
        Qemu { child, log }
    }

    /// What QEMU said on standard error, for a failure message.
    fn said(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the tap saw on the link.
#[derive(Default)]
struct TapStats {
    /// Sequence numbers of the DCIR requests not answered yet.
    dcir_running: HashSet<u16>,
    /// DCIR requests seen.
    dcirs: u32,
    /// Pings the test sent while a DCIR ran.
    pings_sent: u32,
    /// Their pongs (taken off the line before `benchctl`).
    pongs: u32,
    /// The first frame the jig sent after QEMU started (nothing may be lost at boot).
    first: Option<Packet<JigMsg>>,
}

/// The relay between the jig's UART0 (QEMU's side) and the pseudo-terminal `benchctl` opens:
/// it passes every byte both ways, watches the frames for DCIRs, and while one runs slips its
/// own pings in between `benchctl`'s frames and takes their answers out.
struct Tap {
    /// The device `benchctl` opens.
    host_path: PathBuf,
    stop: Arc<AtomicBool>,
    stats: Arc<Mutex<TapStats>>,
    threads: Vec<JoinHandle<()>>,
}

impl Tap {
    /// `jig` is the pseudo-terminal whose device QEMU opens.
    fn start(jig: &Pty) -> Tap {
        let host = Pty::open().unwrap();
        let host_path = host.path.clone();
        let file = |m: &nix::pty::PtyMaster| File::from(m.as_fd().try_clone_to_owned().unwrap());
        let (jig_r, jig_w) = (file(&jig.master), file(&jig.master));
        let (host_r, host_w) = (file(&host.master), file(&host.master));
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(Mutex::new(TapStats::default()));
        let up = {
            let (stop, stats) = (stop.clone(), stats.clone());
            std::thread::spawn(move || up(jig_r, host_w, &stop, &stats))
        };
        let down = {
            let (stop, stats) = (stop.clone(), stats.clone());
            std::thread::spawn(move || {
                // Holds the host's pseudo-terminal (and its slave side) open while it runs.
                let _host = host;
                down(host_r, jig_w, &stop, &stats)
            })
        };
        Tap {
            host_path,
            stop,
            stats,
            threads: vec![up, down],
        }
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Waits up to 20 ms for `file` to be readable; reads what is there (0: nothing yet).
fn read_some(file: &mut File, buf: &mut [u8]) -> usize {
    let mut fds = [PollFd::new(file.as_fd(), PollFlags::POLLIN)];
    match poll(&mut fds, PollTimeout::from(20u8)) {
        Ok(n) if n > 0 => file.read(buf).unwrap_or(0),
        _ => 0,
    }
}

/// Jig to host: whole frames, but the replies to the test's pings.
fn up(mut jig: File, mut host: File, stop: &AtomicBool, stats: &Mutex<TapStats>) {
    let mut acc = FrameAccumulator::new();
    let mut frame = Vec::new();
    let mut buf = [0u8; 512];
    while !stop.load(Ordering::Relaxed) {
        let n = read_some(&mut jig, &mut buf);
        for &b in &buf[..n] {
            frame.push(b);
            let keep = match acc.push(b) {
                None if b != 0 => continue,
                Some(Ok(bytes)) => match decode_frame::<JigMsg>(bytes) {
                    Ok(packet) if stats.lock().unwrap().first.is_none() => {
                        stats.lock().unwrap().first = Some(packet);
                        true
                    }
                    Ok(Packet {
                        seq,
                        msg: JigMsg::Reply(_),
                    }) => {
                        let mut s = stats.lock().unwrap();
                        s.dcir_running.remove(&seq);
                        if seq >= PING_SEQ_BASE {
                            s.pongs += 1;
                        }
                        seq < PING_SEQ_BASE
                    }
                    _ => true,
                },
                _ => true,
            };
            if keep {
                host.write_all(&frame).unwrap();
            }
            frame.clear();
        }
    }
}

/// Host to jig: every byte as it comes, and a ping between two frames while a DCIR runs.
fn down(mut host: File, mut jig: File, stop: &AtomicBool, stats: &Mutex<TapStats>) {
    let mut acc = FrameAccumulator::new();
    let mut buf = [0u8; 512];
    let mut between_frames = true;
    let mut next_ping = Instant::now();
    let mut nonce = 0u32;
    while !stop.load(Ordering::Relaxed) {
        let n = read_some(&mut host, &mut buf);
        for &b in &buf[..n] {
            if let Some(Ok(bytes)) = acc.push(b) {
                if let Ok(Packet {
                    seq,
                    msg: Request::BatteryDcir { .. },
                }) = decode_frame::<Request>(bytes)
                {
                    let mut s = stats.lock().unwrap();
                    s.dcir_running.insert(seq);
                    s.dcirs += 1;
                }
            }
        }
        // Counted before the jig can answer.
        jig.write_all(&buf[..n]).unwrap();
        if n > 0 {
            between_frames = buf[n - 1] == 0;
        }
        let running = !stats.lock().unwrap().dcir_running.is_empty();
        if running && between_frames && Instant::now() >= next_ping {
            let packet = Packet {
                seq: PING_SEQ_BASE + (nonce % 256) as u16,
                msg: Request::Ping { nonce },
            };
            let mut out = [0u8; MAX_ENCODED_FRAME];
            let len = encode_frame(&packet, &mut out).unwrap();
            jig.write_all(&out[..len]).unwrap();
            stats.lock().unwrap().pings_sent += 1;
            nonce += 1;
            next_ping = Instant::now() + PING_EVERY;
        }
    }
}

/// The test's end of the board's control channel.
struct ControlChannel {
    file: File,
    reader: ControlReader,
    pending: VecDeque<Notice>,
    /// Bytes that did not decode (e.g. a panic report), as text.
    garbled: String,
}

impl ControlChannel {
    fn new(pty: &Pty) -> Self {
        ControlChannel {
            file: File::from(pty.master.as_fd().try_clone_to_owned().unwrap()),
            reader: ControlReader::new(),
            pending: VecDeque::new(),
            garbled: String::new(),
        }
    }

    fn send(&mut self, command: &control::Command) {
        let frame = control::encode_vec(command).unwrap();
        self.file.write_all(&frame).unwrap();
    }

    /// The next notice if one arrives within 20 ms.
    fn poll(&mut self) -> Option<Notice> {
        if let Some(n) = self.pending.pop_front() {
            return Some(n);
        }
        let mut buf = [0u8; 256];
        let n = read_some(&mut self.file, &mut buf);
        for &b in &buf[..n] {
            match self.reader.push::<Notice>(b) {
                Some(Ok(notice)) => self.pending.push_back(notice),
                Some(Err(_)) => self.garbled.push_str(" | <bad frame>"),
                None => {}
            }
            if b != 0 && (b.is_ascii_graphic() || b == b' ') {
                self.garbled.push(b as char);
            }
        }
        self.pending.pop_front()
    }

    /// Waits for a notice that `want` accepts; panics with `what` past the deadline.
    fn wait(&mut self, what: &str, qemu: &Qemu, want: impl Fn(&Notice) -> bool) -> Notice {
        let deadline = Instant::now() + NOTICE_LIMIT;
        while Instant::now() < deadline {
            if let Some(n) = self.poll() {
                if want(&n) {
                    return n;
                }
                assert!(!matches!(n, Notice::Refused { .. }), "board refused: {n:?}");
            }
        }
        panic!(
            "no {what} from the board within {NOTICE_LIMIT:?}; control channel text: {}; QEMU: {}",
            self.garbled,
            qemu.said()
        );
    }
}

/// The library blocks (`[[phone]]` tables) of `imeis`, as one TOML file.
fn library_of(imeis: &[&str]) -> String {
    let mut out = String::new();
    for entry in std::fs::read_dir(root().join("fixtures/phones")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for block in text.split("\n[[phone]]\n").skip(1) {
            if imeis
                .iter()
                .any(|i| block.contains(&format!("imei = \"{i}\"")))
            {
                out.push_str("[[phone]]\n");
                out.push_str(block);
                out.push('\n');
            }
        }
    }
    out
}

/// The host simulator's records for the same phones, by IMEI.
fn host_simulator(library: &Path) -> HashMap<String, Value> {
    let mut c = benchctl();
    c.args(["run", "--sim", "1", "--headless", "--time-scale", "0"])
        .arg("--count")
        .arg(PHONES.len().to_string())
        .arg("--phones")
        .arg(library);
    let out = finish(c);
    assert!(out.status.success(), "{}", stderr(&out));
    records(&out)
        .into_iter()
        .map(|r| (r["phone"]["imei"].as_str().unwrap().to_string(), r))
        .collect()
}

#[test]
fn the_board_image_in_qemu_grades_phones_as_the_host_simulator_and_answers_pings_in_time() {
    let root = root();
    let image = root.join(IMAGE);
    assert!(
        image.is_file(),
        "the QEMU board image {} is missing: build it from the workspace root with `{BUILD}` \
         (scripts/test-all.sh does)",
        image.display()
    );
    let dir = fresh_dir();
    let phones_file = dir.join("phones.toml");
    std::fs::write(&phones_file, library_of(&PHONES)).unwrap();
    let lib = library();
    let mut feed: VecDeque<Phone> = PHONES.iter().map(|i| lib[*i].clone()).collect();

    let link = Pty::open().unwrap();
    let control_pty = Pty::open().unwrap();
    let tap = Tap::start(&link);
    let mut control = ControlChannel::new(&control_pty);
    let qemu = Qemu::start(&image, &link.path, &control_pty.path, dir.join("qemu.log"));

    let ready = control.wait("Ready", &qemu, |n| matches!(n, Notice::Ready { .. }));
    let Notice::Ready { slots } = ready else {
        unreachable!()
    };
    assert!(slots >= SLOTS_USED, "the board has {slots} slots");

    let started = Instant::now();
    let mut run = benchctl()
        .args(["run", "--training-store", "--headless", "--auto-answer"])
        // Jig time under -icount runs at a fraction of real time: about half on an idle
        // machine, far less when the test suite's other processes share its two cores. The
        // link's deadlines are scaled and widened to match: waiting longer is safe, since
        // every answer that counts is checked, while a deadline set by real time would take a
        // starved QEMU for a dead jig.
        .args(["--time-scale", "20", "--timeout-margin", "15000"])
        .arg("--port")
        .arg(&tap.host_path)
        .arg("--phones")
        .arg(&phones_file)
        .arg("--count")
        .arg(PHONES.len().to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = run.stdout.take().unwrap();
    let stderr_pipe = run.stderr.take().unwrap();
    let lines = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });
    let said = std::thread::spawn(move || std::io::read_to_string(stderr_pipe).unwrap_or_default());

    // The person at the bench: a phone in every slot, the next one when a slot is released.
    for slot in 0..SLOTS_USED {
        if let Some(phone) = feed.pop_front() {
            control.send(&control::Command::Seat {
                slot,
                phone: Box::new(phone),
            });
        }
    }
    let status = loop {
        if let Some(status) = run.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = run.kill();
            let _ = run.wait();
            panic!(
                "benchctl run on the QEMU board did not finish within {RUN_LIMIT:?}: {}\nQEMU: {}",
                said.join().unwrap(),
                qemu.said()
            );
        }
        match control.poll() {
            Some(Notice::Released { slot }) => {
                control.send(&control::Command::Remove { slot });
                if let Some(phone) = feed.pop_front() {
                    control.send(&control::Command::Seat {
                        slot,
                        phone: Box::new(phone),
                    });
                }
            }
            Some(n @ Notice::Refused { .. }) => panic!("board refused a command: {n:?}"),
            Some(Notice::Ready { .. }) => panic!("the board rebooted: {}", control.garbled),
            _ => {}
        }
    };
    let elapsed = started.elapsed();
    let said = said.join().unwrap();
    assert!(status.success(), "benchctl run failed: {said}");
    let records: Vec<Value> = lines
        .join()
        .unwrap()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), PHONES.len(), "{said}");

    // Graded exactly as the host simulator grades the same phones.
    let host = host_simulator(&phones_file);
    let mut seen = HashSet::new();
    for record in &records {
        let imei = record["phone"]["imei"].as_str().unwrap();
        assert!(seen.insert(imei.to_string()), "{imei} graded twice");
        assert_eq!(record["jig"]["simulated"], true, "{record}");
        assert_eq!(record["jig"]["serial"], "QEMU-AN386-0001", "{record}");
        let on_host = &host[imei];
        assert_eq!(
            record["grade"], on_host["grade"],
            "{imei}: QEMU vs host simulator"
        );
        assert_eq!(
            record["bin"], on_host["bin"],
            "{imei}: QEMU vs host simulator"
        );
        assert_truth(record);
    }
    assert_eq!(seen.len(), PHONES.len());

    // Nothing was lost at boot: the jig's very first frame, event 0, is its Booted, with the
    // boot id every record names.
    let first = tap.stats.lock().unwrap().first.clone();
    let Some(Packet {
        seq: 0,
        msg: JigMsg::Event(Event::Booted { boot_id }),
    }) = first
    else {
        panic!("the jig's first frame on the link was {first:?}, not Booted (event 0)")
    };
    for record in &records {
        assert_eq!(record["jig"]["boot_id"], boot_id, "{record}");
    }

    // Pings during the DCIRs, answered within the promise in jig time.
    control.send(&control::Command::Report);
    let report = control.wait("Report", &qemu, |n| matches!(n, Notice::Report { .. }));
    let Notice::Report {
        ping_worst_us,
        pings,
        bad_frames,
    } = report
    else {
        unreachable!()
    };
    let (dcirs, pings_sent, pongs) = {
        let s = tap.stats.lock().unwrap();
        (s.dcirs, s.pings_sent, s.pongs)
    };
    eprintln!(
        "QEMU board: {} phones in {elapsed:?}; {dcirs} DCIRs, {pings_sent} pings sent during them, \
         {pongs} answered; jig: {pings} pings, worst {ping_worst_us} us, {bad_frames} bad frames",
        records.len()
    );
    assert!(dcirs as usize >= PHONES.len(), "{dcirs} DCIRs seen");
    assert!(pings_sent > 0, "no ping went out during a DCIR");
    assert_eq!(pongs, pings_sent, "every ping answered");
    assert!(pings >= pings_sent, "the jig counted {pings} pings");
    assert!(
        ping_worst_us < PING_PROMISE_US,
        "a ping waited {ping_worst_us} us of jig time"
    );
    assert_eq!(bad_frames, 0, "the link over QEMU's UART is clean");
    drop(qemu);
    drop(tap);
}
