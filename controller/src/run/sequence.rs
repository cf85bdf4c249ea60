//! The fixed test sequence (plan files replace it in a later issue): `identify`, then three
//! channels at once: battery (`battery.gauge`, `battery.dcir` at 0.2 C / 1 C from the gauge's
//! design capacity), port (`port.cc`, `port.continuity`, `port.charge`) and screen
//! (`screen.touch` with every row read back, `screen.backlight`).
//!
//! A step that fails on a link fault (timeout, reset, unplug) is repeated, up to
//! [`STEP_ATTEMPTS`] times; a step the jig itself refuses is recorded as failed at once.

use std::time::{Duration, Instant};

use benchline_protocol::{Channel, JigError, Reply, Request, CONTINUITY_PINS};

use super::record::{Measurement, StepRecord, StepStatus};
use crate::link::{Link, LinkError};

/// Attempts of one step before it is recorded as failed.
pub const STEP_ATTEMPTS: u32 = 3;

/// Physical durations, ms.
pub const DCIR_LOW_MS: u32 = 10_000;
/// High step of the DCIR pulse.
pub const DCIR_HIGH_MS: u32 = 1_000;
/// Time the phone gets to negotiate before its charge current is read.
pub const CHARGE_SETTLE_MS: u32 = 1_000;
/// Backlight settling time.
pub const BACKLIGHT_SETTLE_MS: u32 = 50;

/// How a slot talks to its jig.
#[derive(Clone)]
pub struct Ctx {
    /// The jig.
    pub link: Link,
    /// The slot.
    pub slot: u8,
    /// Real seconds per jig second, to size timeouts.
    pub time_scale: f64,
    /// Timeout margin over a procedure's physical duration.
    pub margin: Duration,
}

impl Ctx {
    fn timeout(&self, physical_ms: u32) -> Duration {
        let scaled =
            Duration::from_secs_f64(f64::from(physical_ms) / 1000.0 * self.time_scale.max(0.0));
        scaled + self.margin
    }

    async fn call(&self, req: Request, physical_ms: u32) -> Result<Reply, LinkError> {
        self.link.request(req, self.timeout(physical_ms)).await
    }
}

fn channel_name(c: Channel) -> &'static str {
    match c {
        Channel::Battery => "battery",
        Channel::Port => "port",
        Channel::Screen => "screen",
    }
}

fn unexpected(reply: &Reply) -> LinkError {
    LinkError::NotAJig {
        port: String::new(),
        detail: format!("unexpected reply {reply:?}"),
    }
}

/// Runs one step with retries on link faults.
pub async fn step<F, Fut>(
    ctx: &Ctx,
    procedure: &'static str,
    channel: Channel,
    mut body: F,
) -> StepRecord
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Vec<Measurement>, LinkError>>,
{
    let started = Instant::now();
    let mut errors = Vec::new();
    for attempt in 1..=STEP_ATTEMPTS {
        match body().await {
            Ok(measurements) => {
                return StepRecord {
                    procedure,
                    channel: channel_name(channel),
                    status: StepStatus::Measured,
                    attempts: attempt,
                    errors,
                    measurements,
                    duration_s: started.elapsed().as_secs_f64(),
                }
            }
            Err(e) => {
                let transient = e.is_transient();
                tracing::warn!(procedure, slot = ctx.slot, attempt, "{e}");
                errors.push(e.to_string());
                if !transient {
                    break;
                }
                if matches!(
                    e,
                    LinkError::Disconnected { .. } | LinkError::JigReset { .. }
                ) {
                    ctx.link.wait_connected(Duration::from_secs(10)).await;
                }
                // A procedure cut short by a timeout may still run on the jig: stop it.
                let _ = ctx
                    .link
                    .request(
                        Request::Abort {
                            slot: ctx.slot,
                            channel,
                        },
                        ctx.margin,
                    )
                    .await;
            }
        }
    }
    StepRecord {
        procedure,
        channel: channel_name(channel),
        status: StepStatus::Failed,
        attempts: errors.len() as u32,
        errors,
        measurements: Vec::new(),
        duration_s: started.elapsed().as_secs_f64(),
    }
}

/// `identify`.
pub async fn identify(ctx: &Ctx) -> StepRecord {
    step(ctx, "identify", Channel::Battery, || async {
        match ctx.call(Request::Identify { slot: ctx.slot }, 10).await? {
            Reply::Identity(i) => Ok(vec![
                Measurement::text("model", &i.model),
                Measurement::text("imei", &i.imei),
                Measurement::text("serial", &i.serial),
            ]),
            other => Err(unexpected(&other)),
        }
    })
    .await
}

/// The battery channel.
pub async fn battery(ctx: &Ctx) -> Vec<StepRecord> {
    let gauge = step(ctx, "battery.gauge", Channel::Battery, || async {
        match ctx
            .call(Request::BatteryGauge { slot: ctx.slot }, 10)
            .await?
        {
            Reply::Gauge(g) => {
                let health = if g.design_mah > 0 {
                    f64::from(g.full_charge_mah) / f64::from(g.design_mah) * 100.0
                } else {
                    0.0
                };
                Ok(vec![
                    Measurement::num("voltage", g.voltage_v.into(), "V"),
                    Measurement::num("current", g.current_a.into(), "A"),
                    Measurement::num("temperature", g.temperature_k.into(), "K"),
                    Measurement::num("state_of_charge", g.state_of_charge_pct.into(), "%"),
                    Measurement::num("remaining_capacity", g.remaining_mah.into(), "mAh"),
                    Measurement::num("full_charge_capacity", g.full_charge_mah.into(), "mAh"),
                    Measurement::num("design_capacity", g.design_mah.into(), "mAh"),
                    Measurement::num("state_of_health", health, "%"),
                    Measurement::num("cycle_count", g.cycle_count.into(), "count"),
                    Measurement::num("gauge_serial", g.serial.into(), "count"),
                    Measurement::text("manufacturer", &g.manufacturer),
                    Measurement::text("device", &g.device),
                ])
            }
            other => Err(unexpected(&other)),
        }
    })
    .await;
    let design_mah = gauge
        .measurements
        .iter()
        .find(|m| m.name == "design_capacity")
        .and_then(|m| m.value.as_f64())
        .map_or(0, |v| v as u16);
    let mut steps = vec![gauge];
    if design_mah == 0 {
        return steps;
    }
    let (low_ma, high_ma) = ((u32::from(design_mah) / 5) as u16, design_mah);
    let dcir = step(ctx, "battery.dcir", Channel::Battery, || async {
        let req = Request::BatteryDcir {
            slot: ctx.slot,
            low_ma,
            low_ms: DCIR_LOW_MS,
            high_ma,
            high_ms: DCIR_HIGH_MS,
        };
        match ctx.call(req, DCIR_LOW_MS + DCIR_HIGH_MS).await? {
            Reply::Dcir(d) => Ok(vec![
                Measurement::num("v1", d.v1_v.into(), "V"),
                Measurement::num("i1", d.i1_a.into(), "A"),
                Measurement::num("v2", d.v2_v.into(), "V"),
                Measurement::num("i2", d.i2_a.into(), "A"),
                Measurement::num("resistance", d.resistance_ohm.into(), "ohm"),
            ]),
            other => Err(unexpected(&other)),
        }
    })
    .await;
    steps.push(dcir);
    steps
}

/// The port channel.
pub async fn port(ctx: &Ctx) -> Vec<StepRecord> {
    let cc = step(ctx, "port.cc", Channel::Port, || async {
        match ctx.call(Request::PortCc { slot: ctx.slot }, 10).await? {
            Reply::Cc(c) => Ok(vec![
                Measurement::text("rp", &format!("{:?}", c.rp)),
                Measurement::num("cc1", c.cc1_v.into(), "V"),
                Measurement::num("cc2", c.cc2_v.into(), "V"),
            ]),
            other => Err(unexpected(&other)),
        }
    })
    .await;
    let continuity = step(ctx, "port.continuity", Channel::Port, || async {
        match ctx
            .call(Request::PortContinuity { slot: ctx.slot }, 60)
            .await?
        {
            Reply::Continuity(c) => {
                let mut m = Vec::new();
                for (pin, r) in CONTINUITY_PINS.iter().zip(c.pins.iter()) {
                    let name = format!("{pin:?}").to_lowercase();
                    m.push(Measurement::num(
                        &format!("{name}.resistance"),
                        r.resistance_ohm.into(),
                        "ohm",
                    ));
                    m.push(Measurement::num(
                        &format!("{name}.leakage"),
                        r.leakage_a.into(),
                        "A",
                    ));
                }
                Ok(m)
            }
            other => Err(unexpected(&other)),
        }
    })
    .await;
    let charge = step(ctx, "port.charge", Channel::Port, || async {
        match ctx
            .call(
                Request::PortCharge {
                    slot: ctx.slot,
                    settle_ms: CHARGE_SETTLE_MS,
                },
                CHARGE_SETTLE_MS,
            )
            .await?
        {
            Reply::Charge(c) => Ok(vec![
                Measurement::num("vbus", c.vbus_v.into(), "V"),
                Measurement::num("current", c.current_a.into(), "A"),
            ]),
            other => Err(unexpected(&other)),
        }
    })
    .await;
    vec![cc, continuity, charge]
}

/// The screen channel.
pub async fn screen(ctx: &Ctx) -> Vec<StepRecord> {
    let touch = step(ctx, "screen.touch", Channel::Screen, || async {
        let (rows, cols) = match ctx
            .call(Request::ScreenTouch { slot: ctx.slot }, 500)
            .await?
        {
            Reply::TouchScan(s) => (s.rows, s.cols),
            other => return Err(unexpected(&other)),
        };
        let mut raw = Vec::with_capacity(usize::from(rows));
        for row in 0..rows {
            match ctx
                .call(
                    Request::TouchRow {
                        slot: ctx.slot,
                        row,
                    },
                    10,
                )
                .await?
            {
                Reply::TouchRow(r) => raw.push(r.raw.to_vec()),
                other => return Err(unexpected(&other)),
            }
        }
        let all: Vec<f64> = raw.iter().flatten().map(|&v| f64::from(v)).collect();
        let min = all.iter().copied().fold(f64::INFINITY, f64::min);
        let max = all.iter().copied().fold(0.0, f64::max);
        let mean = all.iter().sum::<f64>() / all.len().max(1) as f64;
        Ok(vec![
            Measurement::num("rows", rows.into(), "count"),
            Measurement::num("cols", cols.into(), "count"),
            Measurement::num("raw_min", min, "count"),
            Measurement::num("raw_max", max, "count"),
            Measurement::num("raw_mean", mean, "count"),
            Measurement {
                name: "raw".into(),
                value: serde_json::json!(raw),
                unit: "count",
            },
        ])
    })
    .await;
    let backlight = step(ctx, "screen.backlight", Channel::Screen, || async {
        match ctx
            .call(
                Request::ScreenBacklight {
                    slot: ctx.slot,
                    settle_ms: BACKLIGHT_SETTLE_MS,
                },
                BACKLIGHT_SETTLE_MS,
            )
            .await?
        {
            Reply::Backlight(b) => Ok(vec![
                Measurement::num("voltage", b.voltage_v.into(), "V"),
                Measurement::num("current", b.current_a.into(), "A"),
            ]),
            other => Err(unexpected(&other)),
        }
    })
    .await;
    vec![touch, backlight]
}

/// True when the error means the phone left the slot.
pub fn phone_gone(e: &LinkError) -> bool {
    matches!(
        e,
        LinkError::Jig {
            error: JigError::NoPhone | JigError::Aborted,
            ..
        }
    )
}
