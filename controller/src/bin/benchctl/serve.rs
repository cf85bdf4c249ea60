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

use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use benchctl::store::Reader;

use crate::audit::{self, Query};
use crate::Failure;

/// Name of the socket in the data directory.
pub(crate) const SOCKET: &str = "benchctl.sock";

/// Largest frame accepted (a damaged length cannot make the client allocate more).
const MAX_FRAME: usize = 1 << 20;

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
pub(crate) fn start(reader: Reader) -> Option<Serving> {
    let path = reader.dir().join(SOCKET);
    // A socket left by a run that was killed: this process holds the lock, so it is stale.
    let _ = std::fs::remove_file(&path);
    let listener = match UnixListener::bind(&path) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(
                "cannot serve exports at {}: {e}; export, verify and history will wait until this run stops",
                path.display()
            );
            return None;
        }
    };
    let serving = Serving { path };
    std::thread::Builder::new()
        .name("audit-server".into())
        .spawn(move || {
            for conn in listener.incoming().flatten() {
                let reader = reader.clone();
                let _ = std::thread::Builder::new()
                    .name("audit-query".into())
                    .spawn(move || serve_one(&conn, &reader));
            }
        })
        .ok()?;
    Some(serving)
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

fn serve_one(conn: &UnixStream, reader: &Reader) {
    let mut line = String::new();
    let query = BufReader::new(conn.take(1 << 16))
        .read_line(&mut line)
        .map_err(|e| e.to_string())
        .and_then(|_| serde_json::from_str::<Query>(&line).map_err(|e| e.to_string()));
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
pub(crate) fn ask(dir: &Path, query: &Query, out: &mut dyn Write) -> Option<Result<(), Failure>> {
    let conn = UnixStream::connect(dir.join(SOCKET)).ok()?;
    Some(ask_on(&conn, query, out))
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
            b'n' => std::io::stderr().write_all(&bytes)?,
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
