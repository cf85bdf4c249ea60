//! A phone's physical model (`benchline_models::phone`, re-exported here), loaded from the TOML
//! files of the phone library (`fixtures/phones/*.toml`, one `[[phone]]` table per phone) and
//! checked against the rules of the library.

mod check;
mod library;
#[cfg(test)]
mod tests;

pub use benchline_models::phone::*;
pub use check::{
    testable_design_mah, BACKLIGHT_MA_MAX, BACKLIGHT_V_MAX, CHARGE_MA_MAX, DCIR_TEST_C,
    IDENTITY_BYTES, TEMPERATURE_C,
};
pub use library::{line_col, Library, Location, PhoneError, Problem, Problems, MAX_FILE_BYTES};
