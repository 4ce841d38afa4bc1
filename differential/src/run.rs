//! One run of the suite over variants, seeds and sizes: what the test command and the
//! `differential` binary both call.

use anyhow::Result;

use crate::compare::{Verdict, compare, describe, shrink};
use crate::generate;
use crate::java::JavaDriver;
use crate::variants::{self, Expectation};

/// What to run.
pub struct Plan {
    /// Only variants whose name contains this (all when empty).
    pub filter: String,
    /// Seeds `first_seed .. first_seed + seeds` per variant and size.
    pub first_seed: u64,
    /// How many seeds.
    pub seeds: u64,
    /// Input sizes, in records.
    pub sizes: Vec<usize>,
    /// Cases shrinking may run per difference.
    pub shrink_budget: usize,
    /// Set (by a signal handler, say) to stop after the current case: the run then returns
    /// what it found so far, and the Java driver and its scratch directory go.
    pub stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

/// What a run found.
#[derive(Default)]
pub struct Report {
    /// Cases run (shrinking not counted).
    pub cases: usize,
    /// Input records piped on each side (shrinking not counted).
    pub records: usize,
    /// Cases with the same output.
    pub same: usize,
    /// Cases with a difference on purpose: (variant, the entry in docs/architecture.md).
    pub expected: Vec<(String, &'static str)>,
    /// Unexpected differences, each shrunk and described; one per variant at most.
    pub differences: Vec<String>,
    /// Whether the run was stopped before the end.
    pub stopped: bool,
}

/// Runs `plan`, printing a line per variant to standard error.
pub fn run(plan: &Plan) -> Result<Report> {
    let mut java = JavaDriver::start()?;
    let mut report = Report::default();
    for variant in variants::all()
        .iter()
        .filter(|v| v.name.contains(&plan.filter))
    {
        let mut same = 0;
        let mut expected = 0;
        'cases: for &size in &plan.sizes {
            for seed in plan.first_seed..plan.first_seed + plan.seeds {
                if plan
                    .stop
                    .as_ref()
                    .is_some_and(|s| s.load(std::sync::atomic::Ordering::Relaxed))
                {
                    report.stopped = true;
                    return Ok(report);
                }
                let input = generate::input(variant, seed, size);
                report.cases += 1;
                report.records += input.len();
                match compare(&mut java, variant, &input)?.verdict {
                    Verdict::Same => same += 1,
                    Verdict::Expected => {
                        expected += 1;
                        if let Expectation::Superset(entry) | Expectation::EarlierUnmatched(entry) =
                            variant.expect
                        {
                            report.expected.push((variant.name.to_owned(), entry));
                        }
                    }
                    Verdict::Differs => {
                        let shrunk = shrink(&mut java, variant, &input, plan.shrink_budget)?;
                        report
                            .differences
                            .push(describe(variant, seed, size, &shrunk));
                        break 'cases;
                    }
                }
            }
        }
        report.same += same;
        eprintln!(
            "{:<34} same {same:>4}  expected difference {expected:>4}",
            variant.name
        );
    }
    Ok(report)
}
