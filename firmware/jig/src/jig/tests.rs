//! The jig on small fakes: pins of distinct types, a slow link, a full transmit queue, and the
//! time a `Ping` waits.
#![allow(clippy::expect_used, clippy::panic)]

use std::cell::Cell;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::rc::Rc;
use std::vec::Vec as StdVec;

use benchline_protocol::{
    decode_frame, encode_frame, Event, FrameAccumulator, JigKind, JigMsg, Packet, Reply, Request,
    MAX_ENCODED_FRAME,
};
use embedded_hal::digital::{ErrorType as PinErrorType, InputPin, OutputPin};
use embedded_hal::i2c::{ErrorType as BusErrorType, I2c, Operation};

use super::*;
use crate::board::SlotPins;
use crate::transmit::TX_QUEUE;

/// Jig time, shared by the clock and the bus.
#[derive(Clone, Default)]
struct Time(Rc<Cell<u64>>);

impl Time {
    fn advance_us(&self, us: u64) {
        self.0.set(self.0.get() + us);
    }
}

impl Clock for Time {
    fn now_us(&self) -> u64 {
        self.0.get()
    }
}

/// A bus where every device answers zeros and every transaction takes 1 ms of jig time.
struct Bus {
    time: Time,
    transactions: Rc<Cell<u64>>,
}

const BUS_US: u64 = 1000;

impl BusErrorType for Bus {
    type Error = Infallible;
}

impl I2c for Bus {
    fn transaction(&mut self, _: u8, ops: &mut [Operation<'_>]) -> Result<(), Infallible> {
        for op in ops {
            if let Operation::Read(buf) = op {
                buf.fill(0);
            }
        }
        self.time.advance_us(BUS_US);
        self.transactions.set(self.transactions.get() + 1);
        Ok(())
    }
}

struct NoDelay;

impl embedded_hal::delay::DelayNs for NoDelay {
    fn delay_ns(&mut self, _: u32) {}
}

/// The presence switch: a pin type of its own, always closed.
struct Switch;

impl PinErrorType for Switch {
    type Error = Infallible;
}

impl InputPin for Switch {
    fn is_high(&mut self) -> Result<bool, Infallible> {
        Ok(true)
    }
    fn is_low(&mut self) -> Result<bool, Infallible> {
        Ok(false)
    }
}

/// An output of a type of its own, remembering its level (also used by the board's tests).
#[derive(Default)]
pub(crate) struct Lamp(pub(crate) bool);

impl PinErrorType for Lamp {
    type Error = Infallible;
}

impl OutputPin for Lamp {
    fn set_low(&mut self) -> Result<(), Infallible> {
        self.0 = false;
        Ok(())
    }
    fn set_high(&mut self) -> Result<(), Infallible> {
        self.0 = true;
        Ok(())
    }
}

/// Another output type, with its own error type, that remembers its level too.
#[derive(Default)]
struct Relay {
    on: bool,
}

#[derive(Debug)]
struct RelayError;

impl embedded_hal::digital::Error for RelayError {
    fn kind(&self) -> embedded_hal::digital::ErrorKind {
        embedded_hal::digital::ErrorKind::Other
    }
}

impl PinErrorType for Relay {
    type Error = RelayError;
}

impl OutputPin for Relay {
    fn set_low(&mut self) -> Result<(), RelayError> {
        self.on = false;
        Ok(())
    }
    fn set_high(&mut self) -> Result<(), RelayError> {
        self.on = true;
        Ok(())
    }
}

type Slot = SlotPins<Switch, Relay, Lamp, Relay, Lamp, Lamp, Relay, Lamp>;

/// A serial link that takes at most `per_poll` bytes between two [`Link::take`]s (one poll),
/// and records any write that was not allowed by `write_ready`.
struct Link {
    inbound: VecDeque<u8>,
    out: StdVec<u8>,
    per_poll: usize,
    room: usize,
    writes_not_ready: usize,
    largest_write: usize,
}

impl Link {
    fn new(per_poll: usize) -> Self {
        Link {
            inbound: VecDeque::new(),
            out: StdVec::new(),
            per_poll,
            room: per_poll,
            writes_not_ready: 0,
            largest_write: 0,
        }
    }

    /// What the jig wrote in the last poll; the link then takes its next poll's bytes.
    fn take(&mut self) -> StdVec<u8> {
        self.room = self.per_poll;
        core::mem::take(&mut self.out)
    }
}

impl embedded_io::ErrorType for Link {
    type Error = Infallible;
}

impl Read for Link {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        let n = buf.len().min(self.inbound.len());
        for (dst, src) in buf.iter_mut().zip(self.inbound.drain(..n)) {
            *dst = src;
        }
        Ok(n)
    }
}

impl ReadReady for Link {
    fn read_ready(&mut self) -> Result<bool, Infallible> {
        Ok(!self.inbound.is_empty())
    }
}

impl Write for Link {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        if self.room == 0 {
            // A real link would block here.
            self.writes_not_ready += 1;
            return Ok(0);
        }
        let n = buf.len().min(self.room);
        self.room -= n;
        self.largest_write = self.largest_write.max(n);
        self.out.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}

impl WriteReady for Link {
    fn write_ready(&mut self) -> Result<bool, Infallible> {
        Ok(self.room > 0)
    }
}

type TestJig = Jig<Bus, Slot, NoDelay, Link, Time>;

/// A one-slot jig with a phone seated, on a link taking `per_poll` bytes a poll.
fn jig(per_poll: usize) -> (TestJig, Time, Rc<Cell<u64>>) {
    let time = Time::default();
    let transactions = Rc::new(Cell::new(0));
    let mut slots = heapless::Vec::new();
    let slot: Slot = SlotPins {
        presence: Switch,
        vbus_en: Relay::default(),
        backlight_en: Lamp::default(),
        release: Relay::default(),
        cont_en: Lamp::default(),
        cont_sel: (Lamp::default(), Relay::default(), Lamp::default()),
    };
    assert!(slots.push(slot).is_ok());
    let board = Board {
        i2c: Bus {
            time: time.clone(),
            transactions: transactions.clone(),
        },
        delay: NoDelay,
        slots,
    };
    let config = JigConfig::new("T-1", JigKind::Combo, 7);
    let jig = Jig::new(board, Link::new(per_poll), time.clone(), config);
    (jig, time, transactions)
}

fn request(seq: u16, msg: Request) -> StdVec<u8> {
    let mut buf = [0u8; MAX_ENCODED_FRAME];
    let n = encode_frame(&Packet { seq, msg }, &mut buf).expect("a request fits a frame");
    buf[..n].to_vec()
}

/// Every frame in `bytes`, decoded; panics on a frame that is not intact.
fn frames(bytes: &[u8]) -> StdVec<Packet<JigMsg>> {
    let mut acc = FrameAccumulator::new();
    let mut out = StdVec::new();
    for &b in bytes {
        if let Some(frame) = acc.push(b) {
            let frame = frame.expect("a whole frame");
            out.push(decode_frame::<JigMsg>(frame).expect("an intact frame"));
        }
    }
    out
}

/// Polls until the transmit queue is empty (at most `limit` polls) and returns every byte the
/// link took.
fn drain(jig: &mut TestJig, limit: usize) -> StdVec<u8> {
    let mut wire = StdVec::new();
    for _ in 0..limit {
        jig.poll().expect("the link never fails");
        wire.extend(jig.link_mut().take());
        if jig.tx_pending() == 0 {
            return wire;
        }
    }
    panic!("the queue did not drain in {limit} polls");
}

fn requests() -> StdVec<u8> {
    let mut bytes = request(1, Request::Hello);
    bytes.extend(request(2, Request::SlotStatus { slot: 0 }));
    for n in 0..5 {
        bytes.extend(request(3 + n, Request::Ping { nonce: n.into() }));
    }
    bytes.extend(request(8, Request::Identify { slot: 0 }));
    bytes.extend(request(9, Request::Release { slot: 0 }));
    bytes
}

#[test]
fn a_slow_link_gets_every_frame_intact_and_in_order_without_blocking() {
    // The phone is seen in the first poll, then the requests come.
    let (mut fast, _, _) = jig(usize::MAX);
    let mut expected = drain(&mut fast, 1);
    fast.link_mut().inbound.extend(requests());
    expected.extend(drain(&mut fast, 1));
    let expected = frames(&expected);

    let (mut slow, _, _) = jig(7);
    let mut wire = drain(&mut slow, 10_000);
    slow.link_mut().inbound.extend(requests());
    wire.extend(drain(&mut slow, 10_000));

    let got = frames(&wire);
    assert_eq!(got, expected, "the same frames in the same order");
    assert!(
        got.len() >= 10,
        "Booted, PhoneInserted and 9 replies: {got:?}"
    );
    let link = slow.link_mut();
    assert_eq!(
        link.writes_not_ready, 0,
        "wrote only when the link was ready"
    );
    assert!(link.largest_write <= 7);
    assert_eq!(slow.tx_dropped(), 0);
    assert!(
        slow.board().slots[0].release.on,
        "the release solenoid, a pin type of its own, was driven"
    );
}

#[test]
fn a_full_queue_drops_whole_frames_counts_them_and_later_frames_are_intact() {
    let (mut jig, _, _) = jig(0);
    let pings: u32 = 400;
    for nonce in 0..pings {
        let seq = nonce as u16 + 1;
        jig.link_mut()
            .inbound
            .extend(request(seq, Request::Ping { nonce }));
    }
    jig.poll().expect("a closed link is not an error");
    assert!(jig.link_mut().take().is_empty());
    let dropped = jig.tx_dropped();
    assert!(dropped > 0, "400 Pongs do not fit in {TX_QUEUE} bytes");
    assert!(jig.tx_pending() <= TX_QUEUE);

    jig.link_mut().per_poll = 64;
    let got = frames(&drain(&mut jig, 10_000));
    assert_eq!(jig.link_mut().writes_not_ready, 0);
    // Booted, one Pong per Ping and PhoneInserted: each one sent whole or dropped whole.
    assert_eq!(got.len() as u32 + dropped, 1 + pings + 1);
    let nonces: StdVec<u32> = got
        .iter()
        .filter_map(|p| match p.msg {
            JigMsg::Reply(Reply::Pong { nonce }) => Some(nonce),
            _ => None,
        })
        .collect();
    assert!(
        nonces.windows(2).all(|w| w[0] < w[1]),
        "Pongs keep their order"
    );
    assert_eq!(
        jig.pings() as usize,
        nonces.len(),
        "dropped Pongs are not counted"
    );

    // The host recovers a dropped reply with Resend, and later frames are intact.
    let last = pings - 1;
    jig.link_mut().inbound.extend(request(
        1000,
        Request::Resend {
            seq: last as u16 + 1,
        },
    ));
    jig.link_mut()
        .inbound
        .extend(request(1001, Request::Ping { nonce: 9999 }));
    let later = frames(&drain(&mut jig, 100));
    assert_eq!(
        later,
        [
            Packet {
                seq: 1000,
                msg: JigMsg::Reply(Reply::Pong { nonce: last })
            },
            Packet {
                seq: 1001,
                msg: JigMsg::Reply(Reply::Pong { nonce: 9999 })
            },
        ]
    );
    let events: StdVec<_> = got
        .iter()
        .filter(|p| matches!(p.msg, JigMsg::Event(_)))
        .collect();
    assert!(
        matches!(events[0].msg, JigMsg::Event(Event::Booted { .. })),
        "Booted went first, before the queue filled"
    );
}

#[test]
fn the_time_a_ping_waits_for_its_pong_is_measured_on_the_jig_clock() {
    let (mut jig, time, transactions) = jig(usize::MAX);
    assert_eq!((jig.pings(), jig.ping_worst_us()), (0, 0));
    jig.poll().expect("link");
    jig.link_mut().take();

    // A Ping read before an Identify's bus work is answered at once...
    jig.link_mut()
        .inbound
        .extend(request(1, Request::Identify { slot: 0 }));
    jig.link_mut()
        .inbound
        .extend(request(2, Request::Ping { nonce: 1 }));
    let before = transactions.get();
    jig.poll().expect("link");
    let identify_us = (transactions.get() - before) * BUS_US;
    assert!(identify_us > 0);
    assert_eq!((jig.pings(), jig.ping_worst_us()), (1, 0));

    // ...one arriving during that bus work may have waited all of it; time the board slept
    // between polls (and said so) does not count...
    time.advance_us(50_000);
    jig.slept(50_000);
    jig.link_mut()
        .inbound
        .extend(request(3, Request::Ping { nonce: 2 }));
    jig.poll().expect("link");
    assert_eq!(jig.pings(), 2);
    assert_eq!(u64::from(jig.ping_worst_us()), identify_us);
    let replies = frames(&jig.link_mut().take());
    assert!(replies
        .iter()
        .any(|p| p.seq == 3 && p.msg == JigMsg::Reply(Reply::Pong { nonce: 2 })));

    // ...and the board's own work between polls does.
    time.advance_us(30_000);
    jig.link_mut()
        .inbound
        .extend(request(4, Request::Ping { nonce: 3 }));
    jig.poll().expect("link");
    assert_eq!(jig.pings(), 3);
    assert_eq!(jig.ping_worst_us(), 30_000);
}
