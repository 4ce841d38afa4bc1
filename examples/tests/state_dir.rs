//! A sample run keeps its state in a temporary directory and removes it at the end, also when
//! SIGTERM stops the run half-way (run on the embedded mock cluster, with the process's
//! temporary directory pointed at one of the test's own).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The names of the entries of `dir`.
fn entries(dir: &Path) -> std::io::Result<Vec<String>> {
    std::fs::read_dir(dir)?
        .map(|e| Ok(e?.file_name().to_string_lossy().into_owned()))
        .collect()
}

#[test]
fn a_sample_run_leaves_no_state_behind_also_when_stopped_by_sigterm() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let example = || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_login-count"));
        cmd.env("TMPDIR", tmp.path()).stdin(Stdio::null());
        cmd
    };

    let out = example().output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        entries(tmp.path())?,
        Vec::<String>::new(),
        "left after a run"
    );

    let mut run = example()
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while entries(tmp.path())?.is_empty() {
        assert!(Instant::now() < deadline, "no state directory within 60 s");
        std::thread::sleep(Duration::from_millis(10));
    }
    let kill = Command::new("kill")
        .args(["-TERM", &run.id().to_string()])
        .status()?;
    assert!(kill.success());
    run.wait()?;
    assert_eq!(
        entries(tmp.path())?,
        Vec::<String>::new(),
        "left after a SIGTERM"
    );
    Ok(())
}
