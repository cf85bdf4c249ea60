//! A panic is reported on the control channel (never on the jig's link) and the core halts.
//! The report stands between two frame delimiters (0x00), so the harness reads it as a frame
//! that does not decode and shows its text.

use core::fmt::Write as _;
use core::panic::PanicInfo;

use crate::uart::{Uart, UART1};

struct Text<'a>(&'a mut Uart);

impl core::fmt::Write for Text<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        // A 0x00 inside the text would end the frame early; the text has none.
        self.0.write_blocking(s.as_bytes());
        Ok(())
    }
}

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    cortex_m::interrupt::disable();
    let mut uart = Uart::new(UART1);
    uart.write_blocking(&[0]);
    let _ = write!(Text(&mut uart), "benchline board panic: {info}");
    uart.write_blocking(&[0]);
    loop {
        cortex_m::asm::wfi();
    }
}
