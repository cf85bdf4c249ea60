//! USB devices through libusb (rusb), always with a context of our own.
//!
//! rusb's global-context helpers (`rusb::devices()`, `rusb::has_hotplug()`) initialise a
//! process-wide context and panic when libusb cannot start (no `/dev/bus/usb` in a container):
//! they are never called. [`LibUsb::open`] makes its own [`rusb::Context`] and turns a libusb
//! that cannot start into [`UsbUnavailable`], a message, not a crash. Hot-plug is asked of that
//! same context ([`LibUsb::watch`]); where libusb has none, the caller polls.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rusb::UsbContext;

use super::known::UsbId;

/// A device on the USB bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsbDevice {
    /// Vendor and product id.
    pub id: UsbId,
    /// Bus number and port numbers (`1-1.4`), as sysfs names the device.
    pub bus_path: String,
    /// The serial number string, when the device could be opened to read it.
    pub serial: Option<String>,
}

/// USB could not be used on this machine.
#[derive(Debug, Clone, thiserror::Error)]
#[error("USB cannot be opened here: {detail}; jigs on serial ports are still listed (name them with --port), and on a machine with USB check that /dev/bus/usb exists and that this user may read it")]
pub struct UsbUnavailable {
    /// What libusb said.
    pub detail: String,
}

/// Where USB devices come from.
pub trait UsbBus {
    /// The devices on the bus now.
    fn devices(&self) -> Result<Vec<UsbDevice>, UsbUnavailable>;
}

/// The real bus: libusb with a context of our own.
pub struct LibUsb {
    context: rusb::Context,
}

impl std::fmt::Debug for LibUsb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LibUsb")
    }
}

/// How long one wait for libusb events lasts before the watch thread checks whether it should stop.
const EVENT_TICK: Duration = Duration::from_millis(250);

impl LibUsb {
    /// A libusb context of our own; [`UsbUnavailable`] when libusb cannot start here.
    pub fn open() -> Result<LibUsb, UsbUnavailable> {
        rusb::Context::new()
            .map(|context| LibUsb { context })
            .map_err(|e| UsbUnavailable {
                detail: format!("libusb could not start ({e})"),
            })
    }

    /// Hot-plug notices from libusb: every arrival or departure of a device sends `()` on the
    /// returned channel. `None` when this libusb has no hot-plug support: poll instead. The
    /// watch ends when the [`Watch`] is dropped.
    pub fn watch(&self) -> Option<(Watch, tokio::sync::mpsc::UnboundedReceiver<()>)> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let registration = rusb::HotplugBuilder::new()
            .register::<rusb::Context, _>(&self.context, Box::new(Notify(tx)))
            .ok()?;
        let stop = Arc::new(AtomicBool::new(false));
        let context = self.context.clone();
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("usb-hotplug".into())
            .spawn(move || {
                // Each wait ends within EVENT_TICK, so a stop is seen within one tick.
                while !stopping.load(Ordering::Relaxed) {
                    if context.handle_events(Some(EVENT_TICK)).is_err() {
                        break;
                    }
                }
                drop(registration);
            })
            .ok()?;
        Some((
            Watch {
                stop,
                thread: Some(thread),
            },
            rx,
        ))
    }
}

/// A running hot-plug watch; stops (within one event tick) when dropped.
#[derive(Debug)]
pub struct Watch {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The hot-plug callback: says that something changed; the caller rescans.
struct Notify(tokio::sync::mpsc::UnboundedSender<()>);

impl rusb::Hotplug<rusb::Context> for Notify {
    fn device_arrived(&mut self, _device: rusb::Device<rusb::Context>) {
        let _ = self.0.send(());
    }

    fn device_left(&mut self, _device: rusb::Device<rusb::Context>) {
        let _ = self.0.send(());
    }
}

impl UsbBus for LibUsb {
    fn devices(&self) -> Result<Vec<UsbDevice>, UsbUnavailable> {
        let list = self.context.devices().map_err(|e| UsbUnavailable {
            detail: format!("libusb could not list devices ({e})"),
        })?;
        let mut found = Vec::new();
        for device in list.iter() {
            let Ok(descriptor) = device.device_descriptor() else {
                continue;
            };
            let ports = device.port_numbers().unwrap_or_default();
            let bus_path = if ports.is_empty() {
                format!("{}-0", device.bus_number())
            } else {
                let ports: Vec<String> = ports.iter().map(u8::to_string).collect();
                format!("{}-{}", device.bus_number(), ports.join("."))
            };
            let id = UsbId {
                vid: descriptor.vendor_id(),
                pid: descriptor.product_id(),
            };
            // Only a jig is opened to read its serial string (that needs permission on its
            // node; sysfs gives it otherwise). libusb bounds the control transfer (1 s).
            let jig = super::known::board_for(id).is_some();
            let serial = descriptor
                .serial_number_string_index()
                .filter(|_| jig)
                .and_then(|_| {
                    let handle = device.open().ok()?;
                    handle.read_serial_number_string_ascii(&descriptor).ok()
                });
            found.push(UsbDevice {
                id,
                bus_path,
                serial,
            });
        }
        Ok(found)
    }
}
