//! The USB device: one CDC-ACM interface (the host sees a serial port, `/dev/ttyACM*`), its
//! serial string the jig's serial number, and the task that moves bytes between the class's
//! endpoints and the link pipes.

use embassy_futures::join::join3;
use embassy_rp::peripherals::USB;
use embassy_rp::usb::Driver;
use embassy_usb::class::cdc_acm::{CdcAcmClass, Receiver, Sender, State};
use embassy_usb::{Builder, Config, UsbDevice};
use static_cell::StaticCell;

use crate::link::{ACTIVITY, RX, TX};

/// pid.codes' vendor id for open hardware.
pub const VID: u16 = 0x1209;
/// pid.codes' test product id (must match `[package.metadata.benchline] usb` in Cargo.toml). A
/// jig that ships needs a PID allocated to it.
pub const PID: u16 = 0x0001;

/// Full-speed bulk packets.
const PACKET: usize = 64;

/// The USB stack of this board's driver.
pub type Device = UsbDevice<'static, Driver<'static, USB>>;
/// The CDC-ACM class on this board's driver.
pub type Serial = CdcAcmClass<'static, Driver<'static, USB>>;

/// Builds the device with its one CDC-ACM interface; `serial` is the USB serial string.
pub fn build(driver: Driver<'static, USB>, serial: &'static str) -> (Device, Serial) {
    let mut config = Config::new(VID, PID);
    config.manufacturer = Some("Benchline");
    config.product = Some("Benchline jig (RP2040)");
    config.serial_number = Some(serial);
    config.max_power = 100;
    config.max_packet_size_0 = 64;

    static CONFIG_DESCRIPTOR: StaticCell<[u8; 256]> = StaticCell::new();
    static BOS_DESCRIPTOR: StaticCell<[u8; 256]> = StaticCell::new();
    static CONTROL_BUF: StaticCell<[u8; 64]> = StaticCell::new();
    static STATE: StaticCell<State> = StaticCell::new();

    let mut builder = Builder::new(
        driver,
        config,
        CONFIG_DESCRIPTOR.init([0; 256]),
        BOS_DESCRIPTOR.init([0; 256]),
        &mut [],
        CONTROL_BUF.init([0; 64]),
    );
    let class = CdcAcmClass::new(&mut builder, STATE.init(State::new()), PACKET as u16);
    (builder.build(), class)
}

/// Runs the USB device and moves bytes both ways, for ever.
#[embassy_executor::task]
pub async fn run(mut device: Device, class: Serial) -> ! {
    let (mut sender, mut receiver) = class.split();
    join3(device.run(), receive(&mut receiver), transmit(&mut sender)).await;
    // All three run for ever; join3 never completes.
    loop {
        cortex_m::asm::wfe();
    }
}

/// Host to jig: every packet into [`RX`], waiting for room (the host is held off by NAKs
/// meanwhile), then wakes the jig.
async fn receive(rx: &mut Receiver<'static, Driver<'static, USB>>) {
    let mut buf = [0u8; PACKET];
    loop {
        rx.wait_connection().await;
        while let Ok(n) = rx.read_packet(&mut buf).await {
            RX.write_all(&buf[..n]).await;
            ACTIVITY.signal(());
        }
    }
}

/// Jig to host: whatever [`TX`] holds, a packet at a time; a transfer that ends on a full packet
/// is closed with a zero-length packet, so the host's read returns at once. Bytes written while
/// no host is attached wait in [`TX`] (the jig drops whole frames it has no room for).
async fn transmit(tx: &mut Sender<'static, Driver<'static, USB>>) {
    let mut buf = [0u8; PACKET];
    loop {
        tx.wait_connection().await;
        loop {
            let n = TX.read(&mut buf).await;
            // Room in the pipe again: the jig may have frames queued.
            ACTIVITY.signal(());
            if tx.write_packet(&buf[..n]).await.is_err() {
                break;
            }
            if n == PACKET && TX.is_empty() && tx.write_packet(&[]).await.is_err() {
                break;
            }
        }
    }
}
