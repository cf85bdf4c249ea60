//! Where a link's bytes come from: a serial device in the product, anything that reads and
//! writes bytes in tests.

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_serial::{SerialPortBuilderExt, SerialStream};

use super::LinkError;

/// Something a link can open, and open again after an unplug.
pub trait Port: Send + Sync + 'static {
    /// The byte stream of one connection.
    type Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static;

    /// The name used in every message (the device path).
    fn name(&self) -> &str;

    /// Opens the port once; an error means it is not there (yet).
    fn open(&mut self) -> Result<Self::Stream, LinkError>;
}

/// A serial device (a USB CDC-ACM jig, or a simulated jig's PTY), opened raw at 115200 8N1.
#[derive(Debug, Clone)]
pub struct SerialPort {
    path: String,
}

impl SerialPort {
    /// The device at `path`.
    pub fn new(path: &str) -> Self {
        SerialPort { path: path.into() }
    }
}

impl Port for SerialPort {
    type Stream = SerialStream;

    fn name(&self) -> &str {
        &self.path
    }

    fn open(&mut self) -> Result<SerialStream, LinkError> {
        // tokio-serial puts the terminal in raw mode (no echo, no line discipline), which the
        // protocol needs: a cooked terminal tears frames at its line editing characters.
        tokio_serial::new(&self.path, 115_200)
            .open_native_async()
            .map_err(|e| LinkError::Open {
                port: self.path.clone(),
                detail: e.to_string(),
            })
    }
}
