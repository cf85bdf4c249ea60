//! The simulated jig's loop: boot ids, line noise and stalls, through a real PTY.

use std::fs::File;
use std::os::fd::AsFd;

use benchline_protocol::{encode_frame, FrameError, JigMsg, Packet, Reply, Request};

use super::*;

/// Nothing in these tests may take longer.
const LIMIT: Duration = Duration::from_secs(10);

/// The host end of a simulated jig's PTY, speaking raw frames.
struct Host {
    port: File,
    rx: FrameAccumulator,
    pending: std::collections::VecDeque<Result<Packet<JigMsg>, FrameError>>,
}

impl Host {
    fn open(path: &Path) -> std::io::Result<Host> {
        let port = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)?;
        Ok(Host {
            port,
            rx: FrameAccumulator::new(),
            pending: Default::default(),
        })
    }

    fn send(&mut self, requests: &[(u16, Request)]) -> Result<(), String> {
        let mut bytes = Vec::new();
        for (seq, msg) in requests {
            let mut buf = [0u8; MAX_ENCODED_FRAME];
            let packet = Packet {
                seq: *seq,
                msg: msg.clone(),
            };
            let n = encode_frame(&packet, &mut buf).map_err(|e| e.to_string())?;
            bytes.extend_from_slice(&buf[..n]);
        }
        self.port.write_all(&bytes).map_err(|e| e.to_string())
    }

    /// The next frame (decoded or not), or `None` once `deadline` has passed.
    fn next(&mut self, deadline: Instant) -> Option<Result<Packet<JigMsg>, FrameError>> {
        loop {
            if let Some(f) = self.pending.pop_front() {
                return Some(f);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            let mut fds = [PollFd::new(self.port.as_fd(), PollFlags::POLLIN)];
            let ms = PollTimeout::from(left.as_millis().clamp(1, 1000) as u16);
            if !poll(&mut fds, ms).is_ok_and(|n| n > 0) {
                continue;
            }
            let mut buf = [0u8; 1024];
            let n = self.port.read(&mut buf).ok()?;
            for &b in &buf[..n] {
                if let Some(f) = self.rx.feed::<JigMsg>(b) {
                    self.pending.push_back(f);
                }
            }
        }
    }

    /// Asks for the handshake and returns it.
    fn hello(&mut self) -> Result<benchline_protocol::Hello, String> {
        self.send(&[(1, Request::Hello)])?;
        let deadline = Instant::now() + LIMIT;
        while let Some(f) = self.next(deadline) {
            if let Ok(Packet {
                seq: 1,
                msg: JigMsg::Reply(Reply::Hello(h)),
            }) = f
            {
                return Ok(h);
            }
        }
        Err("no Hello within the limit".into())
    }
}

fn options(seed: u64, noise: Option<Noise>) -> Result<SimJigOptions, String> {
    let library = crate::sim::builtin_phones().map_err(|e| e.to_string())?;
    Ok(SimJigOptions {
        serial: "SIM-TEST".into(),
        slots: 1,
        seed,
        time_scale: 0.0,
        protocol_version: benchline_protocol::PROTOCOL_VERSION,
        faults: Vec::new(),
        link: None,
        // No phones: only the line is under test.
        feeder: Feeder::new(library.phones, seed, Some(0)),
        handling_ms: 0,
        babble: false,
        noise,
    })
}

#[test]
fn boot_ids_differ_whatever_the_seed() -> Result<(), String> {
    let mut ids = Vec::new();
    for _ in 0..2 {
        let jig = spawn(options(1, None)?).map_err(|e| e.to_string())?;
        let hello = Host::open(&jig.path).map_err(|e| e.to_string())?.hello()?;
        ids.push(hello.boot_id);
        jig.stop();
    }
    assert_ne!(
        ids[0], ids[1],
        "two jigs with seed 1 booted with the same id"
    );
    Ok(())
}

/// Sends 40 pings at once and reads for at most `wait` (less once every pong is in);
/// (pongs with the nonce that was sent, frames that did not decode).
fn pings(noise: Option<Noise>, wait: Duration) -> Result<(usize, usize), String> {
    let jig = spawn(options(1, noise)?).map_err(|e| e.to_string())?;
    let mut host = Host::open(&jig.path).map_err(|e| e.to_string())?;
    let requests: Vec<(u16, Request)> = (1..=40u16)
        .map(|seq| {
            (
                seq,
                Request::Ping {
                    nonce: u32::from(seq) * 7,
                },
            )
        })
        .collect();
    host.send(&requests)?;
    let (mut pongs, mut bad) = (0, 0);
    let deadline = Instant::now() + wait;
    while let Some(f) = host.next(deadline) {
        match f {
            Ok(Packet {
                seq,
                msg: JigMsg::Reply(Reply::Pong { nonce }),
            }) => {
                assert_eq!(nonce, u32::from(seq) * 7, "a damaged pong decoded");
                pongs += 1;
            }
            Ok(_) => {}
            Err(_) => bad += 1,
        }
        if pongs == requests.len() {
            break;
        }
    }
    jig.stop();
    Ok((pongs, bad))
}

#[test]
fn noise_damages_frames_both_ways_and_rate_zero_does_not() -> Result<(), String> {
    assert_eq!(pings(Some(Noise::new(0.0, 1)), LIMIT)?, (40, 0));
    // Whatever gets through a noisy line arrives well within 2 s at time scale 0.
    let (pongs, bad) = pings(Some(Noise::new(0.03, 1)), Duration::from_secs(2))?;
    // About 20 bytes a ping there and back: at 3 % most exchanges lose a byte somewhere,
    // some get through intact.
    assert!(pongs > 0 && pongs < 40, "{pongs} of 40 pongs came back");
    assert!(bad > 0, "no damaged frame reached the host");
    Ok(())
}

#[test]
fn a_stalled_line_holds_bytes_and_loses_none() -> Result<(), String> {
    let mut noise = Noise::new(0.0, 1);
    // Every piece of traffic stalls the line once.
    noise.stall_rate = 1.0;
    let jig = spawn(options(1, Some(noise))?).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let hello = Host::open(&jig.path).map_err(|e| e.to_string())?.hello()?;
    // The request stalls on its way in, the reply on its way out.
    assert!(
        started.elapsed() >= 2 * STALL_MIN,
        "{:?}",
        started.elapsed()
    );
    assert_eq!(hello.jig_serial.as_str(), "SIM-TEST");
    jig.stop();
    Ok(())
}
