//! A small tmux driver: the real binary on a real terminal (a tmux pane), keys sent with
//! `send-keys`, the screen read with `capture-pane`.
//!
//! Each [`Tmux`] starts its own tmux server on a socket of its own (`tmux -L <name>`), so tests
//! run in parallel without seeing each other's sessions, and kills it when dropped (on failure
//! too): the processes in its pane get SIGHUP. Waiting is event-driven, with a hard deadline:
//! the pane's output is piped (`pipe-pane`) into a FIFO and a waiting test wakes when output
//! arrives (or, for a file, when inotify says its directory changed), then checks its condition
//! again.

use std::fs::File;
use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

/// How long any one condition is waited for; past it the test fails with the screen.
pub const DEADLINE: Duration = Duration::from_secs(60);
/// The session's name inside its server.
const SESSION: &str = "e2e";

/// A tmux server with one session of one pane running a command.
pub struct Tmux {
    socket: String,
    /// The read end of the FIFO the pane's output is piped into (non-blocking).
    output: File,
    /// The pane's output pipe has closed (its program and `cat` are gone).
    closed: std::cell::Cell<bool>,
    /// Holds the FIFO.
    _dir: tempfile::TempDir,
}

impl Tmux {
    /// Starts `argv` (executed directly, no shell) in a detached `width` x `height` pane of a
    /// new tmux server. (To read a terminal's state after a program, keep the pane's process
    /// alive after it, e.g. `sh -c 'program; exec sleep 120'`: a dead pane's modes are reset.)
    pub fn start(argv: &[&str], width: u16, height: u16) -> Tmux {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("output");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        // Opened before any writer, without blocking; reads never block either.
        let output = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_NONBLOCK)
            .open(&fifo)
            .unwrap();
        let tmux = Tmux {
            socket: format!(
                "benchctl-e2e-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ),
            output,
            closed: std::cell::Cell::new(false),
            _dir: dir,
        };
        let (w, h) = (width.to_string(), height.to_string());
        let mut args = vec!["new-session", "-d", "-s", SESSION, "-x", &w, "-y", &h];
        args.extend(argv);
        tmux.run(&args);
        // Every byte the pane's program writes from now on wakes a waiting test.
        let pipe = format!("cat >> {}", quote(fifo.to_str().unwrap()));
        tmux.run(&["pipe-pane", "-O", "-t", SESSION, &pipe]);
        tmux
    }

    /// Blocks until the pane writes something or `also` (an inotify) reports a change, at the
    /// latest until `end`; false once `end` has passed. What was written is discarded: the
    /// caller looks at the screen (or the file) again.
    fn wait_change(&self, also: Option<&Inotify>, end: Instant) -> bool {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        let mut fds = Vec::new();
        if !self.closed.get() {
            fds.push(PollFd::new(self.output.as_fd(), PollFlags::POLLIN));
        }
        if let Some(i) = also {
            fds.push(PollFd::new(i.as_fd(), PollFlags::POLLIN));
        }
        if fds.is_empty() {
            // Nothing left that could change the screen.
            return false;
        }
        let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
        let _ = poll(&mut fds, PollTimeout::from(ms));
        if !self.closed.get() {
            let hung_up = fds[0]
                .revents()
                .is_some_and(|r| r.contains(PollFlags::POLLHUP) && !r.contains(PollFlags::POLLIN));
            self.closed.set(hung_up);
        }
        let mut sink = [0u8; 4096];
        while matches!((&self.output).read(&mut sink), Ok(n) if n > 0) {}
        if let Some(i) = also {
            let _ = i.read_events();
        }
        true
    }

    /// Runs a tmux command on this server; panics when it fails.
    fn run(&self, args: &[&str]) -> Output {
        let out = Command::new("tmux")
            // -u: the screen is UTF-8 whatever the locale; -f: no user configuration.
            .args(["-u", "-f", "/dev/null", "-L", &self.socket])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("tmux runs (scripts/test-all.sh installs it)");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Sends keys as tmux names them (`Enter`, `Escape`, `q`, ...).
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", SESSION];
        args.extend(keys);
        self.run(&args);
    }

    /// Types `text` literally.
    pub fn type_text(&self, text: &str) {
        self.run(&["send-keys", "-t", SESSION, "-l", text]);
    }

    /// The pane's screen as text, one line per row.
    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", SESSION]).stdout)
            .into_owned()
    }

    /// A tmux format expanded for the pane, e.g. `#{alternate_on}`.
    pub fn display(&self, format: &str) -> String {
        String::from_utf8_lossy(
            &self
                .run(&["display-message", "-p", "-t", SESSION, format])
                .stdout,
        )
        .trim()
        .to_string()
    }

    /// Waits until `ready` holds for the screen (or yields a value), looking again each time
    /// the pane writes, within [`DEADLINE`]; panics with `what` and the last screen past it.
    pub fn wait_until<T>(&self, what: &str, mut ready: impl FnMut(&str) -> Option<T>) -> T {
        let end = Instant::now() + DEADLINE;
        loop {
            let screen = self.screen();
            if let Some(v) = ready(&screen) {
                return v;
            }
            assert!(
                self.wait_change(None, end),
                "waited {DEADLINE:?} for {what}; the screen:\n{screen}"
            );
        }
    }

    /// Waits until the screen shows `text`; returns the screen.
    pub fn wait_for(&self, text: &str) -> String {
        self.wait_until(&format!("{text:?} on the screen"), |s| {
            s.contains(text).then(|| s.to_string())
        })
    }

    /// Waits until `file` exists and is not empty (woken by inotify on its directory and by the
    /// pane's output); returns its contents.
    pub fn wait_file(&self, file: &Path) -> String {
        let end = Instant::now() + DEADLINE;
        let watch = Inotify::init(InitFlags::IN_NONBLOCK).unwrap();
        let dir = file.parent().unwrap();
        watch
            .add_watch(
                dir,
                AddWatchFlags::IN_CLOSE_WRITE
                    | AddWatchFlags::IN_MOVED_TO
                    | AddWatchFlags::IN_MODIFY,
            )
            .unwrap();
        loop {
            if let Ok(text) = std::fs::read_to_string(file) {
                if !text.is_empty() {
                    return text;
                }
            }
            assert!(
                self.wait_change(Some(&watch), end),
                "waited {DEADLINE:?} for {}; the screen:\n{}",
                file.display(),
                self.screen()
            );
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// `s` quoted for `sh`.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Screen helpers: the side panel's text and the header's counters.
pub mod screen {
    /// The text of the right-hand panel (questions, selected slot, result): the last boxed
    /// column of each row, rows joined and whitespace collapsed, so wrapped text reads as one.
    pub fn side_panel(screen: &str) -> String {
        words(&side_rows(screen).join(" "))
    }

    /// The rows of the right-hand panel, untrimmed.
    pub fn side_rows(screen: &str) -> Vec<String> {
        screen
            .lines()
            .filter_map(|l| {
                let l = l.trim_end();
                let body = l.strip_suffix('│')?;
                Some(body.rsplit('│').next()?.to_string())
            })
            .collect()
    }

    /// The number of phones graded, from the header (`N graded · ...`).
    pub fn graded(screen: &str) -> Option<u64> {
        let head = screen.lines().next()?;
        let before = &head[..head.find(" graded")?];
        before
            .rsplit(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    }

    /// `text` with its whitespace collapsed to single spaces.
    pub fn words(text: &str) -> String {
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}
