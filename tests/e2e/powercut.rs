//! Power cuts: a line runs on `powercut-fs` (tests/powercut), a FUSE filesystem that keeps
//! only what was fsynced (file bytes and sizes by `fsync`/`fdatasync`, directory names by
//! `fsyncdir`) when the test cuts the power. After each cut, every record that `benchctl`
//! printed (acknowledged) must be in what the drive kept, and `verify` must pass on it; the
//! next round starts from that state, so later cuts fall on a store that already has records.
//! The random rounds start on a drive where the (empty, private) data directory was made
//! beforehand, as an installer does; a test of its own cuts the power on a data directory
//! that `benchctl` created, whose name in its parent must be made durable too.
//!
//! Needs /dev/fuse and Debian's `fuse3` package (`fusermount3`), which `scripts/test-all.sh`
//! installs, and the `powercut-fs` binary beside `benchctl` (`cargo build -p
//! benchline-powercut`, which `scripts/test-all.sh` runs first).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::Duration;

use benchctl::store::{Store, Use};
use rand::{Rng, SeedableRng};
use serde_json::Value;
use wait_timeout::ChildExt;

use crate::harness::{benchctl, cli, fresh_dir, stderr};

/// Longest wait for any one thing a round waits on: a printed line, the mount, the cut, an exit.
const DEADLINE: Duration = Duration::from_secs(30);

/// `powercut-fs`, built beside `benchctl`; fails saying what to install when FUSE is missing.
fn powercut_fs() -> PathBuf {
    assert!(
        Path::new("/dev/fuse").exists(),
        "/dev/fuse is missing: the power-cut test needs FUSE (load the fuse module; in a \
         container, pass --device /dev/fuse)"
    );
    assert!(
        fusermount3().is_some(),
        "fusermount3 is missing: install Debian's fuse3 package (apt-get install fuse3; \
         scripts/test-all.sh does)"
    );
    let bin = Path::new(env!("CARGO_BIN_EXE_benchctl")).with_file_name("powercut-fs");
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build -p benchline-powercut` (scripts/test-all.sh \
         does before the tests)",
        bin.display()
    );
    bin
}

fn fusermount3() -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("fusermount3"))
        .find(|f| f.exists())
}

/// What a round waits on, from the reader threads of both processes.
#[derive(Debug)]
enum Said {
    /// A line from `benchctl`'s standard output; `None` when it closed.
    Bench(Option<String>),
    /// A line from `powercut-fs`'s standard output; `None` when it closed.
    Fs(Option<String>),
}

/// Sends each line of `out` as `wrap(Some(line))`, then `wrap(None)`.
fn forward(
    out: impl std::io::Read + Send + 'static,
    tx: Sender<Said>,
    wrap: fn(Option<String>) -> Said,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(wrap(Some(line))).is_err() {
                return;
            }
        }
        let _ = tx.send(wrap(None));
    });
}

/// The next thing said, within [`DEADLINE`]; `what` names what the round is waiting for.
fn next(rx: &Receiver<Said>, what: &str) -> Said {
    rx.recv_timeout(DEADLINE)
        .unwrap_or_else(|_| panic!("nothing came within {DEADLINE:?} while waiting for {what}"))
}

/// A mounted `powercut-fs`. Dropping it closes its standard input (it unmounts and exits),
/// and whatever happened, lazily unmounts the mount point.
struct Mount {
    child: Child,
    control: Option<ChildStdin>,
    point: PathBuf,
}

impl Mount {
    /// Mounts on `point`, starting from the contents of `from`, to dump into `dump`; what it
    /// says goes to `tx` (`mounted` once the mount is live, `off ...` after a cut).
    fn start(
        bin: &Path,
        point: &Path,
        dump: &Path,
        from: Option<&Path>,
        tx: &Sender<Said>,
    ) -> Mount {
        std::fs::create_dir_all(point).unwrap();
        let mut cmd = Command::new(bin);
        cmd.arg(point).arg("--dump").arg(dump);
        if let Some(from) = from {
            cmd.arg("--from").arg(from);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        forward(child.stdout.take().unwrap(), tx.clone(), Said::Fs);
        let control = child.stdin.take();
        Mount {
            child,
            control,
            point: point.to_path_buf(),
        }
    }

    /// Cuts the power once `ops` more changing operations have run.
    fn cut_after(&mut self, ops: u64) {
        let control = self.control.as_mut().unwrap();
        writeln!(control, "cut {ops}").unwrap();
        control.flush().unwrap();
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        drop(self.control.take());
        if !matches!(self.child.wait_timeout(DEADLINE), Ok(Some(_))) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        // A no-op when powercut-fs unmounted; otherwise a dead mount must not stay behind.
        let _ = Command::new("fusermount3")
            .args(["-u", "-q", "-z"])
            .arg(&self.point)
            .stderr(Stdio::null())
            .status();
    }
}

/// A running `benchctl run`; killed when dropped.
struct Line {
    child: Child,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Line {
    /// `benchctl run` of a line of 4 jigs with 4 slots, headless, until killed; its printed
    /// lines go to `tx`.
    fn start(data: &Path, seed: u64, tx: &Sender<Said>) -> Line {
        let mut child = benchctl()
            .args(["run", "--sim", "4", "--slots", "4", "--headless"])
            .args(["--time-scale", "0", "--seed", &seed.to_string()])
            .arg("--data")
            .arg(data)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        forward(child.stdout.take().unwrap(), tx.clone(), Said::Bench);
        let err = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || std::io::read_to_string(err).unwrap_or_default());
        Line {
            child,
            stderr: Some(stderr),
        }
    }

    /// Kills it (SIGKILL) and waits for it to go.
    fn kill(&mut self) {
        let _ = self.child.kill();
        assert!(
            self.child.wait_timeout(DEADLINE).unwrap().is_some(),
            "benchctl outlived SIGKILL for {DEADLINE:?}"
        );
    }

    /// Fails the test: it stopped on its own before the cut.
    fn stopped(&mut self, round: u64) -> ! {
        let exited = self.child.wait_timeout(DEADLINE).ok().flatten();
        let err = match (exited, self.stderr.take()) {
            (Some(_), Some(t)) => t.join().unwrap_or_default(),
            _ => String::new(),
        };
        panic!("round {round}: benchctl stopped before the cut ({exited:?}): {err}")
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every printed record is in the store of `data`, with the hash it was printed with and
/// byte for byte the body (bar the `store` field it gained when printed).
fn assert_kept(data: &Path, printed: &[Value], when: &str) {
    if printed.is_empty() {
        return;
    }
    assert!(
        data.is_dir(),
        "{when}: {} records were printed but the data directory did not survive",
        printed.len()
    );
    let out = cli(&["verify"], data);
    assert!(
        out.status.success(),
        "{when}: verify failed on what the drive kept:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
    let store = Store::open(data, Use::Read).unwrap();
    let head = store.head().map_or(0, |h| h.seq);
    let mut lost = Vec::new();
    for line in printed {
        let seq = line["store"]["seq"].as_u64().unwrap();
        let Some(entry) = store.get(seq).unwrap() else {
            lost.push(seq);
            continue;
        };
        assert_eq!(
            benchctl::store::hex(&entry.hash),
            line["store"]["hash"],
            "{when}: record {seq} has another hash than printed"
        );
        let mut line = line.clone();
        line.as_object_mut().unwrap().remove("store");
        let stored: Value = serde_json::from_slice(&entry.body).unwrap();
        assert_eq!(
            stored, line,
            "{when}: record {seq} differs from what was printed"
        );
    }
    lost.sort_unstable();
    assert!(
        lost.is_empty(),
        "{when}: {} of {} printed records lost by the power cut (store head {head}): seq {:?}{}",
        lost.len(),
        printed.len(),
        &lost[..lost.len().min(12)],
        if lost.len() > 12 { " …" } else { "" }
    );
}

/// Takes in what `benchctl` said before the cut; false when its output closed.
fn note(round: u64, said: Said, bench_open: &mut bool, printed: &mut Vec<Value>) -> bool {
    match said {
        Said::Bench(Some(l)) => {
            printed.push(serde_json::from_str(&l).unwrap());
            true
        }
        Said::Bench(None) => {
            *bench_open = false;
            false
        }
        Said::Fs(l) => panic!("round {round}: powercut-fs said {l:?} before the cut"),
    }
}

/// Where a round cuts the power: after `lines` printed records, then `ops` operations that
/// change the filesystem, so that it falls anywhere inside a commit (its writes, its syncs)
/// or inside the creation of the store.
#[derive(Debug, Clone, Copy)]
struct Moment {
    lines: usize,
    ops: u64,
}

/// One power cut: mounts `powercut-fs` on `root/mnt-ROUND` with the contents of `from`, runs
/// a line on its `data` directory, cuts the power at `moment`, kills the line, and checks
/// that every record in `printed` (with those printed now, added) is in what the drive kept
/// and that `verify` passes on it. Returns that state (`root/dump-ROUND`).
fn cut_once(
    bin: &Path,
    root: &Path,
    round: u64,
    from: Option<&Path>,
    moment: Moment,
    printed: &mut Vec<Value>,
) -> PathBuf {
    let (tx, rx) = mpsc::channel();
    let dump = root.join(format!("dump-{round}"));
    let mut mount = Mount::start(bin, &root.join(format!("mnt-{round}")), &dump, from, &tx);
    match next(&rx, "powercut-fs to mount") {
        Said::Fs(Some(l)) if l == "mounted" => {}
        other => panic!("round {round}: powercut-fs did not mount: {other:?}"),
    }
    let mut line = Line::start(&mount.point.join("data"), round, &tx);
    let mut bench_open = true;
    let mut seen = 0;
    while seen < moment.lines {
        if !note(
            round,
            next(&rx, "a printed record"),
            &mut bench_open,
            printed,
        ) {
            line.stopped(round);
        }
        seen += 1;
    }
    mount.cut_after(moment.ops);
    let off = loop {
        // benchctl may stop on the cut's first EIO before the dump is written: once its
        // output closed, a cut that never comes means it stopped for another reason.
        let said = if bench_open {
            next(&rx, "the power cut")
        } else {
            rx.recv_timeout(DEADLINE)
                .unwrap_or_else(|_| line.stopped(round))
        };
        match said {
            Said::Fs(Some(l)) if l.starts_with("off") => break l,
            Said::Fs(other) => panic!("round {round}: powercut-fs said {other:?}"),
            said => {
                note(round, said, &mut bench_open, printed);
            }
        }
    };
    // The machine is off. Whatever benchctl prints after the cut was acknowledged before it
    // (a sync after the cut fails), so it counts too.
    line.kill();
    while bench_open {
        match next(&rx, "benchctl's output to close") {
            Said::Bench(Some(l)) => {
                if let Ok(v) = serde_json::from_str(&l) {
                    printed.push(v);
                }
            }
            Said::Bench(None) => bench_open = false,
            Said::Fs(_) => {}
        }
    }
    drop(mount);
    let when = format!(
        "round {round} (cut {} operations after record {}; {off})",
        moment.ops, moment.lines
    );
    assert_kept(&dump.join("data"), printed, &when);
    eprintln!("{when}: all {} printed records kept", printed.len());
    dump
}

/// A drive on which an installer made the (empty, private) data directory.
fn installed(root: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let seed = root.join("installed");
    std::fs::create_dir_all(seed.join("data")).unwrap();
    std::fs::set_permissions(seed.join("data"), std::fs::Permissions::from_mode(0o700)).unwrap();
    seed
}

#[test]
fn power_cuts_at_random_moments_never_lose_a_printed_record() {
    let bin = powercut_fs();
    let root = fresh_dir();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let mut printed: Vec<Value> = Vec::new();
    let mut from = installed(&root);
    let rounds = 10u64;
    for round in 0..rounds {
        // The first cuts fall while the store is created (it takes about 20 changing
        // operations) or soon after; the later ones on a store with records.
        let moment = match round {
            0 | 1 => Moment {
                lines: 0,
                ops: rng.gen_range(0..40),
            },
            _ => Moment {
                lines: rng.gen_range(0..10),
                ops: rng.gen_range(0..400),
            },
        };
        from = cut_once(&bin, &root, round, Some(&from), moment, &mut printed);
    }
    assert!(
        printed.len() >= 20,
        "only {} records printed in {rounds} rounds",
        printed.len()
    );
    // Kept when a check failed, to look into; 10 dumps of a few MB otherwise.
    let _ = std::fs::remove_dir_all(&root);
}

/// `benchctl` creates a missing `--data` directory: the new name survives a cut only once
/// its parent directory has been synced.
#[test]
fn a_data_directory_that_benchctl_creates_survives_a_power_cut() {
    let bin = powercut_fs();
    let root = fresh_dir();
    let mut printed = Vec::new();
    cut_once(
        &bin,
        &root,
        0,
        None,
        Moment { lines: 3, ops: 0 },
        &mut printed,
    );
    let _ = std::fs::remove_dir_all(&root);
}
