//! The alert rules of `docs/monitoring/prometheus-alerts.yml`, checked and unit-tested by
//! Prometheus' own `promtool` against `prometheus-alerts.test.yml` (each alert fires on
//! synthetic series with its exact labels and annotations, and stays quiet where it should).
//! promtool comes from `scripts/promtool.sh`; where it cannot be had, the test says so and
//! passes.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

#[test]
fn promtool_checks_the_alert_rules_and_their_unit_tests_pass() -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let fetched = Command::new("bash")
        .arg(root.join("scripts/promtool.sh"))
        .output()
        .context("running scripts/promtool.sh")?;
    if !fetched.status.success() {
        eprintln!(
            "SKIPPED: promtool cannot be installed on this machine ({}); the alert rules are \
             not checked",
            String::from_utf8_lossy(&fetched.stderr).trim()
        );
        return Ok(());
    }
    let promtool = String::from_utf8(fetched.stdout)?.trim().to_owned();
    let monitoring = root.join("docs/monitoring");
    for args in [
        ["check", "rules", "prometheus-alerts.yml"],
        ["test", "rules", "prometheus-alerts.test.yml"],
    ] {
        let out = Command::new(&promtool)
            .args(args)
            .current_dir(&monitoring)
            .output()
            .with_context(|| format!("running {promtool}"))?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if !out.status.success() || !text.contains("SUCCESS") {
            bail!("promtool {} failed:\n{text}", args.join(" "));
        }
    }
    Ok(())
}
