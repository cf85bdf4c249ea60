//! The procedures of a plan on one phone: `identify` first, then the battery, port and screen
//! steps, each channel in plan order and the three channels at the same time.
//!
//! A step that fails on a link fault (timeout, reset, unplug, busy from an abandoned attempt) is
//! repeated up to the step's `retries`; a step the jig itself refuses is recorded as failed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use benchline_protocol::{Channel, JigError, Reply, Request};

use super::record::{Measurement, StepRecord, StepStatus};
use crate::link::{Link, LinkError};
use crate::plan::{self, OnFail, Plan};

/// Attempts of the implicit `identify` step.
pub const IDENTIFY_ATTEMPTS: u32 = 3;

/// How a slot talks to its jig.
#[derive(Clone)]
pub struct Ctx {
    /// The jig.
    pub link: Link,
    /// The slot.
    pub slot: u8,
    /// The slot on the line.
    pub at: super::SlotId,
    /// Where the line's events go.
    pub events: super::Events,
    /// Real seconds per jig second, to size timeouts.
    pub time_scale: f64,
    /// Timeout margin over a procedure's physical duration.
    pub margin: Duration,
    /// The plan.
    pub plan: Arc<Plan>,
    /// Station and bench names written in every record.
    pub place: Arc<Place>,
    /// What this slot's requests absorbed (retries, resends, timeouts), for per-phone counters.
    pub counters: Arc<crate::link::LinkStats>,
    /// Set when the phone under test was taken out: no further step may run, since it would
    /// measure the next phone under this one's identity.
    pub gone: Arc<std::sync::atomic::AtomicBool>,
}

/// The error of every step that did not run because the phone was taken out.
pub const GONE: &str = "the phone was taken out during the test: test it again";

/// Where a slot is: written in every record it makes.
#[derive(Debug, Clone)]
pub struct Place {
    /// Station (host) name.
    pub station: String,
    /// Bench name.
    pub bench: String,
    /// The station's bins.
    pub bins: crate::grade::bin::Bins,
}

impl Ctx {
    fn timeout(&self, physical_ms: u32, step_margin: Option<u64>) -> Duration {
        let scaled =
            Duration::from_secs_f64(f64::from(physical_ms) / 1000.0 * self.time_scale.max(0.0));
        scaled + step_margin.map_or(self.margin, Duration::from_millis)
    }

    async fn call(
        &self,
        req: Request,
        physical_ms: u32,
        step_margin: Option<u64>,
    ) -> Result<Reply, LinkError> {
        self.link
            .request_counted(
                req,
                self.timeout(physical_ms, step_margin),
                Some(&self.counters),
            )
            .await
    }

    /// A request that takes no jig time (status, release, abort), within the margin.
    pub async fn quick(&self, req: Request) -> Result<Reply, LinkError> {
        self.call(req, 0, None).await
    }
}

fn unexpected(ctx: &Ctx, reply: &Reply) -> LinkError {
    LinkError::Protocol {
        port: ctx.link.port().to_string(),
        detail: format!("unexpected reply {reply:?}"),
    }
}

/// Runs one step body with repeats on link faults; the step's record, and the error of the
/// last attempt when it failed.
async fn attempt<F, Fut>(
    ctx: &Ctx,
    id: &str,
    procedure: &'static str,
    channel: Channel,
    attempts: u32,
    mut body: F,
) -> (StepRecord, Option<LinkError>)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Vec<Measurement>, LinkError>>,
{
    let started = Instant::now();
    let mut errors = Vec::new();
    let record = |status, attempts, errors, measurements, started: Instant| StepRecord {
        id: id.to_string(),
        procedure,
        channel: channel.as_str(),
        status,
        attempts,
        errors,
        measurements,
        duration_s: started.elapsed().as_secs_f64(),
    };
    for n in 1..=attempts.max(1) {
        let boot = ctx.link.hello().map(|h| h.boot_id);
        match body().await {
            Ok(m) => return (record(StepStatus::Measured, n, errors, m, started), None),
            Err(e) => {
                // Whatever the jig said, if it restarted during the attempt its state (a touch
                // scan, say) is gone and the step is worth repeating.
                ctx.link.wait_connected(Duration::from_secs(10)).await;
                let restarted = ctx.link.hello().map(|h| h.boot_id) != boot;
                let transient = e.is_transient() || restarted;
                if matches!(e, LinkError::OutOfService { .. }) {
                    // Said once, by the link's own alarm; not again for every step.
                    tracing::debug!(procedure, slot = ctx.slot, attempt = n, "{e}");
                } else {
                    tracing::warn!(procedure, slot = ctx.slot, attempt = n, "{e}");
                }
                errors.push(e.to_string());
                if !transient {
                    let n = errors.len() as u32;
                    return (
                        record(StepStatus::Failed, n, errors, Vec::new(), started),
                        Some(e),
                    );
                }
                // A procedure cut short by a timeout may still run on the jig: stop it.
                let _ = ctx
                    .quick(Request::Abort {
                        slot: ctx.slot,
                        channel,
                    })
                    .await;
            }
        }
    }
    let n = errors.len() as u32;
    (
        record(StepStatus::Failed, n, errors, Vec::new(), started),
        None,
    )
}

/// `identify`; `None` when the slot turned out to be empty (the phone was taken out first).
pub async fn identify(ctx: &Ctx) -> Option<StepRecord> {
    let (record, last) = attempt(
        ctx,
        "identify",
        "identify",
        Channel::Battery,
        IDENTIFY_ATTEMPTS,
        || async {
            match ctx
                .call(Request::Identify { slot: ctx.slot }, 10, None)
                .await?
            {
                Reply::Identity(i) => Ok(vec![
                    Measurement::text("model", &i.model),
                    Measurement::text("imei", &i.imei),
                    Measurement::text("serial", &i.serial),
                ]),
                other => Err(unexpected(ctx, &other)),
            }
        },
    )
    .await;
    match last {
        Some(LinkError::Jig {
            error: JigError::NoPhone,
            ..
        }) => None,
        _ => Some(record),
    }
}

/// Runs the plan's steps of `channel` for a phone of `model`.
pub async fn channel(ctx: &Ctx, channel: Channel, model: &str) -> Vec<StepRecord> {
    let connector = ctx.plan.connector(model);
    let mut out = Vec::new();
    let mut skip_rest = false;
    let mut design_mah: Option<u16> = None;
    for step in ctx
        .plan
        .steps
        .iter()
        .filter(|s| s.procedure.channel == channel)
    {
        let applies = match (&step.connectors, connector) {
            (Some(list), Some(c)) => list.contains(&c),
            _ => true,
        };
        if ctx.gone.load(std::sync::atomic::Ordering::SeqCst) {
            let rec = StepRecord {
                id: step.id.clone(),
                procedure: step.procedure.name,
                channel: channel.as_str(),
                status: StepStatus::Failed,
                attempts: 0,
                errors: vec![GONE.into()],
                measurements: Vec::new(),
                duration_s: 0.0,
            };
            finished(ctx, &mut out, rec).await;
            continue;
        }
        if !applies || skip_rest {
            let rec = StepRecord {
                id: step.id.clone(),
                procedure: step.procedure.name,
                channel: channel.as_str(),
                status: StepStatus::Skipped,
                attempts: 0,
                errors: Vec::new(),
                measurements: Vec::new(),
                duration_s: 0.0,
            };
            finished(ctx, &mut out, rec).await;
            continue;
        }
        let physical = step.procedure.duration_ms(&step.params);
        ctx.events
            .send(super::LineEvent::StepStarted {
                at: ctx.at,
                step: step.id.clone(),
                procedure: step.procedure.name,
                channel: channel.as_str(),
                expected_s: f64::from(physical) / 1000.0 * ctx.time_scale.max(0.0),
            })
            .await;
        let (mut rec, _) = attempt(
            ctx,
            &step.id,
            step.procedure.name,
            channel,
            step.retries + 1,
            || measure(ctx, step, design_mah),
        )
        .await;
        if step.procedure.name == "battery.gauge" {
            design_mah = rec
                .measurements
                .iter()
                .find(|m| m.name == "design_capacity")
                .and_then(Measurement::number)
                .map(|v| v as u16);
        }
        let mut failed = false;
        for m in &mut rec.measurements {
            let Some((b, verdict)) = m
                .number()
                .and_then(|v| crate::grade::judge_step(step, model, &m.name, v))
            else {
                continue;
            };
            failed |= verdict == crate::grade::Verdict::Fail;
            (m.min, m.max, m.verdict) = (b.min, b.max, Some(verdict));
        }
        skip_rest = failed && step.on_fail == OnFail::SkipChannel;
        finished(ctx, &mut out, rec).await;
    }
    out
}

/// Tells the line a step is over and keeps its record.
async fn finished(ctx: &Ctx, out: &mut Vec<StepRecord>, rec: StepRecord) {
    ctx.events
        .send(super::LineEvent::StepFinished {
            at: ctx.at,
            step: Box::new(rec.clone()),
        })
        .await;
    out.push(rec);
}

fn param(step: &plan::Step, name: &str) -> f64 {
    step.params.get(name).copied().unwrap_or(0.0)
}

async fn measure(
    ctx: &Ctx,
    step: &plan::Step,
    design_mah: Option<u16>,
) -> Result<Vec<Measurement>, LinkError> {
    let slot = ctx.slot;
    let ms = |name| param(step, name).max(0.0) as u32;
    let physical = step.procedure.duration_ms(&step.params);
    let call = |req| ctx.call(req, physical, step.timeout_ms);
    match step.procedure.name {
        "battery.gauge" => match call(Request::BatteryGauge { slot }).await? {
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
                    Measurement::text("manufacturer", &g.manufacturer),
                    Measurement::text("device", &g.device),
                ])
            }
            other => Err(unexpected(ctx, &other)),
        },
        "battery.dcir" => {
            let design = match design_mah {
                Some(d) if d > 0 => d,
                _ => match ctx
                    .call(Request::BatteryGauge { slot }, 10, step.timeout_ms)
                    .await?
                {
                    Reply::Gauge(g) => g.design_mah,
                    other => return Err(unexpected(ctx, &other)),
                },
            };
            let amps = |c: f64| {
                (f64::from(design) * c)
                    .round()
                    .clamp(1.0, f64::from(u16::MAX)) as u16
            };
            let req = Request::BatteryDcir {
                slot,
                low_ma: amps(param(step, "low_c")),
                low_ms: ms("low_ms"),
                high_ma: amps(param(step, "high_c")),
                high_ms: ms("high_ms"),
            };
            match call(req).await? {
                Reply::Dcir(d) => {
                    // A battery that could not hold the load (protocol README 9.12) has no
                    // finite resistance: recorded `open`, which fails any upper limit.
                    let resistance = if d.collapsed {
                        f64::INFINITY
                    } else {
                        d.resistance_ohm.into()
                    };
                    Ok(vec![
                        Measurement::num("v1", d.v1_v.into(), "V"),
                        Measurement::num("i1", d.i1_a.into(), "A"),
                        Measurement::num("v2", d.v2_v.into(), "V"),
                        Measurement::num("i2", d.i2_a.into(), "A"),
                        Measurement::num("resistance", resistance, "ohm"),
                        Measurement::num("collapsed", f64::from(u8::from(d.collapsed)), "count"),
                        Measurement::num("v_min", d.v_min_v.into(), "V"),
                    ])
                }
                other => Err(unexpected(ctx, &other)),
            }
        }
        "port.cc" => match call(Request::PortCc { slot }).await? {
            Reply::Cc(c) => Ok(vec![
                Measurement::num("cc1", c.cc1_v.into(), "V"),
                Measurement::num("cc2", c.cc2_v.into(), "V"),
            ]),
            other => Err(unexpected(ctx, &other)),
        },
        "port.continuity" => match call(Request::PortContinuity { slot }).await? {
            Reply::Continuity(c) => {
                let mut m = Vec::new();
                for r in &c.pins {
                    let name = plan::catalogue::pin_name(r.pin);
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
            other => Err(unexpected(ctx, &other)),
        },
        "port.charge" => match call(Request::PortCharge {
            slot,
            settle_ms: ms("settle_ms"),
        })
        .await?
        {
            Reply::Charge(c) => Ok(vec![
                Measurement::num("vbus", c.vbus_v.into(), "V"),
                Measurement::num("current", c.current_a.into(), "A"),
            ]),
            other => Err(unexpected(ctx, &other)),
        },
        "screen.touch" => {
            let (rows, cols) = match call(Request::ScreenTouch { slot }).await? {
                Reply::TouchScan(s) => (s.rows, s.cols),
                other => return Err(unexpected(ctx, &other)),
            };
            let mut raw = Vec::with_capacity(usize::from(rows));
            for row in 0..rows {
                match ctx
                    .call(Request::TouchRow { slot, row }, 10, step.timeout_ms)
                    .await?
                {
                    Reply::TouchRow(r) => raw.push(r.raw.to_vec()),
                    other => return Err(unexpected(ctx, &other)),
                }
            }
            let (lo, hi) = (param(step, "node_min"), param(step, "node_max"));
            let all: Vec<f64> = raw.iter().flatten().map(|&v| f64::from(v)).collect();
            let bad = all.iter().filter(|&&v| v < lo || v > hi).count();
            let min = all.iter().copied().fold(f64::INFINITY, f64::min);
            let max = all.iter().copied().fold(0.0, f64::max);
            let mean = all.iter().sum::<f64>() / all.len().max(1) as f64;
            Ok(vec![
                Measurement::num("rows", rows.into(), "count"),
                Measurement::num("cols", cols.into(), "count"),
                Measurement::num("raw_min", if all.is_empty() { 0.0 } else { min }, "count"),
                Measurement::num("raw_max", max, "count"),
                Measurement::num("raw_mean", mean, "count"),
                Measurement::num("bad_nodes", bad as f64, "count"),
                Measurement {
                    name: "raw".into(),
                    value: serde_json::json!(raw),
                    unit: "count",
                    min: None,
                    max: None,
                    verdict: None,
                },
            ])
        }
        "screen.backlight" => match call(Request::ScreenBacklight {
            slot,
            settle_ms: ms("settle_ms"),
        })
        .await?
        {
            Reply::Backlight(b) => Ok(vec![
                Measurement::num("voltage", b.voltage_v.into(), "V"),
                Measurement::num("current", b.current_a.into(), "A"),
            ]),
            other => Err(unexpected(ctx, &other)),
        },
        other => Err(LinkError::Protocol {
            port: ctx.link.port().into(),
            detail: format!("procedure {other} has no implementation"),
        }),
    }
}

/// Values of measured steps as `step.measurement` for grading.
pub fn values(steps: &[StepRecord]) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for s in steps.iter().filter(|s| s.status == StepStatus::Measured) {
        for m in &s.measurements {
            if let Some(v) = m.number() {
                out.insert(format!("{}.{}", s.id, m.name), v);
            }
        }
    }
    out
}
