//! Writes a demo bank as CSV: `cargo run --release -p fincrm_demo --example gen -- 10000 /tmp/demo [seed]`.

use std::path::PathBuf;
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let customers: u64 = args.next().as_deref().unwrap_or("10000").parse()?;
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "demo-data".to_owned()));
    let mut config = fincrm_demo::DemoConfig {
        customers,
        ..fincrm_demo::DemoConfig::default()
    };
    if let Some(seed) = args.next() {
        config.seed = seed.parse()?;
    }
    let started = Instant::now();
    let summary = fincrm_demo::write_csv(&config, &dir)?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!("{summary:#?}");
    eprintln!(
        "{} rows in {secs:.2} s: {:.0} rows/s, {:.0} transactions/s",
        summary.total(),
        summary.total() as f64 / secs,
        summary.transactions as f64 / secs,
    );
    Ok(())
}
