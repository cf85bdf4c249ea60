//! The procedures of a plan on one phone: `identify` first, then the battery, port and screen
//! steps, each channel in plan order and the three channels at the same time.
//!
//! A step that fails on a link fault (timeout, reset, unplug, busy from an abandoned attempt) is
//! repeated up to the step's `retries`; a step the jig itself refuses is recorded as failed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use benchline_protocol::procedure::{touch_readings, Reading, Value, DESIGN_CAPACITY, TOUCH_RAW};
use benchline_protocol::{Channel, JigError, Procedure, Reply, Request};

use super::record::{Measurement, StepRecord, StepStatus};
use crate::link::{Link, LinkError};
use crate::plan::catalogue::measurement_name;
use crate::plan::{self, Catalogue, OnFail, Plan};

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
        .filter(|s| s.procedure.channel() == channel)
    {
        let applies = match (&step.connectors, connector) {
            (Some(list), Some(c)) => list.contains(&c),
            _ => true,
        };
        if ctx.gone.load(std::sync::atomic::Ordering::SeqCst) {
            let rec = StepRecord {
                id: step.id.clone(),
                procedure: step.procedure.name(),
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
                procedure: step.procedure.name(),
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
                procedure: step.procedure.name(),
                channel: channel.as_str(),
                expected_s: f64::from(physical) / 1000.0 * ctx.time_scale.max(0.0),
            })
            .await;
        let (mut rec, _) = attempt(
            ctx,
            &step.id,
            step.procedure.name(),
            channel,
            step.retries + 1,
            || measure(ctx, step, design_mah),
        )
        .await;
        if step.procedure == Procedure::BatteryGauge {
            design_mah = rec
                .measurements
                .iter()
                .find(|m| m.name == DESIGN_CAPACITY)
                .and_then(Measurement::number)
                .map(|v| v as u16);
        }
        let mut failed = false;
        for m in &mut rec.measurements {
            // The one verdict of this measurement: recorded here, read by grading.
            let verdict = crate::grade::judge_reading(step, model, m);
            failed |= verdict == Some(crate::grade::Verdict::Fail);
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

/// A reading of the procedure table as a record's measurement.
fn measurement(r: Reading<'_>) -> Measurement {
    let name = measurement_name(r.pin, r.name);
    match r.value {
        Value::Num(v) => Measurement::num(&name, v, r.unit),
        Value::Text(t) => Measurement::text(&name, t),
    }
}

/// Runs one step: the table builds the request and reads the reply. Only what differs is
/// here: `battery.dcir` needs the design capacity (from the channel's gauge step, else read
/// now) and `screen.touch` reads the scan's rows one request each.
async fn measure(
    ctx: &Ctx,
    step: &plan::Step,
    design_mah: Option<u16>,
) -> Result<Vec<Measurement>, LinkError> {
    let slot = ctx.slot;
    let procedure = step.procedure;
    let physical = procedure.duration_ms(&step.params);
    let design = match (procedure, design_mah) {
        (Procedure::BatteryDcir, Some(d)) if d > 0 => d,
        (Procedure::BatteryDcir, _) => match ctx
            .call(Request::BatteryGauge { slot }, 10, step.timeout_ms)
            .await?
        {
            Reply::Gauge(g) => g.design_mah,
            other => return Err(unexpected(ctx, &other)),
        },
        _ => 0,
    };
    let req = procedure.request(slot, &|name| param(step, name), design);
    let reply = ctx.call(req, physical, step.timeout_ms).await?;
    let mut out = Vec::new();
    if !procedure.readings(&reply, &mut |r| out.push(measurement(r))) {
        return Err(unexpected(ctx, &reply));
    }
    if let Reply::TouchScan(scan) = reply {
        let mut raw = Vec::with_capacity(usize::from(scan.rows));
        for row in 0..scan.rows {
            match ctx
                .call(Request::TouchRow { slot, row }, 10, step.timeout_ms)
                .await?
            {
                Reply::TouchRow(r) => raw.push(r.raw.to_vec()),
                other => return Err(unexpected(ctx, &other)),
            }
        }
        let (lo, hi) = (param(step, "node_min"), param(step, "node_max"));
        touch_readings(raw.iter().flatten().copied(), lo, hi, &mut |r| {
            out.push(measurement(r))
        });
        out.push(Measurement {
            name: TOUCH_RAW.into(),
            value: serde_json::json!(raw),
            unit: "count",
            min: None,
            max: None,
            verdict: None,
        });
    }
    Ok(out)
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
