//! Every message that crosses the serial line.
//!
//! Host to jig: [`Packet<Request>`]. Jig to host: [`Packet<JigMsg>`], either a [`Reply`] carrying
//! the sequence number of the request it answers, or an [`Event`] numbered by the jig's own event
//! counter. Variant order is part of the wire format (postcard encodes the variant index): append
//! new variants at the end and bump [`crate::PROTOCOL_VERSION`] when an existing one changes.

use heapless::{String, Vec};
use postcard_schema::Schema;
use serde::{Deserialize, Serialize};

/// Longest text field (model, IMEI, serial numbers, names).
pub const MAX_TEXT: usize = 24;
/// Most touch nodes in one row of a touch scan.
pub const MAX_TOUCH_COLS: usize = 48;
/// Longest text of a log event.
pub const LOG_TEXT: usize = 48;
/// Most instruments a jig can report in its `Hello`.
pub const MAX_INSTRUMENTS: usize = 8;
/// Replies the jig keeps for [`Request::Resend`]: the last this many replies it sent, replies to
/// `Resend` itself excepted.
pub const KEPT_REPLIES: usize = 32;
/// The USB-C pins the continuity procedure measures, in this order.
pub const CONTINUITY_PINS: [PortPin; 8] = [
    PortPin::Vbus,
    PortPin::Gnd,
    PortPin::DPlus,
    PortPin::DMinus,
    PortPin::Cc1,
    PortPin::Cc2,
    PortPin::Sbu1,
    PortPin::Sbu2,
];

/// A short fixed-capacity text.
pub type Text = String<MAX_TEXT>;

/// The envelope of every frame.
#[derive(Serialize, Deserialize, Schema, Debug, Clone, PartialEq)]
pub struct Packet<T> {
    /// Request number chosen by the host (echoed in the reply), or the jig's event counter.
    pub seq: u16,
    /// The message.
    pub msg: T,
}

/// A measurement channel of a slot. Procedures on different channels run at the same time;
/// a second procedure on a busy channel is answered with [`JigError::Busy`].
#[derive(Serialize, Deserialize, Schema, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// Battery gauge and load.
    Battery,
    /// USB-C / Lightning port.
    Port,
    /// Touch panel and backlight.
    Screen,
}

impl Channel {
    /// The channel's name in plans and records: `battery`, `port` or `screen`.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Battery => "battery",
            Channel::Port => "port",
            Channel::Screen => "screen",
        }
    }
}

/// What the host asks of the jig.
#[derive(Serialize, Deserialize, Schema, Debug, Clone, PartialEq)]
pub enum Request {
    /// Handshake: the jig answers with [`Reply::Hello`].
    Hello,
    /// Liveness check, answered at once even during long procedures.
    Ping {
        /// Echoed in [`Reply::Pong`].
        nonce: u32,
    },
    /// Is a phone seated in the slot, and which channels are busy.
    SlotStatus {
        /// Slot index, from 0.
        slot: u8,
    },
    /// Read the phone's identity through its diagnostic interface (`identify`).
    Identify {
        /// Slot index.
        slot: u8,
    },
    /// Read the smart-battery gauge (`battery.gauge`).
    BatteryGauge {
        /// Slot index.
        slot: u8,
    },
    /// IEC 61960 DC internal resistance: `low_ma` for `low_ms`, then `high_ma` for `high_ms`
    /// (`battery.dcir`).
    BatteryDcir {
        /// Slot index.
        slot: u8,
        /// First load step (0.2 C), mA.
        low_ma: u16,
        /// Duration of the first step, ms.
        low_ms: u32,
        /// Second load step (1 C), mA.
        high_ma: u16,
        /// Duration of the second step, ms.
        high_ms: u32,
    },
    /// CC pin voltages with the jig's Rp pull-up (`port.cc`).
    PortCc {
        /// Slot index.
        slot: u8,
    },
    /// Resistance and leakage of every port pin (`port.continuity`).
    PortContinuity {
        /// Slot index.
        slot: u8,
    },
    /// Apply 5 V VBUS and measure the phone's charge current after `settle_ms` (`port.charge`).
    PortCharge {
        /// Slot index.
        slot: u8,
        /// Time the phone gets to negotiate before the measurement, ms.
        settle_ms: u32,
    },
    /// Put the touch controller in factory test mode and scan every node (`screen.touch`).
    ScreenTouch {
        /// Slot index.
        slot: u8,
    },
    /// Raw values of one row of the last touch scan.
    TouchRow {
        /// Slot index.
        slot: u8,
        /// Row index, from 0.
        row: u8,
    },
    /// Drive the backlight and measure its current (`screen.backlight`).
    ScreenBacklight {
        /// Slot index.
        slot: u8,
        /// Time the backlight current gets to settle, ms.
        settle_ms: u32,
    },
    /// Stop the procedure running on a channel; it answers [`JigError::Aborted`] before this
    /// request's [`Reply::Done`]. A state request: `Done` also when the channel was idle or the
    /// slot empty.
    Abort {
        /// Slot index.
        slot: u8,
        /// Channel to stop.
        channel: Channel,
    },
    /// Testing of the slot is over: stop its procedures (each answers [`JigError::Aborted`]
    /// first), release the clamp so the operator can take the phone, answer [`Reply::Done`]. From
    /// then on the slot reports [`PhoneState::Released`] until the phone is taken out. A state
    /// request: `Done` also for an empty or already released slot.
    Release {
        /// Slot index.
        slot: u8,
    },
    /// Send again the reply to the request numbered `seq`: answered, under this request's own
    /// sequence number, with a copy of that reply if the jig still keeps it, with
    /// [`Reply::Pending`] while that request still runs, or with [`JigError::UnknownSeq`] when the
    /// jig never received it or no longer keeps its reply.
    Resend {
        /// Sequence number of the earlier request.
        seq: u16,
    },
}

impl Request {
    /// True when sending the request twice has the same effect as sending it once, so the
    /// host may retry it after a timeout. Procedures that load, power or drive the phone are not.
    /// `Abort` names a state to reach (the channel idle), so sending it twice is harmless too.
    /// `Release` is not: between two of them the operator may take the released phone out and
    /// seat the next, which a second `Release` would release untested; recover it with `Resend`.
    pub fn is_idempotent(&self) -> bool {
        !matches!(
            self,
            Request::BatteryDcir { .. }
                | Request::PortCharge { .. }
                | Request::ScreenBacklight { .. }
                | Request::ScreenTouch { .. }
                | Request::Release { .. }
        )
    }

    /// True for *state requests*: answered from the jig's state, without bus work, as soon as
    /// the jig reads them (`Hello`, `Ping`, `SlotStatus`, `Resend`, `Abort`, `Release`); every
    /// other request waits its turn in the jig's queue.
    pub fn is_state_request(&self) -> bool {
        matches!(
            self,
            Request::Hello
                | Request::Ping { .. }
                | Request::SlotStatus { .. }
                | Request::Resend { .. }
                | Request::Abort { .. }
                | Request::Release { .. }
        )
    }

    /// The channel a procedure occupies on its slot while it runs (and that a
    /// [`JigError::Busy`] names); `None` for requests that occupy no channel.
    pub fn channel(&self) -> Option<Channel> {
        match self {
            // Reading the last scan's rows occupies the scan's channel.
            Request::TouchRow { .. } => Some(crate::Procedure::ScreenTouch.channel()),
            _ => crate::Procedure::of(self).map(crate::Procedure::channel),
        }
    }

    /// The slot the request addresses, if any.
    pub fn slot(&self) -> Option<u8> {
        match self {
            Request::Hello | Request::Ping { .. } | Request::Resend { .. } => None,
            Request::SlotStatus { slot }
            | Request::Identify { slot }
            | Request::BatteryGauge { slot }
            | Request::BatteryDcir { slot, .. }
            | Request::PortCc { slot }
            | Request::PortContinuity { slot }
            | Request::PortCharge { slot, .. }
            | Request::ScreenTouch { slot }
            | Request::TouchRow { slot, .. }
            | Request::ScreenBacklight { slot, .. }
            | Request::Abort { slot, .. }
            | Request::Release { slot } => Some(*slot),
        }
    }

    /// Every name [`Request::procedure`] gives, in the order of the variants: the procedure
    /// table's names ([`crate::Procedure::name`]) and those of the other requests.
    pub const PROCEDURES: [&'static str; 15] = [
        "hello",
        "ping",
        "slot.status",
        "identify",
        crate::Procedure::BatteryGauge.name(),
        crate::Procedure::BatteryDcir.name(),
        crate::Procedure::PortCc.name(),
        crate::Procedure::PortContinuity.name(),
        crate::Procedure::PortCharge.name(),
        crate::Procedure::ScreenTouch.name(),
        "screen.touch.row",
        crate::Procedure::ScreenBacklight.name(),
        "abort",
        "release",
        "resend",
    ];

    /// The procedure name used in plans, records and logs: the table's name
    /// ([`crate::Procedure::name`]) for the procedures a plan can name.
    pub fn procedure(&self) -> &'static str {
        if let Some(p) = crate::Procedure::of(self) {
            return p.name();
        }
        match self {
            Request::Hello => "hello",
            Request::Ping { .. } => "ping",
            Request::SlotStatus { .. } => "slot.status",
            Request::Identify { .. } => "identify",
            Request::TouchRow { .. } => "screen.touch.row",
            Request::Abort { .. } => "abort",
            Request::Release { .. } => "release",
            Request::Resend { .. } => "resend",
            Request::BatteryGauge { .. }
            | Request::BatteryDcir { .. }
            | Request::PortCc { .. }
            | Request::PortContinuity { .. }
            | Request::PortCharge { .. }
            | Request::ScreenTouch { .. }
            | Request::ScreenBacklight { .. } => "",
        }
    }
}

/// What the jig sends: an answer to a request, or something that happened.
#[derive(Serialize, Deserialize, Schema, Debug, Clone, PartialEq)]
pub enum JigMsg {
    /// Answer to the request with the same sequence number.
    Reply(Reply),
    /// Unsolicited event; the sequence number is the jig's event counter.
    Event(Event),
}

/// The answer to one request.
#[derive(Serialize, Deserialize, Schema, Debug, Clone, PartialEq)]
pub enum Reply {
    /// Answer to [`Request::Hello`].
    Hello(Hello),
    /// Answer to [`Request::Ping`].
    Pong {
        /// The request's nonce.
        nonce: u32,
    },
    /// Answer to [`Request::SlotStatus`].
    Slot(SlotStatus),
    /// Answer to [`Request::Identify`].
    Identity(Identity),
    /// Answer to [`Request::BatteryGauge`].
    Gauge(Gauge),
    /// Answer to [`Request::BatteryDcir`].
    Dcir(Dcir),
    /// Answer to [`Request::PortCc`].
    Cc(Cc),
    /// Answer to [`Request::PortContinuity`].
    Continuity(Continuity),
    /// Answer to [`Request::PortCharge`].
    Charge(Charge),
    /// Answer to [`Request::ScreenTouch`]: the scan is done, read it with [`Request::TouchRow`].
    TouchScan(TouchScan),
    /// Answer to [`Request::TouchRow`].
    TouchRow(TouchRow),
    /// Answer to [`Request::ScreenBacklight`].
    Backlight(Backlight),
    /// Answer to [`Request::Abort`] and [`Request::Release`].
    Done,
    /// The request failed.
    Error(JigError),
    /// Answer to [`Request::Resend`] while the earlier request still runs.
    Pending {
        /// Jig time the procedure still needs at most, ms.
        remaining_ms: u32,
    },
}

/// Typed failure of a request.
#[derive(Serialize, Deserialize, Schema, Debug, Clone, Copy, PartialEq, Eq)]
pub enum JigError {
    /// A procedure is already running on this channel of this slot.
    Busy(Channel),
    /// The request names a slot or parameter the jig does not have.
    BadRequest,
    /// This jig has no instrument for the procedure.
    Unsupported,
    /// No phone is seated in the slot.
    NoPhone,
    /// An instrument did not answer or answered out of range.
    HardwareFault(Instrument),
    /// The procedure was stopped by [`Request::Abort`] or because the phone was removed.
    Aborted,
    /// [`Request::TouchRow`] before a completed [`Request::ScreenTouch`] on this phone.
    NoScan,
    /// [`Request::Resend`] names a request the jig never received or whose reply it no longer
    /// keeps.
    UnknownSeq,
}

/// Instruments a jig may carry.
#[derive(Serialize, Deserialize, Schema, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instrument {
    /// I2C multiplexer that selects the slot (TCA9548A class).
    SlotMux,
    /// Smart Battery System fuel gauge of the phone, SMBus address 0x0B.
    Gauge,
    /// Current / voltage monitors (INA226 class).
    PowerMonitor,
    /// Programmable electronic load (MCP4725 DAC setpoint).
    Load,
    /// USB-C front end with Rp pull-ups and CC comparators (FUSB302 class).
    CcFrontEnd,
    /// Pin continuity and leakage ADC (ADS1115 class) behind an analog pin selector.
    Continuity,
    /// Touch controller in factory test mode (FT5x06 class).
    TouchIc,
    /// Phone identity EEPROM on the diagnostic interface (24C02 class).
    DiagEeprom,
}

/// Kind of jig.
#[derive(Serialize, Deserialize, Schema, Debug, Clone, Copy, PartialEq, Eq)]
pub enum JigKind {
    /// Battery, port and screen instruments on every slot.
    Combo,
    /// Battery instruments only.
    Battery,
    /// Port instruments only.
    Port,
    /// Screen instruments only.
    Screen,
}

impl JigKind {
    /// The kind's name in plans (`jig_kinds`): `combo`, `battery`, `port` or `screen`.
    pub fn as_str(self) -> &'static str {
        match self {
            JigKind::Combo => "combo",
            JigKind::Battery => "battery",
            JigKind::Port => "port",
            JigKind::Screen => "screen",
        }
    }
}

/// The handshake.
#[derive(Serialize, Deserialize, Schema, Debug, Clone, PartialEq)]
pub struct Hello {
    /// [`crate::PROTOCOL_VERSION`] of the firmware.
    pub protocol_version: u16,
    /// [`crate::schema_hash`] of the firmware's message types.
    pub schema_hash: u64,
    /// Firmware version, semver.
    pub firmware_version: Text,
    /// Kind of jig.
    pub jig_kind: JigKind,
    /// Serial number of the jig board.
    pub jig_serial: Text,
    /// Number of phone positions.
    pub slots: u8,
    /// Instruments fitted.
    pub instruments: Vec<Instrument, MAX_INSTRUMENTS>,
    /// Random at every boot: a new value means the jig was reset.
    pub boot_id: u32,
    /// True when the jig is the host simulator (simulated hardware and phones), never a real
    /// board: records of its phones say so, and a production store refuses them.
    pub simulated: bool,
}

/// Where a slot's phone is.
#[derive(Serialize, Deserialize, Schema, Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneState {
    /// No phone (presence switch open).
    Empty,
    /// A phone is seated and clamped: it can be tested.
    Seated,
    /// The phone tested last is still in the slot, released and waiting to be taken out; it
    /// cannot be tested (procedures answer [`JigError::NoPhone`]).
    Released,
}

/// State of one slot.
#[derive(Serialize, Deserialize, Schema, Debug, Clone, PartialEq)]
pub struct SlotStatus {
    /// Where the slot's phone is.
    pub phone: PhoneState,
    /// Channels with a procedure running, or received and waiting for its turn.
    pub busy: Vec<Channel, 3>, // capacity folded into the schema hash
}

/// The phone's identity.
#[derive(Serialize, Deserialize, Schema, Debug, Clone, PartialEq)]
pub struct Identity {
    /// Model code.
    pub model: Text,
    /// IMEI (15 digits).
    pub imei: Text,
    /// Device serial number.
    pub serial: Text,
}

/// Smart Battery System registers.
#[derive(Serialize, Deserialize, Schema, Debug, Clone, PartialEq)]
pub struct Gauge {
    /// 0x09 Voltage, V.
    pub voltage_v: f32,
    /// 0x0A Current, A (positive = charging).
    pub current_a: f32,
    /// 0x08 Temperature, K.
    pub temperature_k: f32,
    /// 0x0D RelativeStateOfCharge, %.
    pub state_of_charge_pct: u8,
    /// 0x0F RemainingCapacity, mAh.
    pub remaining_mah: u16,
    /// 0x10 FullChargeCapacity, mAh.
    pub full_charge_mah: u16,
    /// 0x18 DesignCapacity, mAh.
    pub design_mah: u16,
    /// 0x17 CycleCount.
    pub cycle_count: u16,
    /// 0x1C SerialNumber.
    pub serial: u16,
    /// 0x20 ManufacturerName.
    pub manufacturer: Text,
    /// 0x21 DeviceName.
    pub device: Text,
}

/// IEC 61960 DC internal resistance measurement.
#[derive(Serialize, Deserialize, Schema, Debug, Clone, PartialEq)]
pub struct Dcir {
    /// Terminal voltage at the end of the low step, V.
    pub v1_v: f32,
    /// Current of the low step, A.
    pub i1_a: f32,
    /// Terminal voltage at the end of the high step, V.
    pub v2_v: f32,
    /// Current of the high step, A.
    pub i2_a: f32,
    /// (V1 - V2) / (I2 - I1), ohm; `+inf` when the battery collapsed (it could not deliver the
    /// load's current: its resistance is effectively infinite, never the small number the
    /// formula would give).
    pub resistance_ohm: f32,
    /// True when the battery could not hold a load step: a reading under load fell below the
    /// cell's discharge cut-off (`range::DCIR_CUTOFF_MV`), or a step's current stayed below half
    /// its setpoint with the voltage held within `range::DCIR_HELD_MV` of the cut-off (README
    /// section 9.12).
    pub collapsed: bool,
    /// Lowest battery voltage the jig read while the load was on (V1, V2 and, when the
    /// procedure reports progress, the samples of its steps), V.
    pub v_min_v: f32,
}

/// Pull-up the jig presents on CC (source side).
#[derive(Serialize, Deserialize, Schema, Debug, Clone, Copy, PartialEq, Eq)]
pub enum RpLevel {
    /// Default USB power (56 kOhm to 5 V).
    Default,
    /// 1.5 A (22 kOhm to 5 V).
    Current1A5,
    /// 3.0 A (10 kOhm to 5 V).
    Current3A0,
}

/// CC pin voltages measured with the jig's pull-up.
#[derive(Serialize, Deserialize, Schema, Debug, Clone, PartialEq)]
pub struct Cc {
    /// Pull-up used.
    pub rp: RpLevel,
    /// CC1 voltage, V.
    pub cc1_v: f32,
    /// CC2 voltage, V.
    pub cc2_v: f32,
}

/// A pin of the phone's port.
#[derive(Serialize, Deserialize, Schema, Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortPin {
    /// VBUS.
    Vbus,
    /// Ground.
    Gnd,
    /// USB 2 D+.
    DPlus,
    /// USB 2 D-.
    DMinus,
    /// Configuration channel 1.
    Cc1,
    /// Configuration channel 2.
    Cc2,
    /// Sideband use 1.
    Sbu1,
    /// Sideband use 2.
    Sbu2,
}

/// Continuity and leakage of one pin.
#[derive(Serialize, Deserialize, Schema, Debug, Clone, Copy, PartialEq)]
pub struct PinReading {
    /// The pin.
    pub pin: PortPin,
    /// Path resistance, ohm; `f32::INFINITY` when the test current source saturates (open).
    pub resistance_ohm: f32,
    /// Leakage current to the neighbouring pins at 3.3 V, A.
    pub leakage_a: f32,
}

/// Every pin of the port.
#[derive(Serialize, Deserialize, Schema, Debug, Clone, PartialEq)]
pub struct Continuity {
    /// In the order of [`CONTINUITY_PINS`].
    pub pins: Vec<PinReading, 8>,
}

/// Charge current drawn from VBUS.
#[derive(Serialize, Deserialize, Schema, Debug, Clone, PartialEq)]
pub struct Charge {
    /// VBUS at the port, V.
    pub vbus_v: f32,
    /// Current into the phone, A.
    pub current_a: f32,
}

/// Size of a completed touch scan.
#[derive(Serialize, Deserialize, Schema, Debug, Clone, PartialEq)]
pub struct TouchScan {
    /// Rows (TX lines).
    pub rows: u8,
    /// Columns (RX lines).
    pub cols: u8,
}

/// Raw values of one row of the touch scan.
#[derive(Serialize, Deserialize, Schema, Debug, Clone, PartialEq)]
pub struct TouchRow {
    /// Row index.
    pub row: u8,
    /// One raw count per column.
    pub raw: Vec<u16, MAX_TOUCH_COLS>,
}

/// Backlight drive.
#[derive(Serialize, Deserialize, Schema, Debug, Clone, PartialEq)]
pub struct Backlight {
    /// LED string voltage, V.
    pub voltage_v: f32,
    /// LED string current, A.
    pub current_a: f32,
}

/// One reading of the battery monitor while a procedure runs (the DCIR pulse), carried by
/// [`Event::Progress`] so the host can draw voltage and current over time.
#[derive(Serialize, Deserialize, Schema, Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Jig time since the procedure started, ms.
    pub t_ms: u32,
    /// Battery voltage, V.
    pub voltage_v: f32,
    /// Battery current drawn by the load, A.
    pub current_a: f32,
}

/// Something that happened on the jig.
#[derive(Serialize, Deserialize, Schema, Debug, Clone, PartialEq)]
pub enum Event {
    /// The jig (re)started; sent once after boot, as event number 0.
    Booted {
        /// The new boot id.
        boot_id: u32,
    },
    /// A phone was seated in a slot, or found seated at boot.
    PhoneInserted {
        /// Slot index.
        slot: u8,
    },
    /// A phone was taken out of a slot; procedures on it were aborted.
    PhoneRemoved {
        /// Slot index.
        slot: u8,
    },
    /// Progress of a procedure that [`Request::reports_progress`], sent before its reply: at
    /// each 10-point mark of its elapsed time, and for `battery.dcir` also at the sample points
    /// of its load steps (see the protocol README, section 9.8).
    Progress {
        /// Slot index.
        slot: u8,
        /// Channel.
        channel: Channel,
        /// Jig time elapsed over [`Request::nominal_ms`] when the last 10-point mark was passed,
        /// 0-99: the new value in the event of a mark, the last one (0 before the first mark) in
        /// an event sent only for a sample.
        percent: u8,
        /// A reading of the battery monitor: in every `Progress` of `battery.dcir`, `None` for
        /// the other procedures.
        sample: Option<Sample>,
    },
    /// A line of the jig's log.
    Log {
        /// Severity.
        level: LogLevel,
        /// Text, truncated to [`MAX_TEXT`] * 2 bytes.
        text: String<LOG_TEXT>,
    },
}

/// Severity of a [`Event::Log`].
#[derive(Serialize, Deserialize, Schema, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// Something is wrong.
    Error,
    /// Something may be wrong.
    Warn,
    /// Information.
    Info,
}
