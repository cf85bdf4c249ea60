//! One slot: wait for a phone, identify it, test it, grade it, hand over the record, release it.
//!
//! Every wait has a deadline and a recovery: a status query that gets no answer is repeated, a
//! lost event is caught by asking the jig again (at once after a bad frame, at the latest after
//! [`RECHECK`]), a release is repeated until the jig confirms it, and a jig out of service is
//! waited for with an alarm every [`REMIND`].

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use benchline_protocol::{Channel, Event, PhoneState, Reply, Request};
use tokio::sync::{broadcast, mpsc, watch};

use super::event::{Alarm, LineEvent, Question};
use super::operator::Operator;
use super::record::{JigIdentity, PhoneIdentity, PhoneRecord, PlanIdentity, StepStatus};
use super::sequence::{self, Ctx};
use super::sink::RecordSink;
use super::{Outcome, Stop};
use crate::grade;
use crate::link::{LinkError, LinkEvent, Service};

/// The longest a waiting slot goes without asking the jig (a lost event is usually noticed at
/// once, by the bad frame it left).
const RECHECK: Duration = Duration::from_secs(5);
/// How often an unanswered alarm (a jig out of service, an unreadable phone) is repeated.
const REMIND: Duration = Duration::from_secs(10);
/// Longest pause between attempts to read a phone's identity.
const IDENTIFY_BACKOFF: Duration = Duration::from_secs(8);

/// Where a slot's records go.
#[derive(Clone)]
pub struct Output {
    /// To the run, which shows them.
    pub records: mpsc::Sender<Outcome>,
    /// Where they are committed first.
    pub sink: Arc<dyn RecordSink>,
    /// Records still wanted (`--count`), shared by every slot, so exactly that many are stored.
    pub budget: Arc<AtomicUsize>,
    /// Deliveries under way: they run to the end even when the slot that started them is
    /// stopped, so that a committed record always reaches the run.
    pub deliveries: Arc<std::sync::Mutex<tokio::task::JoinSet<()>>>,
}

impl Output {
    /// Commits the record, then hands it to the run; false when the slot must stop (the run
    /// has enough records, has ended, or the store failed). The work is not cancelled with
    /// the slot: see [`Output::deliveries`].
    async fn deliver(&self, at: super::SlotId, record: PhoneRecord) -> bool {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let out = self.clone();
        match self.deliveries.lock() {
            Ok(mut set) => {
                // Forget the deliveries that are over (the set would otherwise grow all shift).
                while set.try_join_next().is_some() {}
                set.spawn(async move {
                    let _ = tx.send(out.commit_and_send(at, record).await);
                });
            }
            Err(_) => return false,
        }
        rx.await.unwrap_or(false)
    }

    async fn commit_and_send(&self, at: super::SlotId, record: PhoneRecord) -> bool {
        if self
            .budget
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_err()
        {
            return false;
        }
        let stored = match self.sink.commit(&record).await {
            Ok(s) => s,
            Err(e) => {
                let _ = self.records.send(Outcome::StoreFailed(e)).await;
                return false;
            }
        };
        self.records
            .send(Outcome::Recorded(at, Box::new(record), stored))
            .await
            .is_ok()
    }
}

/// Who the slot asks the plan's prompts, and how long it waits for an answer.
#[derive(Clone)]
pub struct Asker {
    /// The operator.
    pub operator: Arc<dyn Operator>,
    /// Longest wait for one answer.
    pub within: Duration,
}

/// What a slot is doing, as the run sees it when it must stop.
#[derive(Debug, Default)]
pub struct UnderTest {
    /// A phone is under test (seated, not yet recorded).
    pub testing: AtomicBool,
    /// A recorded phone is being released (the clamp not yet confirmed open).
    pub releasing: AtomicBool,
    /// The IMEI of the phone in the slot, once read.
    pub imei: std::sync::Mutex<String>,
}

impl UnderTest {
    fn set_imei(&self, imei: &str) {
        if let Ok(mut i) = self.imei.lock() {
            imei.clone_into(&mut i);
        }
    }

    /// The IMEI of the phone in the slot, or "unidentified".
    pub fn imei(&self) -> String {
        match self.imei.lock() {
            Ok(i) if !i.is_empty() => i.clone(),
            _ => "unidentified".into(),
        }
    }
}

/// Runs the slot until the run stops it: at [`Stop::Drain`] it finishes the phone under test
/// (record and release) and takes no new one.
pub async fn run_slot(
    ctx: Ctx,
    asker: Asker,
    out: Output,
    mut stop: watch::Receiver<Stop>,
    busy: Arc<UnderTest>,
) {
    let mut events = ctx.link.subscribe();
    loop {
        if !wait_seated(&ctx, &mut events, &mut stop).await {
            return;
        }
        busy.set_imei("");
        busy.testing.store(true, Ordering::SeqCst);
        let tested = test_phone(&ctx, &asker, &mut events, &mut stop, &busy).await;
        let record: Box<PhoneRecord> = match tested {
            Tested::Gone => {
                busy.testing.store(false, Ordering::SeqCst);
                tracing::info!(
                    port = ctx.link.port(),
                    slot = ctx.slot,
                    "phone removed before it was identified"
                );
                continue;
            }
            Tested::Stopped => return,
            Tested::Done(record) => record,
        };
        let imei = record.phone.imei.clone();
        // A phone taken out during its test is recorded (retest) but not released: the slot
        // may already hold the next one.
        let gone = ctx.gone.load(Ordering::SeqCst);
        // From here the record is committed and shown even if the run stops this slot.
        busy.testing.store(false, Ordering::SeqCst);
        if !out.deliver(ctx.at, *record).await {
            // Not released: with the store failing, the phone stays put for a retest.
            return;
        }
        busy.releasing.store(!gone, Ordering::SeqCst);
        if !gone && !release(&ctx, &imei, &mut events, &stop).await {
            return;
        }
        busy.releasing.store(false, Ordering::SeqCst);
    }
}

/// True when the run wants this slot to take no new phone.
fn draining(stop: &watch::Receiver<Stop>) -> bool {
    *stop.borrow() != Stop::Run
}

/// Waits until the slot holds a phone ready to test; false when the run stops first.
async fn wait_seated(
    ctx: &Ctx,
    events: &mut broadcast::Receiver<LinkEvent>,
    stop: &mut watch::Receiver<Stop>,
) -> bool {
    if !draining(stop) {
        ctx.events.send(LineEvent::SlotWaiting { at: ctx.at }).await;
    }
    loop {
        if draining(stop) {
            return false;
        }
        // Events from before the status query are answered by the query itself.
        drain(events);
        match ctx.quick(Request::SlotStatus { slot: ctx.slot }).await {
            Ok(Reply::Slot(s)) if s.phone == PhoneState::Seated => return true,
            Ok(_) => {}
            Err(e) => {
                if !wait_usable(ctx, &e, stop, Stop::Drain).await {
                    return false;
                }
                continue;
            }
        }
        let recheck = tokio::time::sleep(RECHECK);
        tokio::pin!(recheck);
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                _ = &mut recheck => break,
                ev = events.recv() => match ev {
                    // The jig reports a phone as inserted only when it is new and clamped.
                    Ok(LinkEvent::Jig(Event::PhoneInserted { slot })) if slot == ctx.slot => return true,
                    // A lost frame may have been this slot's event: ask again now.
                    Ok(LinkEvent::BadFrame(_) | LinkEvent::Connected(_) | LinkEvent::Reset(_) | LinkEvent::BackInService)
                    | Err(broadcast::error::RecvError::Lagged(_)) => break,
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Closed) => return false,
                },
            }
        }
    }
}

/// After a request failed on the link itself: waits (with an alarm every [`REMIND`]) until the
/// jig is usable again; false when the run's stop reaches `give_up` first.
async fn wait_usable(
    ctx: &Ctx,
    e: &(dyn std::fmt::Display + Sync),
    stop: &mut watch::Receiver<Stop>,
    give_up: Stop,
) -> bool {
    loop {
        if *stop.borrow() >= give_up {
            return false;
        }
        if ctx.link.is_closed() {
            tracing::error!(port = ctx.link.port(), bench = %ctx.place.bench, slot = ctx.slot, "slot stopped: the link to its jig has ended ({e}); restart benchctl once the jig is fixed");
            return false;
        }
        if ctx.link.service() == Service::In && ctx.link.hello().is_some() {
            return true;
        }
        tokio::select! {
            _ = stop.changed() => {}
            ok = async {
                ctx.link.wait_in_service(REMIND).await && ctx.link.wait_connected(REMIND).await
            } => if !ok {
                tracing::error!(port = ctx.link.port(), bench = %ctx.place.bench, slot = ctx.slot, "slot waiting for its jig: {e}");
            }
        }
    }
}

/// Opens the clamp on the phone with `imei`, until the jig confirms it or the phone is gone;
/// false when the run must stop at once.
///
/// A lost `Release` is recovered inside the link (with `Resend`, never by sending it again). When
/// even that fails, the slot looks before it releases again: a slot already `Released` or
/// `Empty` is done, and a `Seated` phone is released again only when it is the same phone (the
/// operator may already have seated the next one, which must not be released untested).
async fn release(
    ctx: &Ctx,
    imei: &str,
    events: &mut broadcast::Receiver<LinkEvent>,
    stop: &watch::Receiver<Stop>,
) -> bool {
    let mut stop = stop.clone();
    loop {
        let e = match ctx.quick(Request::Release { slot: ctx.slot }).await {
            Ok(Reply::Done) => return true,
            Ok(other) => LinkError::Protocol {
                port: ctx.link.port().to_string(),
                detail: format!("release answered {other:?}"),
            },
            Err(e) => e,
        };
        tracing::warn!(
            port = ctx.link.port(),
            slot = ctx.slot,
            "release not confirmed: {e}"
        );
        loop {
            if *stop.borrow() == Stop::Now {
                return false;
            }
            // A phone under test is released even while the run drains.
            if !wait_usable(ctx, &e, &mut stop, Stop::Now).await {
                return false;
            }
            drain(events);
            match ctx.quick(Request::SlotStatus { slot: ctx.slot }).await {
                Ok(Reply::Slot(s)) if s.phone != PhoneState::Seated => return true,
                Ok(Reply::Slot(_)) => {}
                _ => continue,
            }
            match ctx.quick(Request::Identify { slot: ctx.slot }).await {
                Ok(Reply::Identity(i)) if i.imei.as_str() != imei => {
                    tracing::info!(
                        port = ctx.link.port(),
                        slot = ctx.slot,
                        "the released phone was taken out and the next one is in"
                    );
                    return true;
                }
                Ok(Reply::Identity(_)) => break,
                // Gone again, or unreadable: look again after a pause.
                _ => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
    }
}

fn drain(events: &mut broadcast::Receiver<LinkEvent>) {
    while let Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) = events.try_recv() {}
}

fn now() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

/// How a test ended.
pub enum Tested {
    /// The phone was taken out before it was identified: nothing to record.
    Gone,
    /// The run stopped while the phone's identity could not be read.
    Stopped,
    /// The phone's record.
    Done(Box<PhoneRecord>),
}

/// Reads the phone's identity. A phone whose identity cannot be read is never tested or
/// recorded without one: the slot raises an alarm ("reseat it") and tries again, with a
/// growing pause, until it can read it, the phone is taken out, or the run stops.
async fn identify(
    ctx: &Ctx,
    events: &mut broadcast::Receiver<LinkEvent>,
    stop: &mut watch::Receiver<Stop>,
) -> Result<(super::record::StepRecord, PhoneIdentity), Tested> {
    let mut pause = Duration::from_millis(250);
    let mut alarmed = false;
    loop {
        let Some(step) = sequence::identify(ctx).await else {
            return Err(Tested::Gone);
        };
        let text = |name: &str| {
            step.measurements
                .iter()
                .find(|m| m.name == name)
                .and_then(|m| m.value.as_str())
                .unwrap_or_default()
                .to_string()
                .into()
        };
        let phone = PhoneIdentity {
            imei: text("imei"),
            model: text("model"),
            serial: text("serial"),
        };
        if step.status != StepStatus::Measured
            && !(ctx.link.service() == Service::In && ctx.link.hello().is_some())
        {
            // The link failed, not the phone: wait for the jig, then read it again.
            let why = step.errors.last().cloned().unwrap_or_default();
            if !wait_usable(ctx, &why, stop, Stop::Drain).await {
                return Err(Tested::Stopped);
            }
            continue;
        }
        let why = if step.status != StepStatus::Measured {
            step.errors.last().cloned().unwrap_or_default()
        } else if phone.imei.is_empty() || phone.model.is_empty() {
            "the phone reported an empty IMEI or model".into()
        } else {
            if alarmed {
                tracing::warn!(port = ctx.link.port(), slot = ctx.slot, imei = %phone.imei, "phone identified after all; testing it");
                ctx.events
                    .send(LineEvent::AlarmCleared {
                        key: identify_key(ctx),
                    })
                    .await;
            }
            return Ok((step, phone));
        };
        tracing::error!(
            port = ctx.link.port(),
            bench = %ctx.place.bench,
            slot = ctx.slot,
            "could not read the phone's identity: reseat it ({why}); trying again in {} ms",
            pause.as_millis()
        );
        if !alarmed {
            ctx.events
                .send(LineEvent::Alarm(Alarm {
                    key: identify_key(ctx),
                    bench: Some(ctx.at.bench),
                    what: format!(
                        "{} slot {}: the phone's identity cannot be read ({why})",
                        ctx.place.bench, ctx.slot
                    ),
                    fix: "reseat the phone; the slot tries again by itself".into(),
                }))
                .await;
        }
        alarmed = true;
        // Wait for the phone to leave (reseat) or for the pause to pass, then try again.
        let wait = tokio::time::sleep(pause);
        tokio::pin!(wait);
        loop {
            tokio::select! {
                _ = &mut wait => break,
                _ = stop.changed() => if draining(stop) { return Err(Tested::Stopped) },
                ev = events.recv() => match ev {
                    Ok(LinkEvent::Jig(Event::PhoneRemoved { slot })) if slot == ctx.slot => {
                        ctx.events.send(LineEvent::AlarmCleared { key: identify_key(ctx) }).await;
                        return Err(Tested::Gone);
                    }
                    Err(broadcast::error::RecvError::Closed) => return Err(Tested::Stopped),
                    _ => {}
                },
            }
        }
        if draining(stop) {
            return Err(Tested::Stopped);
        }
        pause = (pause * 2).min(IDENTIFY_BACKOFF);
    }
}

/// The key of a slot's "cannot read the identity" alarm.
fn identify_key(ctx: &Ctx) -> String {
    format!("identify {} {}", ctx.at.bench, ctx.slot)
}

/// True unless the slot is now empty or holds a phone other than `imei` (a slot that does not
/// answer is taken to still hold it: its steps then fail on their own).
async fn still_there(ctx: &Ctx, imei: &str) -> bool {
    match ctx.quick(Request::SlotStatus { slot: ctx.slot }).await {
        Ok(Reply::Slot(s)) if s.phone == PhoneState::Empty => return false,
        Ok(_) => {}
        Err(_) => return true,
    }
    match ctx.quick(Request::Identify { slot: ctx.slot }).await {
        Ok(Reply::Identity(i)) => i.imei.as_str() == imei,
        Err(LinkError::Jig {
            error: benchline_protocol::JigError::NoPhone,
            ..
        }) => false,
        _ => true,
    }
}

/// Tests the phone in the slot: identity first, then the three channels at once, then the
/// prompts; grades the result.
pub async fn test_phone(
    ctx: &Ctx,
    asker: &Asker,
    events: &mut broadcast::Receiver<LinkEvent>,
    stop: &mut watch::Receiver<Stop>,
    busy: &UnderTest,
) -> Tested {
    let started = now();
    let slot_before = ctx.counters.snapshot();
    let link_before = ctx.link.stats().snapshot();
    // The jig that identified the phone: the record names it even if the link has ended by the
    // time the phone is graded (the jig came back changed and was refused).
    let hello_at_start = ctx.link.hello();
    let (identify, phone) = match identify(ctx, events, stop).await {
        Ok(v) => v,
        Err(t) => return t,
    };
    busy.set_imei(&phone.imei);
    ctx.events
        .send(LineEvent::PhoneIdentified {
            at: ctx.at,
            imei: phone.imei.to_string(),
            model: phone.model.to_string(),
        })
        .await;
    tracing::info!(port = ctx.link.port(), bench = %ctx.place.bench, slot = ctx.slot, imei = %phone.imei, model = %phone.model, "testing the phone");
    let mut steps = vec![identify];
    ctx.gone.store(false, Ordering::SeqCst);
    let (b, p, s) = {
        let channels = async {
            tokio::join!(
                sequence::channel(ctx, Channel::Battery, &phone.model),
                sequence::channel(ctx, Channel::Port, &phone.model),
                sequence::channel(ctx, Channel::Screen, &phone.model)
            )
        };
        tokio::pin!(channels);
        // Watch for the phone leaving while its channels run.
        let mut listening = true;
        loop {
            tokio::select! {
                done = &mut channels => break done,
                ev = events.recv(), if listening => {
                    let removed = match ev {
                        Ok(LinkEvent::Jig(Event::PhoneRemoved { slot })) => slot == ctx.slot,
                        Err(broadcast::error::RecvError::Closed) => {
                            listening = false;
                            false
                        }
                        _ => false,
                    };
                    // The event may be the previous phone's, read late: believe it only when
                    // the slot is empty or holds another phone now.
                    if removed && !still_there(ctx, &phone.imei).await {
                        tracing::warn!(port = ctx.link.port(), slot = ctx.slot, imei = %phone.imei, "{}", sequence::GONE);
                        ctx.gone.store(true, Ordering::SeqCst);
                    }
                }
            }
        }
    };
    steps.extend(b.into_iter().chain(p).chain(s));
    let mut answers = BTreeMap::new();
    let mut incomplete: Vec<String> = steps
        .iter()
        .filter(|s| s.status == StepStatus::Failed)
        .map(|s| {
            format!(
                "step {} could not be measured: {}",
                s.id,
                s.errors.last().map_or("", String::as_str)
            )
        })
        .collect();
    let mut answered_by = BTreeMap::new();
    for prompt in &ctx.plan.prompts {
        if ctx.gone.load(Ordering::SeqCst) {
            incomplete.push(format!(
                "prompt {} was not asked: {}",
                prompt.id,
                sequence::GONE
            ));
            continue;
        }
        let question = Question {
            at: ctx.at,
            imei: phone.imei.to_string(),
            model: phone.model.to_string(),
            prompt: prompt.id.clone(),
            text: prompt.question.clone(),
            choices: prompt.choices.clone(),
            simulated: ctx.link.hello().is_some_and(|h| h.simulated),
        };
        match ask(ctx, asker, question, &phone.imei, events, stop).await {
            Some(a) => {
                answers.insert(prompt.id.clone(), a.choice);
                answered_by.insert(prompt.id.clone(), a.by);
            }
            None if ctx.gone.load(Ordering::SeqCst) => {
                incomplete.push(format!(
                    "prompt {} was not answered: {}",
                    prompt.id,
                    sequence::GONE
                ));
            }
            None => incomplete.push(format!("prompt {} was not answered", prompt.id)),
        }
    }
    // The verdicts were recorded as the steps measured: grading reads them from the steps.
    let input = grade::Input {
        steps,
        answers,
        incomplete,
    };
    let (_, grade) = grade::grade(&ctx.plan, &input);
    let grade::Input { steps, answers, .. } = input;
    let hello = ctx.link.hello().or(hello_at_start);
    let complete = steps.iter().all(|s| s.status != StepStatus::Failed);
    let slot_delta = ctx.counters.snapshot().since(&slot_before);
    let link_delta = ctx.link.stats().snapshot().since(&link_before);
    let link = crate::link::LinkCounters {
        bad_frames: link_delta.bad_frames,
        resets: link_delta.resets,
        reconnects: link_delta.reconnects,
        ..slot_delta
    };
    Tested::Done(Box::new(PhoneRecord {
        schema: crate::store::SCHEMA,
        phone,
        station: Some(ctx.place.station.clone().into()),
        bench: Some(ctx.place.bench.clone().into()),
        jig: JigIdentity {
            port: ctx.link.port().to_string().into(),
            serial: hello
                .as_ref()
                .map(|h| h.jig_serial.to_string())
                .unwrap_or_default()
                .into(),
            firmware: hello
                .as_ref()
                .map(|h| h.firmware_version.to_string())
                .unwrap_or_default()
                .into(),
            boot_id: hello.as_ref().map_or(0, |h| h.boot_id),
            simulated: hello.as_ref().is_some_and(|h| h.simulated),
        },
        slot: ctx.slot,
        operator: asker.operator.signed_in().into(),
        started: started.into(),
        finished: now().into(),
        status: if complete { "complete" } else { "incomplete" },
        plan: PlanIdentity {
            id: ctx.plan.id.clone().into(),
            version: ctx.plan.version.clone().into(),
            hash: ctx.plan.hash.clone().into(),
        },
        steps,
        answers: owned(answers),
        answered_by: owned(answered_by),
        bin: Some(ctx.place.bins.label(grade.disposition).to_string().into()),
        grade,
        link,
    }))
}

/// A map of owned text in the record's form.
fn owned(map: BTreeMap<String, String>) -> BTreeMap<Cow<'static, str>, Cow<'static, str>> {
    map.into_iter()
        .map(|(k, v)| (Cow::Owned(k), Cow::Owned(v)))
        .collect()
}

/// Asks one question and waits for its answer: `None` when nobody answered within the
/// asker's bound, the phone was taken out (the question is withdrawn), or the run stops at once.
async fn ask(
    ctx: &Ctx,
    asker: &Asker,
    question: Question,
    imei: &str,
    events: &mut broadcast::Receiver<LinkEvent>,
    stop: &mut watch::Receiver<Stop>,
) -> Option<super::event::Answer> {
    let prompt = question.prompt.clone();
    let choices = question.choices.clone();
    ctx.events.send(LineEvent::Asking(question.clone())).await;
    let answering = asker.operator.ask(question);
    tokio::pin!(answering);
    let deadline = tokio::time::sleep(asker.within);
    tokio::pin!(deadline);
    let mut listening = true;
    let answer = loop {
        tokio::select! {
            a = &mut answering => break a.filter(|a| choices.contains(&a.choice)),
            _ = &mut deadline => {
                tracing::warn!(bench = %ctx.place.bench, slot = ctx.slot, prompt = %prompt, "no answer within {} s; the phone grades retest", asker.within.as_secs());
                break None;
            }
            changed = stop.changed() => if changed.is_err() || *stop.borrow() == Stop::Now {
                break None;
            },
            ev = events.recv(), if listening => match ev {
                Ok(LinkEvent::Jig(Event::PhoneRemoved { slot }))
                    if slot == ctx.slot && !still_there(ctx, imei).await =>
                {
                    tracing::warn!(port = ctx.link.port(), slot = ctx.slot, imei = %imei, "{}", sequence::GONE);
                    ctx.gone.store(true, Ordering::SeqCst);
                    break None;
                }
                Err(broadcast::error::RecvError::Closed) => listening = false,
                _ => {}
            },
        }
    };
    match &answer {
        Some(a) => {
            ctx.events
                .send(LineEvent::Answered {
                    at: ctx.at,
                    prompt,
                    answer: a.clone(),
                })
                .await;
        }
        None => {
            ctx.events
                .send(LineEvent::Withdrawn { at: ctx.at, prompt })
                .await;
        }
    }
    answer
}
