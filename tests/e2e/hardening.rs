//! Hardening: nobody but the benchctl holding a data directory is believed on its socket; the
//! directory is private whatever the umask; an interrupted export leaves no file behind; closed
//! pipes, huge values and bad periods get an exit code and a bounded message, never a panic;
//! a flood of connections cannot exhaust the running line.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use benchctl::store::entry::seq_key;
use wait_timeout::ChildExt;

use crate::harness::{benchctl, cli, close_raw, fill, finish, fresh_dir, stderr, RUN_ONE};

/// How long any condition below may take to come true.
const DEADLINE: Duration = Duration::from_secs(30);

/// A stand-in for `benchctl run` holding a data directory, in Python: it takes the lock, writes
/// a pid into the lock file, binds `benchctl.sock` and answers every query with `answer` (an
/// output frame, then the end frame with exit code 0), or, with `stall`, says `query` on its
/// standard output and sends part of an answer, then nothing more.
///
/// `split`: a child process holds the lock and its pid is in the lock file, while the parent
/// answers. `nobody`: it answers as uid 65534 (setuid after bind, before listen, which is
/// when the kernel records the peer's credentials). The child ends when standard input closes.
const IMPOSTOR: &str = r#"
import fcntl, os, socket, struct, sys, threading
data, mode, answer = sys.argv[1], sys.argv[2], sys.argv[3].encode()
lock = open(os.path.join(data, "benchctl.lock"), "a+")
fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
holder = os.getpid()
if mode == "split":
    child = os.fork()
    if child == 0:
        sys.stdin.read()
        os._exit(0)
    holder = child
lock.seek(0); lock.truncate(); lock.write(str(holder)); lock.flush()
path = os.path.join(data, "benchctl.sock")
try:
    os.remove(path)
except FileNotFoundError:
    pass
s = socket.socket(socket.AF_UNIX)
s.bind(path)
if mode == "nobody":
    os.setgid(65534); os.setuid(65534)
s.listen(64)
print("ready", flush=True)
def frame(kind, b):
    return kind + struct.pack(">I", len(b)) + b
def serve(c):
    buf = b""
    while not buf.endswith(b"\n"):
        d = c.recv(65536)
        if not d:
            return
        buf += d
    if mode == "stall":
        print("query", flush=True)
        c.sendall(frame(b"o", b"seq,imei\n"))
        threading.Event().wait()
    c.sendall(frame(b"o", answer) + frame(b"n", b"") + frame(b"x", b"\x00"))
    c.close()
def stdin_closed():
    sys.stdin.read()
    os._exit(0)
threading.Thread(target=stdin_closed, daemon=True).start()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"#;

/// A running impostor; killed (with its child) when dropped.
struct Impostor {
    child: Child,
    out: BufReader<std::process::ChildStdout>,
}

impl Impostor {
    fn start(data: &Path, mode: &str, answer: &str) -> Impostor {
        let mut child = Command::new("python3")
            .args(["-c", IMPOSTOR])
            .arg(data)
            .args([mode, answer])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        let mut imp = Impostor { child, out };
        imp.expect("ready");
        imp
    }

    /// Waits for the impostor to print `what`.
    fn expect(&mut self, what: &str) {
        let mut line = String::new();
        self.out.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), what, "the impostor did not say {what}");
    }
}

impl Drop for Impostor {
    fn drop(&mut self) {
        // Closing its standard input ends the child that holds the lock.
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A filled store, its head as an export states it, and the store rewritten behind it (the
/// last record removed).
fn rewritten_store() -> (PathBuf, String) {
    let data = fresh_dir();
    let printed = fill(&data, 3, 21, &[]);
    let last = printed.iter().find(|r| r["store"]["seq"] == 3).unwrap();
    let head = format!("3:{}", last["store"]["hash"].as_str().unwrap());
    let db = benchctl::store::raw_db(&data).unwrap();
    db.open_tree("records").unwrap().remove(seq_key(3)).unwrap();
    close_raw(db, &data);
    (data, head)
}

#[test]
fn an_impostor_answering_the_audit_socket_is_not_believed() {
    let (data, head) = rewritten_store();
    // Without an impostor, the rewrite is caught.
    let out = cli(&["verify", "--head", &head], &data);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let claim = format!(
        "{}: 3 records verified: complete and unchanged; chain head {head}\n",
        data.display()
    );
    // The process holding the lock is not the one answering; then one answers as another user.
    for mode in ["split", "nobody"] {
        let impostor = Impostor::start(&data, mode, &claim);
        let out = cli(&["verify", "--head", &head], &data);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{mode}: {err}");
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("verified"),
            "{mode}: the impostor was believed"
        );
        assert!(
            err.contains("is not the benchctl that holds the directory")
                && err.contains("its answer is not trusted")
                && err.contains(&format!("pid {}", impostor.child.id())),
            "{mode}: {err}"
        );
        drop(impostor);
    }
}

/// Mode bits of `p`.
fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().mode() & 0o7777
}

/// Every directory under `dir` (itself included) is 0700 and every file 0600.
fn assert_private(dir: &Path) {
    assert_eq!(mode(dir), 0o700, "{}", dir.display());
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            assert_private(&p);
        } else {
            assert_eq!(mode(&p), 0o600, "{}", p.display());
        }
    }
}

/// `benchctl ARGS --data DATA` run by `sh` under `umask`.
fn with_umask(umask: &str, args: &[&str], data: &Path) -> Output {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(format!(
            "umask {umask}; exec \"$0\" \"$@\" --data \"$DATA\""
        ))
        .arg(env!("CARGO_BIN_EXE_benchctl"))
        .args(args)
        .env("DATA", data)
        .env("RUST_LOG", "warn");
    finish(c)
}

#[test]
fn the_data_directory_is_private_whatever_the_umask() {
    for umask in ["000", "022"] {
        let data = fresh_dir().join("new/data");
        let run = [
            "run",
            "--sim",
            "2",
            "--headless",
            "--time-scale",
            "0",
            "--count",
            "4",
        ];
        let out = with_umask(umask, &run, &data);
        assert!(out.status.success(), "umask {umask}: {}", stderr(&out));
        assert_private(&data);
        for args in [&["verify"][..], &["export", "--format", "csv"]] {
            let out = with_umask(umask, args, &data);
            assert!(out.status.success(), "umask {umask}: {}", stderr(&out));
            assert_private(&data);
        }
    }
    // A store made by an older benchctl under umask 022 is made private when opened.
    let data = fresh_dir();
    fill(&data, 1, 3, &[]);
    for p in [
        data.clone(),
        data.join("records"),
        data.join("benchctl.lock"),
    ] {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let out = cli(&["verify"], &data);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_private(&data);
    // Nobody else can take the lock.
    let out = finish({
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "flock",
            "-n",
        ])
        .arg(data.join("benchctl.lock"))
        .arg("true");
        c
    });
    assert!(!out.status.success(), "another user took the lock");
}

#[test]
fn a_data_directory_others_can_write_or_another_user_owns_is_refused() {
    let data = fresh_dir();
    fill(&data, 1, 4, &[]);
    let chmod = |m| std::fs::set_permissions(&data, std::fs::Permissions::from_mode(m)).unwrap();
    for m in [0o777, 0o770, 0o1777] {
        chmod(m);
        for args in [&RUN_ONE[..], &["verify"], &["export", "--format", "csv"]] {
            let out = cli(args, &data);
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(1), "{args:?} {m:o}: {err}");
            assert!(
                err.contains(&format!("data directory {} is not private", data.display()))
                    && err.contains("others can write it")
                    && err.contains(&format!("chmod 700 {}", data.display())),
                "{err}"
            );
            assert!(out.stdout.is_empty());
            // Left as it was, for whoever looks into it.
            assert_eq!(mode(&data), m);
        }
    }
    chmod(0o700);
    nix::unistd::chown(&data, Some(nix::unistd::Uid::from_raw(65534)), None).unwrap();
    let out = cli(&["verify"], &data);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("it belongs to another user (uid 65534")
            && err.contains("run benchctl as the user that owns it"),
        "{err}"
    );
    nix::unistd::chown(&data, Some(nix::unistd::Uid::from_raw(0)), None).unwrap();
    let out = cli(&["verify"], &data);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// Names in `dir`.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn an_interrupted_export_leaves_no_temporary_file() {
    use nix::sys::signal::{kill, Signal};
    // A line that answers exports slowly: part of an answer, then nothing.
    let data = fresh_dir();
    std::fs::create_dir(data.join("records")).unwrap();
    let mut line = Impostor::start(&data, "stall", "");
    let outdir = fresh_dir();
    let file = outdir.join("out.csv");
    for signal in [
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGKILL,
    ] {
        let mut child = benchctl()
            .args(["export", "--format", "csv", "--data"])
            .arg(&data)
            .arg("--out")
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Its query reached the line: the temporary file is there and being written.
        line.expect("query");
        let temp = format!(".benchctl-export-{}-", child.id());
        assert!(
            names(&outdir).iter().any(|n| n.starts_with(&temp)),
            "{:?}",
            names(&outdir)
        );
        kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
        let status = child.wait_timeout(DEADLINE).unwrap().unwrap();
        // It dies of the signal, as a shell expects.
        assert_eq!(status.signal(), Some(signal as i32), "{signal}");
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        if signal == Signal::SIGKILL {
            // Nothing runs on SIGKILL: the next export into that directory sweeps it.
            assert!(names(&outdir).iter().any(|n| n.starts_with(&temp)));
        } else {
            assert!(
                err.contains(&format!("stopped by {signal}; the export was not written")),
                "{err}"
            );
            assert_eq!(names(&outdir), Vec::<String>::new(), "after {signal}");
        }
    }
    drop(line);
    let real = fresh_dir();
    fill(&real, 1, 8, &[]);
    // The temporary file of an export that still runs is left alone.
    let alive = format!(".benchctl-export-{}-keep", std::process::id());
    std::fs::write(outdir.join(&alive), b"").unwrap();
    let out = cli(
        &["export", "--format", "csv", "--out", file.to_str().unwrap()],
        &real,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(names(&outdir), vec![alive, "out.csv".to_string()]);
}

/// A pipe whose reading end is already closed: every write to it fails with EPIPE.
fn closed_pipe() -> Stdio {
    let (read, write) = nix::unistd::pipe().unwrap();
    drop(read);
    Stdio::from(write)
}

/// Runs `cmd` with `stdout` and `stderr` to completion (bounded by [`DEADLINE`]).
fn run_with(mut cmd: Command, stdout: Stdio, stderr: Stdio) -> std::process::ExitStatus {
    let mut child = cmd.stdout(stdout).stderr(stderr).spawn().unwrap();
    match child.wait_timeout(DEADLINE).unwrap() {
        Some(s) => s,
        None => {
            let _ = child.kill();
            panic!("benchctl hung: {cmd:?}");
        }
    }
}

#[test]
fn closed_output_and_error_streams_never_panic() {
    let data = fresh_dir();
    fill(&data, 2, 9, &[]);
    let plan = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../test-plans/standard-refurb.toml"
    );
    let cmd = |args: &[&str]| {
        let mut c = benchctl();
        c.args(args).arg("--data").arg(&data);
        c
    };
    let plan_check = || {
        let mut c = benchctl();
        c.args(["plan", "check", plan]);
        c
    };
    // Standard output closed (`| head -c10` once head has gone): quiet, exit 0.
    for c in [
        plan_check(),
        cmd(&["verify"]),
        cmd(&["export", "--format", "csv"]),
        cmd(&["export", "--format", "json"]),
    ] {
        let shown = format!("{c:?}");
        let status = run_with(c, closed_pipe(), Stdio::null());
        assert_eq!(status.code(), Some(0), "{shown}");
    }
    // Standard error a broken pipe, on success and on failure: the exit code still tells.
    for (c, code) in [
        (cmd(&["verify"]), 0),
        (cmd(&["export", "--format", "csv"]), 0),
        (cmd(&["verify", "--head", "1:00"]), 2),
        (cmd(&["history", "000000000000000"]), 1),
        (plan_check(), 0),
    ] {
        let shown = format!("{c:?}");
        let status = run_with(c, Stdio::null(), closed_pipe());
        assert_eq!(status.code(), Some(code), "{shown}");
    }
    // Standard error closed (`2>&-`).
    let status = run_with(
        {
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg("exec \"$0\" verify --data \"$DATA\" 2>&-")
                .arg(env!("CARGO_BIN_EXE_benchctl"))
                .env("DATA", &data);
            c
        },
        Stdio::null(),
        Stdio::null(),
    );
    assert_eq!(status.code(), Some(0));
    // Both broken, and no store there: the exit code still says it.
    let mut c = benchctl();
    c.args(["verify", "--data"]).arg(fresh_dir().join("none"));
    assert_eq!(run_with(c, closed_pipe(), closed_pipe()).code(), Some(1));
}

#[test]
fn a_huge_plan_id_gives_a_short_error() {
    let plans = concat!(env!("CARGO_MANIFEST_DIR"), "/../test-plans/");
    let standard = std::fs::read_to_string(format!("{plans}standard-refurb.toml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Within the 1 MiB a plan may hold: uppercase (not a plain name), lowercase (too long).
    for id in ["A".repeat(900_000), "a".repeat(900_000)] {
        let plan = dir.path().join("huge.toml");
        std::fs::write(
            &plan,
            standard.replacen("id = \"standard-refurb\"", &format!("id = \"{id}\""), 1),
        )
        .unwrap();
        let out = finish({
            let mut c = benchctl();
            c.args(["plan", "check"]).arg(&plan);
            c
        });
        let err = stderr(&out);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{}",
            &err[..err.len().min(2000)]
        );
        assert!(err.len() < 4096, "{} bytes of error", err.len());
        assert!(err.contains("huge.toml:6:6: plan id `"), "{err}");
        assert!(err.contains("… (900000 bytes)"), "{err}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn bad_periods_are_refused_with_exit_2() {
    let data = fresh_dir();
    for (args, expect) in [
        (
            &["--since", "2026-11-23T08:00:00+99:00"][..],
            "RFC 3339 offsets go from -23:59 to +23:59",
        ),
        (
            &["--until", "2026-11-23T08:00:00-24:00"],
            "RFC 3339 offsets go from -23:59 to +23:59",
        ),
        (
            &["--since", "2026-11-24", "--until", "2026-11-23"],
            "--since 2026-11-24 is not before --until 2026-11-23",
        ),
        (
            &[
                "--since",
                "2026-11-23T02:00:00+02:00",
                "--until",
                "2026-11-23",
            ],
            "is not before --until",
        ),
    ] {
        let out = cli(&[&["export", "--format", "csv"], args].concat(), &data);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(expect), "{err}");
    }
    // ±23:59 is an offset (the export then finds no store there).
    let out = cli(
        &[
            "export",
            "--format",
            "csv",
            "--since",
            "2026-11-23T08:00:00+23:59",
        ],
        &data,
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("no record store"), "{}", stderr(&out));
}

/// Threads of process `pid`.
fn threads(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Reads one frame of the audit socket: its kind and bytes.
fn frame(conn: &mut UnixStream) -> (u8, Vec<u8>) {
    let mut head = [0u8; 5];
    conn.read_exact(&mut head).unwrap();
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    let mut bytes = vec![0; len];
    conn.read_exact(&mut bytes).unwrap();
    (head[0], bytes)
}

#[test]
fn a_flood_of_idle_connections_is_bounded_and_auditors_are_still_answered() {
    let data = fresh_dir();
    let mut line = benchctl()
        .args([
            "run",
            "--sim",
            "1",
            "--headless",
            "--time-scale",
            "0",
            "--data",
        ])
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(line.stdout.take().unwrap()).lines();
    // Once it printed a record, it serves audits; what it prints next is read on a thread so
    // that a full pipe never holds it up.
    lines.next().unwrap().unwrap();
    let drain = std::thread::spawn(move || lines.count());
    let socket = data.join("benchctl.sock");
    assert_eq!(mode(&socket), 0o600);
    let pid = line.id();
    let before = threads(pid);
    let mut idle: Vec<UnixStream> = (0..50)
        .map(|_| UnixStream::connect(&socket).unwrap())
        .collect();
    let out = cli(&["verify"], &data);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("verified"));
    let during = threads(pid);
    assert!(
        during <= before + 10,
        "{before} threads before 50 idle connections, {during} with them"
    );
    // Past the limit, a connection is told to try again.
    while idle.len() < 64 {
        idle.push(UnixStream::connect(&socket).unwrap());
    }
    let mut extra = UnixStream::connect(&socket).unwrap();
    let (kind, bytes) = frame(&mut extra);
    let text = String::from_utf8_lossy(&bytes).into_owned();
    assert_eq!((kind, bytes[0]), (b'x', 1), "{text}");
    assert!(text.contains("try again in a moment"), "{text}");
    // An idle connection is closed once its time to send a query is up.
    let (kind, bytes) = frame(&mut idle[0]);
    let text = String::from_utf8_lossy(&bytes).into_owned();
    assert_eq!(kind, b'x', "{text}");
    assert!(text.contains("no query within"), "{text}");
    drop(idle);
    line.kill().unwrap();
    line.wait().unwrap();
    drain.join().unwrap();
}
