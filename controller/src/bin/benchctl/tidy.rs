//! `export --out` leaves no temporary file behind: on SIGINT, SIGTERM or SIGHUP the file being
//! written is removed before the process dies of the signal, and the next export into the same
//! directory removes those of exports that were killed (SIGKILL, a power cut).
//!
//! Temporary files are named `.benchctl-export-PID-XXXXXX`; the sweep removes only those of
//! this user whose PID no longer runs.
//!
//! The signals are blocked in every thread (before any is started) and one thread waits for
//! them with `sigwait`: no handler runs at an arbitrary point, and no `unsafe` is needed.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use nix::sys::signal::{SigSet, Signal};

/// Name prefix of an export's temporary file.
pub(crate) const TEMP_PREFIX: &str = ".benchctl-export-";

/// The temporary file being written, removed if a signal ends the process.
fn current() -> &'static Mutex<Option<PathBuf>> {
    static CURRENT: OnceLock<Mutex<Option<PathBuf>>> = OnceLock::new();
    CURRENT.get_or_init(|| Mutex::new(None))
}

fn signals() -> SigSet {
    let mut set = SigSet::empty();
    for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        set.add(s);
    }
    set
}

/// Starts watching SIGINT, SIGTERM and SIGHUP; call before any other thread starts (the mask
/// is inherited). If the watch cannot start, the signals keep their default action.
pub(crate) fn watch_signals() {
    let set = signals();
    if let Err(e) = set.thread_block() {
        tracing::warn!("cannot watch for signals ({e}); an interrupted export may leave a temporary file, removed by the next export");
        return;
    }
    let started = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let Ok(signal) = set.wait() else {
                return;
            };
            let name = signal.as_str();
            // Held until the process is gone: an export cannot put its file in place meanwhile.
            let mut temp = current().lock();
            let text = match temp.as_mut().ok().and_then(|c| c.take()) {
                Some(path) => {
                    let _ = std::fs::remove_file(&path);
                    format!("benchctl: stopped by {name}; the export was not written (its temporary file is removed)\n")
                }
                None => format!("benchctl: stopped by {name}\n"),
            };
            let _ = std::io::Write::write_all(&mut std::io::stderr(), text.as_bytes());
            // Die of the signal itself, as the shell expects (exit status 128 + n).
            let mut one = SigSet::empty();
            one.add(signal);
            let _ = one.thread_unblock();
            let _ = nix::sys::signal::raise(signal);
            std::process::exit(128 + signal as i32);
        });
    if started.is_err() {
        let _ = set.thread_unblock();
    }
}

/// Creates the temporary file with `create` and names it to be removed if a signal ends the
/// process (no signal is handled between the two).
pub(crate) fn create_temp(
    create: impl FnOnce() -> std::io::Result<tempfile::NamedTempFile>,
) -> std::io::Result<tempfile::NamedTempFile> {
    let mut c = current().lock();
    let temp = create()?;
    if let Ok(c) = c.as_mut() {
        **c = Some(temp.path().to_path_buf());
    }
    Ok(temp)
}

/// Runs `done` (which puts the temporary file in place or removes it) where no signal can
/// remove the file, and forgets it.
pub(crate) fn done_with_temp<T>(done: impl FnOnce() -> T) -> T {
    let mut c = current().lock();
    let result = done();
    if let Ok(c) = c.as_mut() {
        **c = None;
    }
    result
}

/// Removes in `dir` the temporary files of exports (of this user) whose process is gone.
pub(crate) fn sweep(dir: &Path) {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let me = nix::unistd::Uid::effective().as_raw();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(TEMP_PREFIX)) else {
            continue;
        };
        let Some(Ok(pid)) = rest.split('-').next().map(str::parse::<i32>) else {
            continue;
        };
        let gone = pid > 0
            && matches!(
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
                Err(nix::errno::Errno::ESRCH)
            );
        let mine = entry.metadata().is_ok_and(|m| m.is_file() && m.uid() == me);
        if gone && mine {
            let path = entry.path();
            match std::fs::remove_file(&path) {
                Ok(()) => tracing::info!(
                    "removed {}, left by an export that was killed",
                    path.display()
                ),
                Err(e) => tracing::warn!("cannot remove {}: {e}", path.display()),
            }
        }
    }
}
