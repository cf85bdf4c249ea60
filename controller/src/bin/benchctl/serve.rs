//! Audit queries served by the running line. sled lets one process open a store, so while
//! `benchctl run` holds a data directory, `export`, `verify` and `history` ask it instead: it
//! answers from a [`Reader`] that reads up to the head it finds, while the run goes on
//! appending.
//!
//! The socket is `benchctl.sock` in the data directory (private to benchctl, not a public API):
//! - request: one line of JSON, an [`audit::Query`];
//! - response: frames of `kind` (1 byte) ‖ length (u32, big endian) ‖ bytes, where `kind` is
//!   `o` (output), `n` (a note for standard error) or `x` (the end: the exit code, 1 byte, then
//!   the error message when it is not 0).

use std::io::{BufReader, BufWriter, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use benchctl::store::{self, Reader};
use tokio::io::AsyncBufReadExt;
use tokio::sync::Semaphore;

use crate::audit::{self, Query};
use crate::Failure;

/// Name of the socket in the data directory.
pub(crate) const SOCKET: &str = "benchctl.sock";

/// Largest frame accepted (a damaged length cannot make the client allocate more).
const MAX_FRAME: usize = 1 << 20;

/// Largest query line read.
const MAX_QUERY: u64 = 1 << 16;

/// Connections open at once (waiting for their query, queued or answered); one more is told
/// the line is busy and closed at once.
pub(crate) const MAX_CONNECTIONS: usize = 64;

/// Queries answered at once, each on a thread of its own; more wait for a turn.
pub(crate) const MAX_QUERIES: usize = 8;

/// How long a connection has to send its query line.
pub(crate) const QUERY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one write of an answer may wait for a client that stopped reading.
pub(crate) const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Serving; the socket goes away when this is dropped.
pub(crate) struct Serving {
    path: PathBuf,
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Starts answering audit queries on the store's socket; `None` (with a warning) if it cannot,
/// in which case auditors are told the directory is in use, as before.
///
/// One thread accepts and reads queries for every connection (a current-thread tokio runtime:
/// an idle connection costs no thread); at most [`MAX_QUERIES`] threads answer them.
pub(crate) fn start(reader: Reader) -> Option<Serving> {
    let path = reader.dir().join(SOCKET);
    let cannot = |e: &dyn std::fmt::Display| {
        tracing::warn!(
            "cannot serve exports at {}: {e}; export, verify and history will wait until this run stops",
            path.display()
        );
    };
    // A socket left by a run that was killed: this process holds the lock, so it is stale.
    let _ = std::fs::remove_file(&path);
    let listener = match UnixListener::bind(&path) {
        Ok(l) => l,
        Err(e) => {
            cannot(&e);
            return None;
        }
    };
    let serving = Serving { path: path.clone() };
    // Only this user may connect (the directory is private too).
    let private = std::fs::set_permissions(
        &path,
        std::fs::Permissions::from_mode(store::private::FILE_MODE),
    );
    if let Err(e) = private.and_then(|_| listener.set_nonblocking(true)) {
        cannot(&e);
        return None;
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(MAX_QUERIES)
        .thread_name("audit-query")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            cannot(&e);
            return None;
        }
    };
    let spawned = std::thread::Builder::new()
        .name("audit-server".into())
        .spawn(move || rt.block_on(serve(listener, reader)));
    if let Err(e) = spawned {
        cannot(&e);
        return None;
    }
    Some(serving)
}

/// The end frame with exit code 1 and `message`.
fn refusal(message: &str) -> Vec<u8> {
    let mut end = vec![1];
    end.extend_from_slice(message.as_bytes());
    let mut frame = vec![b'x'];
    frame.extend_from_slice(&u32::try_from(end.len()).unwrap_or(0).to_be_bytes());
    frame.extend_from_slice(&end);
    frame
}

async fn serve(listener: UnixListener, reader: Reader) {
    let listener = match tokio::net::UnixListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!("cannot serve exports: {e}; export, verify and history will wait until this run stops");
            return;
        }
    };
    let connections = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let queries = Arc::new(Semaphore::new(MAX_QUERIES));
    let busy = refusal(&format!(
        "the running benchctl (pid {}) is answering {MAX_CONNECTIONS} other connections; try again in a moment",
        std::process::id()
    ));
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                // Out of file descriptors, most likely: let some connections end first.
                tracing::warn!("audit socket: cannot accept a connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            // A fresh socket's buffer takes this short frame without waiting.
            let _ = stream.try_write(&busy);
            continue;
        };
        let reader = reader.clone();
        let queries = queries.clone();
        tokio::spawn(async move {
            let _permit = permit;
            connection(stream, reader, queries).await;
        });
    }
}

/// One connection: its query line within [`QUERY_TIMEOUT`], then a turn to be answered.
async fn connection(mut stream: tokio::net::UnixStream, reader: Reader, queries: Arc<Semaphore>) {
    let mut line = Vec::new();
    let read = {
        let mut r =
            tokio::io::BufReader::new(tokio::io::AsyncReadExt::take(&mut stream, MAX_QUERY));
        tokio::time::timeout(QUERY_TIMEOUT, r.read_until(b'\n', &mut line)).await
    };
    let query = match read {
        Err(_) => {
            let _ = stream.try_write(&refusal(&format!(
                "no query within {} s; the connection is closed",
                QUERY_TIMEOUT.as_secs()
            )));
            return;
        }
        Ok(Err(e)) => Err(e.to_string()),
        Ok(Ok(_)) => serde_json::from_slice::<Query>(&line).map_err(|e| e.to_string()),
    };
    let Ok(_turn) = queries.acquire_owned().await else {
        return;
    };
    let conn = match stream.into_std() {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("audit socket: {e}");
            return;
        }
    };
    if conn.set_nonblocking(false).is_err() || conn.set_write_timeout(Some(WRITE_TIMEOUT)).is_err()
    {
        return;
    }
    let _ = tokio::task::spawn_blocking(move || serve_one(&conn, query, &reader)).await;
}

/// Output written as frames of one kind.
struct Frames<'a> {
    kind: u8,
    conn: &'a UnixStream,
}

impl Write for Frames<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let buf = &buf[..buf.len().min(MAX_FRAME)];
        send(self.conn, self.kind, buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn send(mut conn: &UnixStream, kind: u8, bytes: &[u8]) -> std::io::Result<()> {
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    conn.write_all(&[kind])?;
    conn.write_all(&len.to_be_bytes())?;
    conn.write_all(bytes)
}

fn serve_one(conn: &UnixStream, query: Result<Query, String>, reader: &Reader) {
    let mut note = Vec::new();
    let result = match query {
        Err(e) => Err(crate::bad_input(anyhow::anyhow!(
            "the running benchctl did not understand the query ({e}); use the same benchctl version"
        ))),
        Ok(q) => {
            let mut out = BufWriter::with_capacity(1 << 16, Frames { kind: b'o', conn });
            let r = audit::execute(&q, reader, &mut out, &mut note);
            r.and_then(|_| out.flush().map_err(Failure::from))
        }
    };
    let _ = send(conn, b'n', &note);
    let mut end = Vec::new();
    match result {
        Ok(()) => end.push(0),
        Err(f) => {
            end.push(f.code);
            end.extend_from_slice(format!("{:#}", f.error).as_bytes());
        }
    }
    let _ = send(conn, b'x', &end);
}

/// Asks the run holding `dir` to answer `query`, copying its output to `out`; `None` when no
/// run answers on the socket.
///
/// The answer is believed only from the benchctl that holds the directory: the peer of the
/// socket (SO_PEERCRED) must be the process the lock file names, running as the user that owns
/// the directory.
pub(crate) fn ask(dir: &Path, query: &Query, out: &mut dyn Write) -> Option<Result<(), Failure>> {
    let conn = UnixStream::connect(dir.join(SOCKET)).ok()?;
    if let Err(f) = check_peer(dir, &conn) {
        return Some(Err(f));
    }
    Some(ask_on(&conn, query, out))
}

/// Whether the process at the other end of `conn` is the benchctl holding `dir`.
fn check_peer(dir: &Path, conn: &UnixStream) -> Result<(), Failure> {
    use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
    let shown = dir.display();
    let cred = getsockopt(conn, PeerCredentials).map_err(|e| {
        anyhow::anyhow!(
            "{shown}: cannot tell which process answers its audit socket {SOCKET} ({e}); its answer is not trusted: stop the `benchctl run` that holds {shown} and run the command again"
        )
    })?;
    let (pid, uid) = (cred.pid(), cred.uid());
    let holder = store::lock::holder(dir);
    let owner = store::private::owner(dir);
    if u32::try_from(pid).ok() == holder && Some(uid) == owner {
        return Ok(());
    }
    let name = |v: Option<u32>| v.map_or_else(|| "none".to_string(), |v| v.to_string());
    Err(anyhow::anyhow!(
        "{shown}: the process answering its audit socket {SOCKET} (pid {pid}, uid {uid}) is not the benchctl that holds the directory (its lock file names pid {}, the directory belongs to uid {}), so its answer is not trusted and nothing was checked; find out what it is (`ps -fp {pid}`), stop it, check who can write {shown}, and run the command again",
        name(holder),
        name(owner)
    )
    .into())
}

fn ask_on(mut conn: &UnixStream, query: &Query, out: &mut dyn Write) -> Result<(), Failure> {
    let mut request = serde_json::to_vec(query).map_err(anyhow::Error::from)?;
    request.push(b'\n');
    conn.write_all(&request)?;
    let mut r = BufReader::new(conn);
    let gone = || {
        anyhow::anyhow!(
            "the running benchctl stopped answering before the end; what was written is incomplete: try again"
        )
    };
    loop {
        let mut head = [0u8; 5];
        r.read_exact(&mut head).map_err(|_| gone())?;
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        if len > MAX_FRAME {
            return Err(gone().into());
        }
        let mut bytes = vec![0; len];
        r.read_exact(&mut bytes).map_err(|_| gone())?;
        match head[0] {
            b'o' => out.write_all(&bytes)?,
            // A note that cannot be shown (standard error closed) is not worth failing for.
            b'n' => {
                let _ = std::io::stderr().write_all(&bytes);
            }
            b'x' => {
                out.flush()?;
                return match bytes.split_first() {
                    Some((0, _)) => Ok(()),
                    Some((&code, text)) => Err(Failure {
                        code,
                        error: anyhow::anyhow!("{}", String::from_utf8_lossy(text)),
                    }),
                    None => Err(gone().into()),
                };
            }
            _ => return Err(gone().into()),
        }
    }
}
