//! The login-count example: exact output on the test driver, on the embedded mock cluster (the binary
//! with no options) and on the real test cluster (the binary against it, under at_least_once).

mod common;

use streams_examples::login_count::*;

const EXPECTED: &[&str] = &[
    "login-counts: ann 09:00:00-09:05:00 logins=1 (at 09:00:10)",
    "login-counts: ann 09:00:00-09:05:00 logins=2 (at 09:01:00)",
    "login-counts: ann 09:00:00-09:05:00 logins=3 (at 09:04:59)",
    "login-counts: ann 09:05:00-09:10:00 logins=1 (at 09:05:00)",
    "login-counts: bob 09:00:00-09:05:00 logins=1 (at 09:03:00)",
    "login-counts: bob 09:05:00-09:10:00 logins=1 (at 09:07:00)",
    "login-counts: cy 09:05:00-09:10:00 logins=1 (at 09:06:00)",
];

#[test]
fn on_the_test_driver() -> anyhow::Result<()> {
    let args = common::driver_args("login-count");
    assert_eq!(common::on_driver(&LoginCountApp::new(&args))?, EXPECTED);
    Ok(())
}

#[test]
fn on_the_embedded_mock_cluster() {
    assert_eq!(common::on_mock(env!("CARGO_BIN_EXE_login-count")), EXPECTED);
}

#[test]
fn on_real_kafka() {
    assert_eq!(
        common::on_kafka(
            env!("CARGO_BIN_EXE_login-count"),
            "login-count",
            "at_least_once",
            &[]
        ),
        EXPECTED
    );
}
