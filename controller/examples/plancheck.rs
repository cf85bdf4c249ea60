//! Prints the diagnostics of a plan file (development aid).
fn main() {
    let path = std::env::args().nth(1).unwrap_or_default();
    match benchctl::plan::Plan::load(std::path::Path::new(&path)) {
        Ok(p) => println!("ok: {} {} steps {} rules {}", p.id, p.version, p.steps.len(), p.grading.rules.len()),
        Err(e) => println!("{e}"),
    }
}
