//! Tests of `App::update` (keys, prompts, alarms, quitting) and of the loop on a `TestBackend`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use tokio::sync::{mpsc, watch};

use super::app::{App, Confirm, Effect, Overlay, Quit, Shown};
use super::event::AppEvent;
use super::person::Person;
use super::{demo, Seams};
use crate::grade::bin::Bins;
use crate::run::event::{LineEvent, SlotId};
use crate::run::operator::Operator;
use crate::run::Stop;

/// An app signed in as `alice` (or nobody), at `base`.
pub fn app(signed_in: bool, base: Instant) -> App {
    let person = Person::new(signed_in.then(|| "alice".to_string()));
    App::new(
        person,
        Bins::default(),
        "station-1 · plan standard 3".into(),
        PathBuf::from("/var/log/benchctl/line.log"),
        true,
        base,
    )
}

/// Applies `events`, returning every effect.
pub fn feed(app: &mut App, events: impl IntoIterator<Item = AppEvent>) -> Vec<Effect> {
    events.into_iter().flat_map(|e| app.update(e)).collect()
}

/// A line event as an app event.
pub fn line(e: LineEvent) -> AppEvent {
    AppEvent::Line(Box::new(e))
}

/// A key press.
pub fn key(code: KeyCode) -> AppEvent {
    AppEvent::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

/// Typing `text`.
pub fn typing(text: &str) -> Vec<AppEvent> {
    text.chars().map(|c| key(KeyCode::Char(c))).collect()
}

fn at(bench: usize, slot: u8) -> SlotId {
    SlotId { bench, slot }
}

#[test]
fn sign_in_refuses_an_empty_id_and_signs_the_typed_one_in() {
    let mut app = app(false, Instant::now());
    assert!(matches!(app.overlay, Overlay::SignIn(_)));
    feed(&mut app, [key(KeyCode::Enter), key(KeyCode::Esc)]);
    match &app.overlay {
        Overlay::SignIn(s) => assert!(s.error.as_deref().unwrap().contains("cannot be empty")),
        other => panic!("{other:?}"),
    }
    feed(&mut app, typing("bobx"));
    feed(&mut app, [key(KeyCode::Backspace), key(KeyCode::Enter)]);
    assert!(matches!(app.overlay, Overlay::None));
    assert_eq!(app.operator.as_deref(), Some("bob"));
    assert_eq!(app.person.signed_in(), "bob");
    // Shift change: `o`, then the next badge; the line goes on.
    feed(&mut app, [key(KeyCode::Char('o'))]);
    feed(&mut app, typing("carol"));
    feed(&mut app, [key(KeyCode::Enter)]);
    assert_eq!(app.person.signed_in(), "carol");
}

#[tokio::test]
async fn a_number_key_answers_the_focused_question_through_the_person() {
    let base = Instant::now();
    let mut app = app(true, base);
    feed(&mut app, demo::events(base, 1, 4));
    let q = demo::question(at(0, 3), "cosmetic", "Cosmetic grade?", &["A", "B", "C"]);
    let asked = app.person.ask(q.clone());
    feed(&mut app, [line(LineEvent::Asking(q))]);
    assert_eq!(app.shown(at(0, 3)), Shown::Asking);
    // Slot 0/0 is selected, not asking: the keys answer the first waiting question.
    feed(&mut app, [key(KeyCode::Char('2'))]);
    let answer = asked.await.unwrap();
    assert_eq!(answer.choice, "B");
    assert_eq!(answer.by, "alice");
    assert_eq!(app.shown(at(0, 3)), Shown::Testing);
    // No question waits now: a number does nothing but say so.
    feed(&mut app, [key(KeyCode::Char('1'))]);
    assert!(app.notice().unwrap().contains("no question"));
}

#[test]
fn tab_moves_between_waiting_slots_and_withdrawn_questions_vanish() {
    let base = Instant::now();
    let mut app = app(true, base);
    feed(&mut app, demo::events(base, 2, 4));
    for (b, s) in [(0, 2), (1, 1)] {
        let q = demo::question(at(b, s), "screen", "Dead pixels?", &["no", "yes"]);
        feed(&mut app, [line(LineEvent::Asking(q))]);
    }
    assert_eq!(app.asking(), vec![at(0, 2), at(0, 3), at(1, 1)]);
    feed(&mut app, [key(KeyCode::Tab)]);
    assert_eq!(app.selected, at(0, 2));
    feed(&mut app, [key(KeyCode::Tab), key(KeyCode::Tab)]);
    assert_eq!(app.selected, at(1, 1));
    assert_eq!(app.focused_question().unwrap().at, at(1, 1));
    feed(&mut app, [key(KeyCode::Tab)]);
    assert_eq!(app.selected, at(0, 2));
    feed(&mut app, [key(KeyCode::BackTab)]);
    assert_eq!(app.selected, at(1, 1));
    feed(
        &mut app,
        [line(LineEvent::Withdrawn {
            at: at(1, 1),
            prompt: "screen".into(),
        })],
    );
    assert_eq!(app.asking(), vec![at(0, 2), at(0, 3)]);
}

#[test]
fn a_new_alarm_rings_once_and_is_acknowledged_then_cleared() {
    let base = Instant::now();
    let mut app = app(true, base);
    feed(&mut app, demo::events(base, 4, 2));
    let a = demo::alarm(
        3,
        "bench-4 (/dev/ttyACM3) disconnected: unplugged",
        "check its cable",
    );
    assert_eq!(
        feed(&mut app, [line(LineEvent::Alarm(a.clone()))]),
        vec![Effect::Bell]
    );
    assert_eq!(feed(&mut app, [line(LineEvent::Alarm(a.clone()))]), vec![]);
    assert!(matches!(app.shown(at(3, 0)), Shown::Fault(_)));
    assert_eq!(
        app.shown(at(0, 1)),
        Shown::Waiting,
        "other benches keep showing"
    );
    feed(&mut app, [key(KeyCode::Char('a'))]);
    assert!(app.alarms.iter().all(|r| r.acked));
    feed(
        &mut app,
        [line(LineEvent::AlarmCleared { key: a.key.clone() })],
    );
    assert!(app.alarms.is_empty());
    feed(&mut app, [line(LineEvent::JigBack { bench: 3 })]);
    assert!(!matches!(app.shown(at(3, 0)), Shown::Fault(_)));
}

#[test]
fn quitting_with_phones_under_test_asks_first_then_drains_then_stops_now() {
    let base = Instant::now();
    let mut app = app(true, base);
    feed(&mut app, demo::events(base, 1, 4));
    assert_eq!(app.under_test(), 2);
    assert!(feed(&mut app, [key(KeyCode::Char('q'))]).is_empty());
    assert!(matches!(app.overlay, Overlay::Confirm(Confirm::Drain)));
    assert!(feed(&mut app, [key(KeyCode::Char('n'))]).is_empty());
    assert!(matches!(app.overlay, Overlay::None));
    feed(&mut app, [key(KeyCode::Char('q'))]);
    assert_eq!(
        feed(&mut app, [key(KeyCode::Char('y'))]),
        vec![Effect::Stop(Stop::Drain)]
    );
    assert_eq!(app.stopping, Some(Stop::Drain));
    // A second q asks again, for a stop now; Q does it at once.
    feed(&mut app, [key(KeyCode::Char('q'))]);
    assert!(matches!(app.overlay, Overlay::Confirm(Confirm::Now)));
    feed(&mut app, [key(KeyCode::Esc)]);
    assert_eq!(
        feed(
            &mut app,
            [AppEvent::Key(KeyEvent::new(
                KeyCode::Char('Q'),
                KeyModifiers::SHIFT
            ))]
        ),
        vec![Effect::Stop(Stop::Now)]
    );
    assert_eq!(
        feed(&mut app, [AppEvent::LineEnded]),
        vec![Effect::Quit(Quit::Now)]
    );
}

#[test]
fn quitting_an_idle_line_drains_at_once_and_a_line_that_ends_waits_for_a_key() {
    let base = Instant::now();
    let mut idle = app(true, base);
    assert_eq!(
        feed(&mut idle, [key(KeyCode::Char('q'))]),
        vec![Effect::Stop(Stop::Drain)]
    );
    assert_eq!(
        feed(&mut idle, [AppEvent::LineEnded]),
        vec![Effect::Quit(Quit::Drained)]
    );

    let mut ended = app(true, base);
    assert!(feed(&mut ended, [AppEvent::LineEnded]).is_empty());
    assert_eq!(
        feed(&mut ended, [key(KeyCode::Char('x'))]),
        vec![Effect::Quit(Quit::LineEnded)]
    );
}

#[test]
fn a_lookup_checks_the_imei_and_shows_only_its_own_result() {
    let mut app = app(true, Instant::now());
    feed(&mut app, [key(KeyCode::Char('/'))]);
    feed(&mut app, typing("35x"));
    assert!(feed(&mut app, [key(KeyCode::Enter)]).is_empty());
    match &app.overlay {
        Overlay::Lookup(l) => assert!(l.error.as_deref().unwrap().contains("not an IMEI")),
        other => panic!("{other:?}"),
    }
    feed(
        &mut app,
        [
            key(KeyCode::Backspace),
            key(KeyCode::Backspace),
            key(KeyCode::Backspace),
        ],
    );
    feed(&mut app, typing("35-693803-564380-9"));
    assert_eq!(
        feed(&mut app, [key(KeyCode::Enter)]),
        vec![Effect::Lookup("356938035643809".into())]
    );
    feed(
        &mut app,
        [AppEvent::Looked {
            imei: "1".into(),
            text: "stale".into(),
        }],
    );
    feed(
        &mut app,
        [AppEvent::Looked {
            imei: "356938035643809".into(),
            text: "IMEI 356938035643809: 0 runs, newest first".into(),
        }],
    );
    match &app.overlay {
        Overlay::Lookup(l) => {
            assert_eq!(l.result.as_ref().unwrap().0, "356938035643809");
            assert!(l.pending.is_none());
        }
        other => panic!("{other:?}"),
    }
    // `q` is typed into the IMEI field, never a quit.
    assert!(feed(&mut app, [key(KeyCode::Char('q'))]).is_empty());
    feed(&mut app, [key(KeyCode::Esc)]);
    assert!(matches!(app.overlay, Overlay::None));
}

#[test]
fn a_graded_phone_shows_until_it_is_taken_out_and_its_bin_until_the_next_phone() {
    let base = Instant::now();
    let mut app = app(true, base);
    feed(&mut app, demo::events(base, 1, 8));
    assert_eq!(app.shown(at(0, 4)), Shown::Done);
    assert_eq!(app.shown(at(0, 6)), Shown::Waiting);
    assert_eq!(app.shift.graded, 3);
    // Slot 6's phone was graded last and taken out: its bin still shows.
    assert_eq!(app.big_slot(), Some(at(0, 6)));
    app.selected = at(0, 4);
    assert_eq!(app.big_slot(), Some(at(0, 4)));
    app.selected = at(0, 0);
    feed(&mut app, [line(LineEvent::PhoneRemoved { at: at(0, 4) })]);
    assert_eq!(app.shown(at(0, 4)), Shown::Waiting);
    // The last graded phone's bin stays in the result panel after it is taken out.
    let last = app.big_slot().unwrap();
    assert!(app
        .slot(last)
        .unwrap()
        .phone
        .as_ref()
        .unwrap()
        .graded
        .is_some());
}

#[tokio::test]
async fn the_loop_answers_stops_and_returns_when_the_line_closes() {
    let base = Instant::now();
    let person = Person::new(Some("alice".into()));
    let (events_tx, events_rx) = mpsc::channel(64);
    let (stop_tx, mut stop_rx) = watch::channel(Stop::Run);
    let (keys_tx, keys_rx) = mpsc::unbounded_channel::<std::io::Result<Event>>();
    let seams = Seams {
        events: events_rx,
        person: Arc::clone(&person),
        lookup: Arc::new(|imei: &str| format!("IMEI {imei}: 0 runs")),
        stop: stop_tx,
        bins: Bins::default(),
        title: "test".into(),
        log_file: PathBuf::from("line.log"),
    };
    let app = App::new(
        Arc::clone(&person),
        Bins::default(),
        "test".into(),
        "l".into(),
        false,
        base,
    );
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    let keys = tokio_stream(keys_rx);
    let ui =
        tokio::spawn(
            async move { super::drive(&mut terminal, app, seams, keys, |_| Ok(())).await },
        );
    let q = demo::question(at(0, 0), "cosmetic", "Cosmetic grade?", &["A", "B"]);
    let asked = person.ask(q.clone());
    events_tx
        .send(LineEvent::JigConnected {
            bench: 0,
            name: "bench-1".into(),
            port: "p".into(),
            serial: "s".into(),
            firmware: "f".into(),
            slots: 1,
        })
        .await
        .unwrap();
    events_tx.send(LineEvent::Asking(q)).await.unwrap();
    // Give the loop the events before the key.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let press = |c: char| {
        Ok(Event::Key(KeyEvent::new(
            KeyCode::Char(c),
            KeyModifiers::NONE,
        )))
    };
    keys_tx.send(press('1')).unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(5), asked)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answer.choice, "A");
    // Phone under test: q asks, y drains.
    keys_tx.send(press('q')).unwrap();
    keys_tx.send(press('y')).unwrap();
    tokio::time::timeout(
        Duration::from_secs(5),
        stop_rx.wait_for(|s| *s == Stop::Drain),
    )
    .await
    .unwrap()
    .unwrap();
    drop(events_tx);
    let quit = tokio::time::timeout(Duration::from_secs(5), ui)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(quit, Quit::Drained);
}

/// A stream of an unbounded receiver.
fn tokio_stream<T: Send + 'static>(
    mut rx: mpsc::UnboundedReceiver<T>,
) -> impl futures::Stream<Item = T> + Unpin {
    Box::pin(futures::stream::poll_fn(move |cx| rx.poll_recv(cx)))
}
