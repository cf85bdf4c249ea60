//! The operator's terminal UI, end to end: the real `benchctl run` on a real terminal (a tmux
//! pane, see `tmux.rs`), driven by keys and read from the screen, its records checked in the
//! store afterwards.

use std::collections::BTreeMap;
use std::path::Path;

use benchctl::grade::bin::Bins;
use benchctl::grade::Disposition;
use serde_json::Value;

use crate::harness::*;
use crate::tmux::{quote, screen, Tmux};

const BIN: &str = env!("CARGO_BIN_EXE_benchctl");
/// The pane's size: the operator's screen at its smallest roomy layout.
const WIDTH: u16 = 100;
const HEIGHT: u16 = 30;

/// A shell script running `benchctl ARGS`, then writing its exit status to `exit`.
fn script(args: &[&str], exit: &Path) -> String {
    let mut s = quote(BIN);
    for a in args {
        s.push(' ');
        s.push_str(&quote(a));
    }
    format!("{s}; echo $? > {}", quote(exit.to_str().unwrap()))
}

/// The records in `data`, as `benchctl export --format jsonl` prints them (served by the line
/// when one holds the store).
fn stored(data: &Path) -> Vec<Value> {
    let out = cli(&["export", "--format", "jsonl"], data);
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["record"].clone())
        .collect()
}

/// The words of the screen (split at anything but letters and digits).
fn words(screen: &str) -> Vec<&str> {
    screen
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect()
}

/// The bin labels and dispositions the screen shows, as words of their own.
fn outcomes_shown(screen: &str) -> (Vec<String>, Vec<&'static str>) {
    let bins = Bins::default();
    let w = words(screen);
    let labels = Disposition::ALL
        .iter()
        .map(|d| bins.label(*d).to_string())
        .filter(|l| w.contains(&l.as_str()))
        .collect();
    let dispositions = Disposition::ALL
        .iter()
        .map(|d| d.as_str())
        .filter(|d| w.contains(d))
        .collect();
    (labels, dispositions)
}

/// The choice that the number key `key` selects in the question panel (` 1  A`).
fn choice_for(screen: &str, key: usize) -> Option<String> {
    screen::side_rows(screen).iter().find_map(|row| {
        let rest = row.trim_start().strip_prefix(&format!("{key} "))?;
        Some(rest.trim().to_string()).filter(|c| !c.is_empty())
    })
}

#[test]
fn an_operator_signs_in_answers_every_prompt_and_reads_the_bin_that_is_recorded() {
    let data = fresh_dir();
    let exit = data.join("exit");
    let d = data.to_str().unwrap();
    let run = script(
        &[
            "run",
            "--sim",
            "1",
            "--count",
            "1",
            "--time-scale",
            "0.02",
            "--seed",
            "7",
            "--data",
            d,
        ],
        &exit,
    );
    let t = Tmux::start(&["env", "RUST_LOG=info", "sh", "-c", &run], WIDTH, HEIGHT);
    t.wait_for("Operator ID:");
    t.type_text("op-4711");
    t.keys(&["Enter"]);
    t.wait_for(" op-4711 ");

    // Each prompt as it comes: read the choice key 2 selects, press it.
    let plan = benchctl::plan::Plan::standard().unwrap();
    let mut typed: BTreeMap<String, String> = BTreeMap::new();
    let shown = t.wait_until("every prompt answered and the phone graded", |s| {
        if screen::graded(s) == Some(1) && outcomes_shown(s).0.len() == 1 {
            return Some(s.to_string());
        }
        let panel = screen::side_panel(s);
        let prompt = plan
            .prompts
            .iter()
            .find(|p| !typed.contains_key(&p.id) && panel.contains(&screen::words(&p.question)))?;
        let key = prompt.choices.len().min(2);
        let choice = choice_for(s, key)?;
        assert!(
            prompt.choices.contains(&choice),
            "key {key} shows {choice:?} for {}: {s}",
            prompt.id
        );
        t.keys(&[&key.to_string()]);
        typed.insert(prompt.id.clone(), choice);
        None
    });
    assert_eq!(
        typed.len(),
        plan.prompts.len(),
        "every prompt was asked on the screen: {typed:?}"
    );
    let (bins, dispositions) = outcomes_shown(&shown);
    assert_eq!(bins.len(), 1, "one bin on the screen: {shown}");
    assert_eq!(
        dispositions.len(),
        1,
        "one disposition on the screen: {shown}"
    );

    // The line ended at --count 1: any key leaves (q would ask first with phones under test).
    t.keys(&["q"]);
    assert_eq!(t.wait_file(&exit).trim(), "0", "benchctl's exit status");

    let records = stored(&data);
    assert_eq!(records.len(), 1, "{records:?}");
    let r = &records[0];
    assert_eq!(r["operator"], "op-4711");
    let answers: BTreeMap<String, String> = serde_json::from_value(r["answers"].clone()).unwrap();
    assert_eq!(
        answers, typed,
        "the record holds the choices the keys selected"
    );
    for id in typed.keys() {
        assert_eq!(r["answered_by"][id], "op-4711", "{id}: {r}");
    }
    assert_eq!(r["bin"], bins[0].as_str(), "the bin the screen showed");
    assert_eq!(r["grade"]["disposition"], dispositions[0]);
}

#[test]
fn an_unplugged_jig_raises_an_alarm_naming_its_bench_while_the_others_keep_grading() {
    let data = fresh_dir();
    let exit = data.join("exit");
    let mut jigs: Vec<Option<SimJig>> = (1..=3)
        .map(|i| Some(SimJig::start(&["--serial", &format!("JIG-{i}")])))
        .collect();
    let mut args = vec!["run", "--operator", "op-1", "--time-scale", "0"];
    for j in jigs.iter().flatten() {
        args.extend(["--port", j.path.as_str()]);
    }
    // The jigs are simulated: only a training store records them.
    args.extend(["--data", data.to_str().unwrap(), "--training-store"]);
    let t = Tmux::start(
        &["env", "RUST_LOG=info", "sh", "-c", &script(&args, &exit)],
        WIDTH,
        HEIGHT,
    );
    // Plans always have prompts (the cosmetic grade is the operator's): whoever sits at the
    // bench answers each with its first choice as it comes.
    // The number keys answer the selected slot's question first, so Tab moves on to the
    // next slot waiting, as an operator walking along the benches does.
    let answering = |s: &str| {
        if s.contains("Waiting for you (") {
            t.keys(&["1", "Tab"]);
        }
    };
    t.wait_until("phones graded on every bench", |s| {
        answering(s);
        (screen::graded(s)? >= 6).then_some(())
    });
    let before = stored(&data);
    for bench in ["bench-1", "bench-2", "bench-3"] {
        assert!(
            before.iter().any(|r| r["bench"] == bench),
            "{bench} graded phones: {:?}",
            before
                .iter()
                .map(|r| (r["bench"].clone(), r["jig"]["serial"].clone()))
                .collect::<Vec<_>>()
        );
    }

    jigs[1] = None; // bench-2's jig process is killed: its PTY goes away.
    let alarm = t.wait_until("an alarm naming bench-2", |s| {
        answering(s);
        s.lines()
            .find(|l| l.contains("⚠ bench-2"))
            .map(str::to_string)
    });
    assert!(t.screen().contains("ALARM"), "{alarm}");
    t.keys(&["a"]);
    let acked = t.wait_until("the alarm acknowledged", |s| {
        (!s.contains("⚠ bench-2") && s.contains("⚠ 1 alarm(s)")).then(|| s.to_string())
    });
    assert!(
        acked.contains("bench-2") && acked.contains("JIG LOST"),
        "the bench still shows its fault: {acked}"
    );

    let graded_at_ack = screen::graded(&acked).unwrap();
    let stored_at_ack = stored(&data).len();
    t.wait_until("more phones graded after the alarm", |s| {
        answering(s);
        (screen::graded(s)? >= graded_at_ack + 4).then_some(())
    });
    let after = stored(&data);
    let later = &after[stored_at_ack..];
    assert!(later.len() >= 4, "the store grew: {} records", after.len());
    for bench in ["bench-1", "bench-3"] {
        assert!(
            later.iter().any(|r| r["bench"] == bench),
            "{bench} went on grading: {later:?}"
        );
    }
    assert!(
        later.iter().all(|r| r["bench"] != "bench-2"),
        "nothing graded on the unplugged bench"
    );

    // Stop: asked to confirm while phones are under test, then stop now.
    t.keys(&["q"]);
    let asked = t.wait_until("the stop confirmed or under way", |s| {
        if s.contains("Stop the line?") {
            Some(true)
        } else {
            s.contains("stopping:").then_some(false)
        }
    });
    if asked {
        t.keys(&["y"]);
        t.wait_for("stopping:");
    }
    t.keys(&["Q"]);
    let status = t.wait_file(&exit);
    assert_eq!(status.trim(), "0", "benchctl's exit status");
    drop(jigs);
}

#[test]
fn the_terminal_is_given_back_after_a_panic() {
    let data = fresh_dir();
    let d = quote(data.to_str().unwrap());
    // The pane's shell outlives benchctl (a dead pane's modes would read as reset).
    let run = format!(
        "{} run --sim 1 --data {d}; echo $? > {d}/exit; stty -a > {d}/stty; echo done > {d}/done; exec sleep 120",
        quote(BIN)
    );
    let t = Tmux::start(
        &[
            "env",
            "RUST_LOG=info",
            "RUST_BACKTRACE=0",
            "BENCHCTL_TUI_PANIC=1",
            "sh",
            "-c",
            &run,
        ],
        WIDTH,
        HEIGHT,
    );
    t.wait_file(&data.join("done"));
    let screen = t.screen();
    assert_eq!(
        t.display("#{alternate_on}"),
        "0",
        "the alternate screen was left: {screen}"
    );
    assert_eq!(t.display("#{cursor_flag}"), "1", "the cursor shows again");
    let stty = std::fs::read_to_string(data.join("stty")).unwrap();
    let flags = words_of(&stty);
    for flag in ["icanon", "echo", "isig", "icrnl", "opost"] {
        assert!(
            flags.contains(&flag) && !flags.contains(&format!("-{flag}").as_str()),
            "raw mode is over ({flag}): {stty}"
        );
    }
    let status = std::fs::read_to_string(data.join("exit")).unwrap();
    assert_ne!(status.trim(), "0", "a panicked UI is a failure: {screen}");
    let log = std::fs::read_to_string(data.join("benchctl.log")).unwrap_or_default();
    let message = "BENCHCTL_TUI_PANIC is set";
    assert!(
        log.contains(message),
        "the panic is in the log, which keeps it when the screen scrolls:\n{log}"
    );
    assert!(
        screen.contains(message),
        "the panic message reached the terminal:\n{screen}"
    );
    assert!(
        screen.contains("the terminal UI"),
        "benchctl said why it stopped: {screen}"
    );
}

/// `benchctl ARGS` in the foreground of a pane, its pid written to `data/pid` and its exit
/// status to `data/exit`; the pane's shell stays so the terminal's state can be read after.
fn signalled_run(data: &Path, args: &[&str]) -> Tmux {
    let d = quote(data.to_str().unwrap());
    let mut inner = format!("echo $$ > {d}/pid; exec {}", quote(BIN));
    for a in args {
        inner.push(' ');
        inner.push_str(&quote(a));
    }
    let outer = format!(
        "sh -c {}; echo $? > {d}/exit; exec sleep 120",
        quote(&inner)
    );
    Tmux::start(&["sh", "-c", &outer], WIDTH, HEIGHT)
}

fn terminate(data: &Path) {
    let pid = std::fs::read_to_string(data.join("pid")).unwrap();
    let out = std::process::Command::new("kill")
        .args(["-TERM", pid.trim()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kill: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn sigterm_stops_a_line_with_its_screen_gracefully_before_and_after_sign_in() {
    // Before anyone signed in: the line never started; the screen goes, exit 0.
    let data = fresh_dir();
    let d = data.to_str().unwrap();
    let t = signalled_run(&data, &["run", "--sim", "1", "--data", d]);
    t.wait_for("Operator ID");
    terminate(&data);
    assert_eq!(
        t.wait_file(&data.join("exit")).trim(),
        "0",
        "{}",
        t.screen()
    );
    assert_eq!(t.display("#{alternate_on}"), "0", "{}", t.screen());
    assert!(t.screen().contains("0 phone(s) recorded"), "{}", t.screen());
    // A running line: the phones under test finish, are recorded, and the summary follows.
    let data = fresh_dir();
    let d = data.to_str().unwrap();
    let t = signalled_run(
        &data,
        &[
            "run",
            "--sim",
            "1",
            "--data",
            d,
            "--operator",
            "op-8",
            "--auto-answer",
            "--time-scale",
            "0.02",
        ],
    );
    t.wait_until("a graded phone", |s| screen::graded(s).filter(|n| *n >= 1));
    terminate(&data);
    assert_eq!(
        t.wait_file(&data.join("exit")).trim(),
        "0",
        "{}",
        t.screen()
    );
    assert_eq!(t.display("#{alternate_on}"), "0", "{}", t.screen());
    let summary = t.wait_for("phone(s) recorded");
    let recorded = stored(&data).len();
    assert!(recorded >= 1, "{summary}");
    assert!(
        summary.contains(&format!("benchctl: {recorded} phone(s) recorded")),
        "the summary counts what the store holds ({recorded}): {summary}"
    );
}

fn words_of(text: &str) -> Vec<&str> {
    text.split(|c: char| c.is_whitespace() || c == ';')
        .filter(|w| !w.is_empty())
        .collect()
}
