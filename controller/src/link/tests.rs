//! The link's recovery logic in memory: the real jig application on simulated hardware at the
//! far end of an in-memory byte stream, with chosen frames lost on the way.
#![allow(clippy::panic, clippy::unwrap_used)]

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use benchline_protocol::{decode_frame, JigMsg, Packet, Reply, Request};
use benchline_sim::{build_jig, Rig, SimClock};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use super::{Link, LinkConfig, LinkError, Port, Service};

/// Which frames the line loses.
#[derive(Default)]
struct Line {
    /// Requests (by procedure) whose next frame is lost on the way to the jig, with how many.
    lose_requests: Vec<(&'static str, u32)>,
    /// Replies whose request had this procedure: the next ones are lost on the way back.
    lose_replies: Vec<(&'static str, u32)>,
    /// Lose every n-th frame in both directions (0: none).
    lose_every: u32,
    /// Requests the jig received, by procedure.
    received: Vec<&'static str>,
    /// Sequence number of each request the jig received, and its procedure.
    seqs: Vec<(u16, &'static str)>,
    counter: u32,
    /// Protocol version the jig announces; `None`: this build's.
    protocol_version: Option<u16>,
}

impl Line {
    fn lose_every_nth(&mut self) -> bool {
        if self.lose_every == 0 {
            return false;
        }
        self.counter += 1;
        self.counter.is_multiple_of(self.lose_every)
    }

    fn take(list: &mut [(&'static str, u32)], procedure: &str) -> bool {
        match list.iter_mut().find(|(p, n)| *p == procedure && *n > 0) {
            Some((_, n)) => {
                *n -= 1;
                true
            }
            None => false,
        }
    }
}

struct MemPort {
    stream: Option<DuplexStream>,
}

impl Port for MemPort {
    type Stream = DuplexStream;

    fn name(&self) -> &str {
        "mem"
    }

    fn open(&mut self) -> Result<DuplexStream, LinkError> {
        self.stream.take().ok_or(LinkError::Open {
            port: "mem".into(),
            detail: "unplugged".into(),
        })
    }
}

/// Runs the jig at the far end of `far` (a task on the current thread: the jig is not `Send`).
async fn serve_jig(mut far: DuplexStream, line: Arc<Mutex<Line>>) {
    let clock = SimClock::new(0.0);
    let rig = Rig::new(1, clock.clone(), 7);
    let phones = match crate::sim::builtin_phones() {
        Ok(l) => l.phones,
        Err(_) => return,
    };
    rig.borrow_mut().insert(0, phones[0].clone());
    let rig: Rc<RefCell<Rig>> = rig;
    let version = line
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .protocol_version
        .unwrap_or(benchline_protocol::PROTOCOL_VERSION);
    let mut jig = build_jig(&rig, "MEM-1", 1, version);
    let mut acc = benchline_protocol::FrameAccumulator::new();
    let mut buf = [0u8; 512];
    loop {
        let n = match tokio::time::timeout(Duration::from_millis(1), far.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(n)) => n,
            Err(_) => 0,
        };
        for &b in &buf[..n] {
            let Some(Ok(frame)) = acc.push(b) else {
                continue;
            };
            let mut framed = frame.to_vec();
            framed.push(0);
            let keep = match decode_frame::<Request>(frame) {
                Ok(Packet { seq, msg }) => {
                    let mut l = line.lock().unwrap_or_else(|p| p.into_inner());
                    let lost =
                        Line::take(&mut l.lose_requests, msg.procedure()) || l.lose_every_nth();
                    if !lost {
                        l.received.push(msg.procedure());
                        l.seqs.push((seq, msg.procedure()));
                    }
                    !lost
                }
                Err(_) => true,
            };
            if keep {
                jig.link_mut().feed(&framed);
            }
        }
        if n == 0 {
            if let Some(t) = jig.next_deadline() {
                clock.advance_to(t);
            }
        }
        if jig.poll().is_err() {
            return;
        }
        let out = jig.link_mut().take_output();
        let mut pass = Vec::new();
        for frame in out.split_inclusive(|&b| b == 0) {
            let lost = match decode_frame::<JigMsg>(frame) {
                Ok(Packet {
                    seq,
                    msg: JigMsg::Reply(_),
                }) => {
                    let mut l = line.lock().unwrap_or_else(|p| p.into_inner());
                    let procedure = l
                        .seqs
                        .iter()
                        .rev()
                        .find(|(s, _)| *s == seq)
                        .map(|(_, p)| *p);
                    procedure.is_some_and(|p| Line::take(&mut l.lose_replies, p))
                        || l.lose_every_nth()
                }
                _ => false,
            };
            if !lost {
                pass.extend_from_slice(frame);
            }
        }
        if far.write_all(&pass).await.is_err() {
            return;
        }
    }
}

/// Opens a link to a jig at the far end of an in-memory line; runs `body` with it, or with the
/// error that kept it from opening.
fn open_jig<F, Fut>(line: Line, body: F)
where
    F: FnOnce(Result<Link, LinkError>, Arc<Mutex<Line>>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let (near, far) = tokio::io::duplex(4096);
        let line = Arc::new(Mutex::new(line));
        tokio::task::spawn_local(serve_jig(far, line.clone()));
        let config = LinkConfig {
            time_scale: 0.0,
            ..LinkConfig::default()
        };
        let link = Link::open_port(MemPort { stream: Some(near) }, config).await;
        body(link, line).await;
    });
}

/// Opens a link to a jig at the far end of an in-memory line; runs `body` with it.
fn with_jig<F, Fut>(line: Line, body: F)
where
    F: FnOnce(Link, Arc<Mutex<Line>>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    open_jig(line, |link, line| async move {
        let link = link.unwrap_or_else(|e| panic!("open: {e}"));
        body(link, line).await;
    });
}

const DCIR: Request = Request::BatteryDcir {
    slot: 0,
    low_ma: 800,
    low_ms: 10_000,
    high_ma: 4_000,
    high_ms: 1_000,
};

fn received(line: &Arc<Mutex<Line>>, procedure: &str) -> usize {
    let l = line.lock().unwrap_or_else(|p| p.into_inner());
    l.received.iter().filter(|p| **p == procedure).count()
}

#[test]
fn a_lost_reply_of_a_load_is_asked_for_again_and_the_load_runs_once() {
    let line = Line {
        lose_replies: vec![("battery.dcir", 1)],
        ..Line::default()
    };
    with_jig(line, |link, line| async move {
        let r = link.request(DCIR, Duration::from_secs(5)).await;
        assert!(matches!(r, Ok(Reply::Dcir(_))), "{r:?}");
        assert_eq!(received(&line, "battery.dcir"), 1, "the load ran once");
        assert!(received(&line, "resend") >= 1);
        assert_eq!(
            link.stats().snapshot().resends,
            received(&line, "resend") as u64
        );
    });
}

#[test]
fn a_lost_request_of_a_load_is_sent_again_once_the_jig_says_it_never_got_it() {
    let line = Line {
        lose_requests: vec![("battery.dcir", 1)],
        ..Line::default()
    };
    with_jig(line, |link, line| async move {
        let r = link.request(DCIR, Duration::from_secs(5)).await;
        assert!(matches!(r, Ok(Reply::Dcir(_))), "{r:?}");
        assert_eq!(received(&line, "battery.dcir"), 1);
        assert_eq!(link.stats().snapshot().retries, 1);
    });
}

#[test]
fn a_lost_release_is_recovered_without_releasing_twice() {
    for lose in [
        Line {
            lose_replies: vec![("release", 1)],
            ..Line::default()
        },
        Line {
            lose_requests: vec![("release", 1)],
            ..Line::default()
        },
    ] {
        with_jig(lose, |link, line| async move {
            let r = link
                .request(Request::Release { slot: 0 }, Duration::from_secs(2))
                .await;
            assert!(matches!(r, Ok(Reply::Done)), "{r:?}");
            assert_eq!(received(&line, "release"), 1, "released exactly once");
        });
    }
}

#[test]
fn a_lost_ping_is_simply_sent_again() {
    let line = Line {
        lose_replies: vec![("ping", 1)],
        ..Line::default()
    };
    with_jig(line, |link, line| async move {
        let r = link
            .request(Request::Ping { nonce: 9 }, Duration::from_secs(2))
            .await;
        assert!(matches!(r, Ok(Reply::Pong { nonce: 9 })), "{r:?}");
        assert_eq!(received(&line, "ping"), 2);
        assert_eq!(received(&line, "resend"), 0);
    });
}

#[test]
fn a_link_that_loses_too_much_goes_out_of_service_and_comes_back_when_clean() {
    with_jig(Line::default(), |link, line| async move {
        line.lock().unwrap_or_else(|p| p.into_inner()).lose_every = 2;
        let mut nonce = 0;
        while link.service() == Service::In {
            nonce += 1;
            assert!(
                nonce < 500,
                "still in service after {nonce} pings on a line losing half its frames"
            );
            let _ = link
                .request(Request::Ping { nonce }, Duration::from_secs(1))
                .await;
        }
        let refused = link
            .request(Request::Ping { nonce: 0 }, Duration::from_secs(1))
            .await;
        assert!(
            matches!(refused, Err(LinkError::OutOfService { .. })),
            "{refused:?}"
        );
        line.lock().unwrap_or_else(|p| p.into_inner()).lose_every = 0;
        assert!(
            link.wait_in_service(Duration::from_secs(10)).await,
            "probed back into service"
        );
        assert_eq!(link.times_out_of_service(), 1);
        let r = link
            .request(Request::Ping { nonce: 1 }, Duration::from_secs(1))
            .await;
        assert!(matches!(r, Ok(Reply::Pong { nonce: 1 })), "{r:?}");
    });
}

#[test]
fn a_jig_of_the_previous_protocol_is_refused_with_what_to_do() {
    let ours = benchline_protocol::PROTOCOL_VERSION;
    let line = Line {
        protocol_version: Some(ours - 1),
        ..Line::default()
    };
    open_jig(line, |link, _| async move {
        let err = match link {
            Ok(_) => panic!("a protocol {} jig was accepted", ours - 1),
            Err(e) => e,
        };
        assert!(
            matches!(err, LinkError::Incompatible { theirs, ours: o, .. } if theirs == ours - 1 && o == ours),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(
            text.contains(&format!("protocol {}", ours - 1))
                && text.contains(&format!(
                    "update the jig to firmware that speaks protocol {ours}"
                )),
            "{text}"
        );
    });
}

#[test]
fn a_dcir_reports_progress_with_samples_of_its_pulse() {
    with_jig(Line::default(), |link, _| async move {
        let mut events = link.subscribe();
        let r = link.request(DCIR, Duration::from_secs(5)).await;
        let Ok(Reply::Dcir(d)) = r else {
            panic!("{r:?}")
        };
        let mut samples = Vec::new();
        while let Ok(ev) = events.try_recv() {
            if let super::LinkEvent::Jig(benchline_protocol::Event::Progress {
                slot: 0,
                channel: benchline_protocol::Channel::Battery,
                sample,
                ..
            }) = ev
            {
                samples.push(sample.unwrap_or_else(|| panic!("a DCIR progress without sample")));
            }
        }
        assert!(samples.len() >= 8, "{samples:?}");
        assert_eq!(samples[0].t_ms, 0, "the rest level first: {samples:?}");
        assert!(
            samples
                .iter()
                .any(|s| s.voltage_v == d.v1_v && s.current_a == d.i1_a),
            "V1 and I1 among the samples: {samples:?}"
        );
        assert!(
            samples.iter().filter(|s| s.current_a > 3.9).count() >= 2,
            "the high step sampled: {samples:?}"
        );
    });
}

/// A port whose connections are handed out in turn: each reopen (after an unplug) gets the
/// next one, as if another jig, or the same one reflashed, were plugged into the same path.
struct Replugs {
    streams: std::collections::VecDeque<DuplexStream>,
}

impl Port for Replugs {
    type Stream = DuplexStream;

    fn name(&self) -> &str {
        "/dev/ttyACM0"
    }

    fn open(&mut self) -> Result<DuplexStream, LinkError> {
        self.streams.pop_front().ok_or(LinkError::Open {
            port: "/dev/ttyACM0".into(),
            detail: "unplugged".into(),
        })
    }
}

/// A jig that only answers `Hello` (as `serial`, with firmware `version`), then is unplugged
/// when `unplug` fires; counts the requests other than `Hello` it got.
async fn hello_only(
    mut far: DuplexStream,
    serial: &'static str,
    version: &'static str,
    unplug: Option<tokio::sync::oneshot::Receiver<()>>,
    others: Arc<std::sync::atomic::AtomicUsize>,
) {
    let hello = benchline_protocol::Hello {
        protocol_version: benchline_protocol::PROTOCOL_VERSION,
        schema_hash: benchline_protocol::schema_hash(),
        firmware_version: version.try_into().unwrap(),
        jig_kind: benchline_protocol::JigKind::Combo,
        jig_serial: serial.try_into().unwrap(),
        slots: 1,
        instruments: Default::default(),
        boot_id: rand::random(),
        simulated: false,
    };
    let mut unplug = unplug;
    let mut acc = benchline_protocol::FrameAccumulator::new();
    let mut buf = [0u8; 512];
    loop {
        let n = tokio::select! {
            n = far.read(&mut buf) => match n {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
            _ = async { unplug.as_mut().unwrap().await }, if unplug.is_some() => return,
        };
        for &b in &buf[..n] {
            let Some(Ok(frame)) = acc.push(b) else {
                continue;
            };
            let Ok(Packet { seq, msg }) = decode_frame::<Request>(frame) else {
                continue;
            };
            if msg != Request::Hello {
                others.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                continue;
            }
            let mut out = [0u8; benchline_protocol::MAX_ENCODED_FRAME];
            let packet = Packet {
                seq,
                msg: JigMsg::Reply(Reply::Hello(hello.clone())),
            };
            let n = benchline_protocol::encode_frame(&packet, &mut out).unwrap();
            if far.write_all(&out[..n]).await.is_err() {
                return;
            }
        }
    }
}

/// Jig J-1 (firmware 0.1.0) is unplugged and `serial` with firmware `version` answers on the
/// same path, while a slot waits to ping its jig; the link requires firmware `>=0.1, <0.2`.
/// Returns the event that followed the reconnection, how many requests other than `Hello` the
/// second jig got, whether the link is closed and whether it has a jig.
fn replug(
    serial: &'static str,
    version: &'static str,
) -> (Option<super::LinkEvent>, usize, bool, bool) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    rt.block_on(async move {
        let (near1, far1) = tokio::io::duplex(4096);
        let (near2, far2) = tokio::io::duplex(4096);
        let others = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (pull, unplug) = tokio::sync::oneshot::channel();
        tokio::spawn(hello_only(
            far1,
            "J-1",
            "0.1.0",
            Some(unplug),
            Arc::default(),
        ));
        tokio::spawn(hello_only(far2, serial, version, None, others.clone()));
        let config = LinkConfig {
            time_scale: 0.0,
            ..LinkConfig::default()
        };
        let port = Replugs {
            streams: [near1, near2].into(),
        };
        let link = Link::open_port(port, config).await.unwrap();
        let range = semver::VersionReq::parse(">=0.1, <0.2").unwrap();
        link.require(Arc::new(
            move |h: &benchline_protocol::Hello| match semver::Version::parse(&h.firmware_version) {
                Ok(v) if range.matches(&v) => Ok(()),
                _ => Err(format!(
                    "firmware now {} outside {range}",
                    h.firmware_version
                )),
            },
        ));
        let mut events = link.subscribe();
        let _ = pull.send(());
        loop {
            match events.recv().await {
                Ok(super::LinkEvent::Disconnected(_)) => break,
                Ok(_) => {}
                Err(e) => panic!("{e}"),
            }
        }
        // A slot waiting for its jig sends as soon as the link lets it.
        let waiting = {
            let link = link.clone();
            tokio::spawn(async move {
                link.wait_connected(Duration::from_secs(5)).await;
                link.request(Request::Ping { nonce: 1 }, Duration::from_millis(500))
                    .await
            })
        };
        let after = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match events.recv().await {
                    Ok(ev @ (super::LinkEvent::Connected(_) | super::LinkEvent::Ended(_))) => {
                        return Some(ev)
                    }
                    Ok(_) => {}
                    Err(_) => return None,
                }
            }
        })
        .await
        .ok()
        .flatten();
        let _ = waiting.await;
        if matches!(after, Some(super::LinkEvent::Ended(_))) {
            // The link task ends right after it tells why.
            let _ = tokio::time::timeout(Duration::from_secs(5), link.cmd.closed()).await;
        }
        let closed = link.is_closed();
        (
            after,
            others.load(std::sync::atomic::Ordering::SeqCst),
            closed,
            link.hello().is_some(),
        )
    })
}

#[test]
fn the_same_jig_back_on_its_port_is_used_again() {
    let (after, others, closed, connected) = replug("J-1", "0.1.7");
    assert!(
        matches!(&after, Some(super::LinkEvent::Connected(h)) if h.firmware_version.as_str() == "0.1.7"),
        "{after:?}"
    );
    assert!(others >= 1, "the waiting slot's ping reached it");
    assert!(!closed && connected);
}

#[test]
fn another_jig_on_the_same_port_ends_the_link_before_it_gets_a_request() {
    let (after, others, closed, connected) = replug("J-2", "0.1.0");
    let Some(super::LinkEvent::Ended(e @ LinkError::Changed { .. })) = &after else {
        panic!("{after:?}")
    };
    let text = e.to_string();
    assert!(
        text.contains("the jig on /dev/ttyACM0 came back changed and is no longer used: jig J-1 became jig J-2"),
        "{text}"
    );
    assert!(text.contains("put jig J-1 back"), "{text}");
    assert_eq!(others, 0, "nothing but the handshake reached jig J-2");
    assert!(closed && !connected);
}

#[test]
fn a_jig_reflashed_outside_the_required_range_ends_the_link() {
    let (after, others, closed, connected) = replug("J-1", "0.0.9");
    let Some(super::LinkEvent::Ended(e @ LinkError::Changed { .. })) = &after else {
        panic!("{after:?}")
    };
    assert!(
        e.to_string().contains(
            "came back changed and is no longer used: firmware now 0.0.9 outside >=0.1, <0.2"
        ),
        "{e}"
    );
    assert_eq!(others, 0);
    assert!(closed && !connected);
}
