//! The README's run command: the quickstart on the embedded mock cluster, with no broker.

use std::process::Command;

#[test]
fn quickstart_runs_on_the_embedded_mock_cluster() {
    let out = Command::new(env!("CARGO_BIN_EXE_quickstart"))
        .output()
        .expect("the quickstart runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exit {}: {stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.first(),
        Some(&"no --bootstrap-servers given: running on librdkafka's embedded mock cluster")
    );
    let large: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("large-orders: "))
        .collect();
    assert_eq!(
        large,
        [
            "order 3 of 100.00 by c3",
            "order 4 of 125.00 by c0",
            "order 5 of 150.00 by c1",
            "order 6 of 175.00 by c2",
            "order 7 of 200.00 by c3",
            "order 11 of 100.00 by c3",
            "order 12 of 125.00 by c0",
            "order 13 of 150.00 by c1",
            "order 14 of 175.00 by c2",
            "order 15 of 200.00 by c3",
            "order 19 of 100.00 by c3",
        ]
    );
    assert!(lines.contains(&"orders-dlq:   {not json"));
    assert_eq!(
        lines.last(),
        Some(&"21 orders in, 11 large orders out, 1 dead letters")
    );
}
