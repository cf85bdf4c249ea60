//! Screens as text, at 80x24 and 160x48, on ratatui's `TestBackend`: insta snapshots in
//! `snapshots/`. Review a change with `cargo insta review` (or `INSTA_UPDATE=always`, then
//! read the diff of the `.snap` files).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use crossterm::event::KeyCode;
use ratatui::backend::TestBackend;
use ratatui::style::Color;
use ratatui::Terminal;

use super::app::{App, Overlay};
use super::demo;
use super::render;
use super::tests::{app, feed, key, line, typing};
use crate::grade::{Disposition, Verdict};
use crate::run::event::{LineEvent, SlotId};

const SIZES: [(u16, u16); 2] = [(80, 24), (160, 48)];

/// The screen of `app` at `width` x `height` as text, one line per row.
fn screen(app: &App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|f| render(f, app)).unwrap();
    let buffer = terminal.backend().buffer();
    let mut out = String::new();
    for y in 0..height {
        let row: String = (0..width).map(|x| buffer[(x, y)].symbol()).collect();
        out.push_str(row.trim_end());
        out.push('\n');
    }
    out
}

/// Snapshots `app` at both sizes under `name`.
fn check(name: &str, app: &App) {
    for (w, h) in SIZES {
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), screen(app, w, h));
    }
}

/// A line of six benches of four slots, every state, at 95 s.
fn line_app() -> App {
    let base = Instant::now();
    let mut app = app(true, base);
    feed(&mut app, demo::events(base, 6, 4));
    app.notice = None;
    app
}

#[test]
fn sign_in() {
    let mut app = app(false, Instant::now());
    check("sign_in", &app);
    feed(&mut app, [key(KeyCode::Enter)]);
    check("sign_in_empty", &app);
}

#[test]
fn line_in_every_state() {
    let mut app = line_app();
    // The selected slot is graded: its bin is the large text.
    app.selected = SlotId { bench: 0, slot: 1 };
    check("line_states", &app);
    app.selected = SlotId { bench: 1, slot: 0 };
    check("line_states_selected_done", &app);
}

#[test]
fn several_prompts_waiting() {
    let mut app = line_app();
    for (bench, slot, text, choices) in [
        (
            1,
            1,
            "Any dead pixels on the white screen?",
            &["no", "yes"][..],
        ),
        (
            2,
            2,
            "Does the speaker buzz at full volume?",
            &["no", "slightly", "yes"][..],
        ),
    ] {
        let at = SlotId { bench, slot };
        feed(
            &mut app,
            [line(LineEvent::Asking(demo::question(
                at, "check", text, choices,
            )))],
        );
    }
    feed(&mut app, [key(KeyCode::Tab), key(KeyCode::Tab)]);
    check("prompts", &app);
}

#[test]
fn an_alarm() {
    let mut app = line_app();
    feed(
        &mut app,
        [
            line(LineEvent::Alarm(demo::alarm(
                3,
                "bench-4 (/dev/ttyACM3) disconnected: unplugged",
                "check its USB cable and power; the line waits for it to come back",
            ))),
            line(LineEvent::Alarm(crate::run::event::Alarm {
                key: "disk".into(),
                bench: None,
                what: "the data directory's disk is 95 % full".into(),
                fix: "free space or move the data directory; the line stops at 99 %".into(),
            })),
        ],
    );
    check("alarm", &app);
}

#[test]
fn metrics() {
    let mut app = line_app();
    for (i, (d, m, failing)) in [
        (Disposition::Resale, Some("Excellent"), &[][..]),
        (Disposition::Recycle, None, &["touch", "backlight"][..]),
        (Disposition::Retest, None, &["cc"][..]),
    ]
    .into_iter()
    .enumerate()
    {
        let at = SlotId { bench: 2, slot: 0 };
        let r = demo::record(&format!("9900000000000{i}"), d, m, failing);
        feed(
            &mut app,
            [line(LineEvent::Graded {
                at,
                record: std::sync::Arc::new(r),
                stored: None,
                disposition: d,
                bin: d.as_str().to_uppercase(),
            })],
        );
    }
    feed(&mut app, [key(KeyCode::Char('m'))]);
    check("metrics", &app);
}

#[test]
fn lookup() {
    let mut app = line_app();
    feed(&mut app, [key(KeyCode::Char('l'))]);
    feed(&mut app, typing("12ab"));
    feed(&mut app, [key(KeyCode::Enter)]);
    check("lookup_bad_imei", &app);
    for _ in 0..4 {
        feed(&mut app, [key(KeyCode::Backspace)]);
    }
    feed(&mut app, typing("356938035643809"));
    feed(&mut app, [key(KeyCode::Enter)]);
    let text = "IMEI 356938035643809: 2 runs, newest first\n\n\
        #41  2025-01-02T09:12:44Z  X1 S1  station station-1 bench-1 slot 2  jig J1 firmware 1.2.0\n    \
        resale (Premium), functional 9, cosmetic B, plan standard 3, operator alice\n\n\
        #17  2025-01-01T15:03:10Z  X1 S1  station station-1 bench-2 slot 0  jig J2 firmware 1.2.0\n    \
        retest, functional 0, cosmetic -, plan standard 3, operator bob\n    \
        - step dcir failed: the jig did not answer in time\n";
    feed(
        &mut app,
        [super::event::AppEvent::Looked {
            imei: "356938035643809".into(),
            text: text.into(),
        }],
    );
    check("lookup", &app);
}

#[test]
fn slot_detail_with_the_dcir_chart() {
    let mut app = line_app();
    let at = SlotId { bench: 0, slot: 2 };
    feed(
        &mut app,
        [line(LineEvent::StepFinished {
            at,
            step: Box::new(demo::step(
                "dcir",
                "battery.dcir",
                "battery",
                vec![
                    demo::measured("dcir", 0.118, "ohm", None, Some(0.2), Verdict::Pass),
                    demo::measured(
                        "open_circuit",
                        3.85,
                        "V",
                        Some(3.6),
                        Some(4.4),
                        Verdict::Pass,
                    ),
                    demo::measured("sag", 0.19, "V", None, Some(0.2), Verdict::Marginal),
                ],
            )),
        })],
    );
    app.selected = at;
    feed(&mut app, [key(KeyCode::Char('d'))]);
    assert!(matches!(app.overlay, Overlay::Detail(_)));
    check("detail", &app);
    // A slot whose phone sent no samples says so.
    app.selected = SlotId { bench: 1, slot: 0 };
    check("detail_no_samples", &app);
}

#[test]
fn slot_detail_marks_a_simulated_jig_and_names_the_plan_file() {
    let mut app = line_app();
    let at = SlotId { bench: 1, slot: 0 };
    let mut record = demo::record("356938035649999", Disposition::Resale, None, &[]);
    record.jig.simulated = true;
    feed(
        &mut app,
        [
            line(LineEvent::PhoneIdentified {
                at,
                imei: "356938035649999".into(),
                model: "X1".into(),
            }),
            line(LineEvent::Graded {
                at,
                record: std::sync::Arc::new(record),
                stored: None,
                disposition: Disposition::Resale,
                bin: "RESALE".into(),
            }),
        ],
    );
    app.selected = at;
    feed(&mut app, [key(KeyCode::Char('d'))]);
    let text = screen(&app, 160, 48);
    assert!(
        text.contains("plan standard 1 (5d1e0c7a9b3f) · SIMULATED jig"),
        "{text}"
    );
}

#[test]
fn help() {
    let mut app = line_app();
    feed(&mut app, [key(KeyCode::Char('?'))]);
    check("help", &app);
    feed(&mut app, (0..40).map(|_| key(KeyCode::Down)));
    check("help_scrolled", &app);
}

#[test]
fn stopping() {
    let mut app = line_app();
    feed(&mut app, [key(KeyCode::Char('q'))]);
    check("confirm_quit", &app);
    feed(&mut app, [key(KeyCode::Char('y'))]);
    check("stopping", &app);
}

#[test]
fn sixty_four_slots() {
    let base = Instant::now();
    let mut app = app(true, base);
    feed(&mut app, demo::events(base, 16, 4));
    app.notice = None;
    app.selected = SlotId { bench: 12, slot: 1 };
    check("line_64", &app);
}

#[test]
fn no_color_draws_no_colour() {
    let mut app = line_app();
    let later = app.now + Duration::from_secs(1);
    feed(&mut app, [super::event::AppEvent::Tick(later)]);
    for color in [true, false] {
        app.color = color;
        let mut terminal = Terminal::new(TestBackend::new(160, 48)).unwrap();
        terminal.draw(|f| render(f, &app)).unwrap();
        let coloured = terminal
            .backend()
            .buffer()
            .content()
            .iter()
            .any(|c| c.fg != Color::Reset || c.bg != Color::Reset);
        assert_eq!(coloured, color);
    }
}

#[test]
fn a_bench_whose_jig_is_missing_says_so() {
    let base = Instant::now();
    let mut app = app(true, base);
    feed(
        &mut app,
        [
            line(LineEvent::JigConnected {
                bench: 0,
                name: "packing-1".into(),
                port: "/dev/serial/by-id/usb-Benchline_J1".into(),
                serial: "J1".into(),
                firmware: "0.1.0".into(),
                slots: 2,
            }),
            line(LineEvent::JigMissing {
                bench: 1,
                name: "packing-2".into(),
                serial: "J2".into(),
            }),
        ],
    );
    for (w, h) in SIZES {
        let text = screen(&app, w, h);
        assert!(text.contains("packing-2"), "{text}");
        assert!(text.contains("JIG MISSING"), "{w}x{h}: {text}");
    }
}

#[test]
fn plant_outage() {
    use crate::run::event::{PlantChange, PlantState, Replication};
    let mut app = line_app();
    feed(
        &mut app,
        [line(LineEvent::Plant {
            change: PlantChange::Outage,
            status: Replication {
                state: PlantState::Outage,
                backlog: 7,
                confirmed: 40,
                pushed: 40,
                lag_s: 12,
                error: Some("cannot reach the plant database".into()),
            },
        })],
    );
    check("plant_outage", &app);
}
