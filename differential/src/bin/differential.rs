//! The long form of the differential suite (`docs/testing.md`): every variant over many seeds
//! and sizes on Kafka Streams' `TopologyTestDriver` and on ours; exits non-zero when an
//! unexpected difference is found, after printing it shrunk.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Result;
use clap::Parser;
use differential::run::{Plan, run};
use tokio::signal::unix::SignalKind;

/// Compares our topologies with Kafka Streams' over generated inputs.
#[derive(Parser)]
struct Args {
    /// Seeds per variant and size.
    #[arg(long, default_value_t = 10)]
    seeds: u64,
    /// The first seed.
    #[arg(long, default_value_t = 1)]
    first_seed: u64,
    /// Input sizes in records, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "20,200,2000")]
    sizes: Vec<usize>,
    /// Only variants whose name contains this.
    #[arg(long, default_value = "")]
    variant: String,
    /// Cases shrinking may run per difference.
    #[arg(long, default_value_t = 300)]
    shrink_budget: usize,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let started = std::time::Instant::now();
    // Ctrl-C or SIGTERM stops the run after the current case, so that the Java driver and its
    // scratch directory are cleaned up.
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let signals = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    std::thread::spawn(move || {
        signals.block_on(async {
            let mut term = tokio::signal::unix::signal(SignalKind::terminate())?;
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            eprintln!("stopping after the current case");
            flag.store(true, Ordering::Relaxed);
            Ok::<_, std::io::Error>(())
        })
    });
    let report = run(&Plan {
        filter: args.variant,
        first_seed: args.first_seed,
        seeds: args.seeds,
        sizes: args.sizes,
        shrink_budget: args.shrink_budget,
        stop: Some(stop),
    })?;
    if report.stopped {
        println!("stopped by a signal; partial results:");
    }
    println!(
        "{} cases ({} input records) in {:.0?}: {} the same, {} with an expected difference, {} \
         variants with an unexpected one",
        report.cases,
        report.records,
        started.elapsed(),
        report.same,
        report.expected.len(),
        report.differences.len()
    );
    for d in &report.differences {
        println!("\n{d}");
    }
    if !report.differences.is_empty() || report.stopped {
        std::process::exit(1);
    }
    Ok(())
}
