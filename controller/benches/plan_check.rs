//! `plan check` throughput: the standard plan dry-run on simulated jigs (time scale 0) against the
//! whole phone library. Prints phones per second for a few line sizes.
//! Run with `cargo bench -p benchctl --bench plan_check`.

use std::path::Path;
use std::sync::Arc;

use benchctl::plan::Plan;

fn main() -> anyhow::Result<()> {
    let plan = Arc::new(Plan::standard()?);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/phones");
    let library = benchline_sim::Library::load(&dir)?;
    let rt = tokio::runtime::Runtime::new()?;
    println!("plan check of the standard plan against {}:", dir.display());
    for (jigs, slots) in [(1usize, 1usize), (2, 4), (4, 4), (8, 4)] {
        let report = rt.block_on(benchctl::dryrun::dry_run(
            plan.clone(),
            library.clone(),
            jigs,
            slots,
            1,
        ))?;
        println!(
            "  {jigs} jig(s) x {slots} slot(s): {} phones in {:.2} s = {:.0} phones/s, {} mismatch(es)",
            report.graded,
            report.elapsed.as_secs_f64(),
            report.graded as f64 / report.elapsed.as_secs_f64().max(1e-9),
            report.mismatches.len()
        );
    }
    Ok(())
}
