//! Register-level drivers. Each is a handful of free functions over an `embedded_hal::i2c::I2c`
//! bus, so that one bus can be shared by every device of every slot.
//!
//! Addresses behind the slot multiplexer (the same on every slot):
//!
//! | addr | device | instrument |
//! |---|---|---|
//! | 0x70 | TCA9548A slot multiplexer (on the jig bus itself) | `SlotMux` |
//! | 0x0B | phone's SBS fuel gauge (SMBus) | `Gauge` |
//! | 0x22 | FUSB302 USB-C front end | `CcFrontEnd` |
//! | 0x38 | FT5x06 touch controller, factory mode | `TouchIc` |
//! | 0x40 | INA226 on the battery / load path (10 mOhm shunt) | `PowerMonitor` |
//! | 0x44 | INA226 on VBUS (10 mOhm shunt) | `PowerMonitor` |
//! | 0x45 | INA226 on the backlight string (100 mOhm shunt) | `PowerMonitor` |
//! | 0x48 | ADS1115 continuity / leakage ADC | `Continuity` |
//! | 0x50 | 24C02 identity EEPROM on the diagnostic interface | `DiagEeprom` |
//! | 0x60 | MCP4725 DAC, electronic load setpoint (2 mA / LSB) | `Load` |

pub mod ads1115;
pub mod eeprom;
pub mod fusb302;
pub mod ina226;
pub mod mcp4725;
pub mod sbs;
pub mod tca9548a;
pub mod touch;
