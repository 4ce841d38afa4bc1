//! The order-enrichment example: exact output on the test driver, on the embedded mock cluster (the binary
//! with no options) and on the real test cluster with a real schema registry (the binary against both, under
//! exactly_once_v2).

mod common;

use streams_examples::order_enrichment::*;

const EXPECTED: &[&str] = &[
    "enriched-orders: c1 order o1: book 12.50 for Ann Lee (gold) (at 09:00:00)",
    "enriched-orders: c2 order o2: lamp 40.00 for Bob Ray (silver) (at 09:01:00)",
    // After Bob's profile changed to gold.
    "enriched-orders: c2 order o4: desk 150.00 for Bob Ray (gold) (at 09:04:00)",
    "enriched-orders: c3 order o3: pen 2.00 for an unknown customer (at 09:02:00)",
];

#[test]
fn on_the_test_driver() -> anyhow::Result<()> {
    let args = common::driver_args("order-enrichment");
    assert_eq!(
        common::on_driver(&OrderEnrichmentApp::new(&args, MOCK_REGISTRY)?)?,
        EXPECTED
    );
    Ok(())
}

#[test]
fn on_the_embedded_mock_cluster() {
    assert_eq!(
        common::on_mock(env!("CARGO_BIN_EXE_order-enrichment")),
        EXPECTED
    );
}

#[test]
fn on_real_kafka_with_a_real_schema_registry() {
    let registry = integration_tests::registry::shared_registry().expect("a schema registry");
    assert_eq!(
        common::on_kafka(
            env!("CARGO_BIN_EXE_order-enrichment"),
            "order-enrichment",
            "exactly_once_v2",
            &["--schema-registry-url", registry]
        ),
        EXPECTED
    );
}

/// The example as a user of a managed cluster runs it: the broker over SASL_SSL
/// (SCRAM-SHA-512, ACLs) with the settings on the command line, the registry over HTTPS with
/// basic authentication and a CA of its own, its settings in a properties file.
#[test]
fn on_a_secured_cluster_with_a_registry_behind_https() -> anyhow::Result<()> {
    use integration_tests::cleanup::ScratchDir;
    use integration_tests::kafka::unique_name;
    use integration_tests::secure::{PREFIX, SecuredCluster, password};
    use integration_tests::tls_proxy::TlsProxy;

    let cluster = SecuredCluster::start()?;
    let registry = integration_tests::registry::shared_registry()?;
    let (proxy, url) = TlsProxy::for_registry(cluster.pki(), registry, "reg-user", "reg-pass")?;
    let scratch = ScratchDir::with_prefix("kstreams-test-example-tls-")?;
    let properties = scratch.path().join("registry.properties");
    std::fs::write(
        &properties,
        format!(
            "# the registry, as Confluent's serializers take it\n\
             basic.auth.credentials.source=USER_INFO\n\
             basic.auth.user.info=reg-user:reg-pass\n\
             schema.registry.ssl.ca.location={}\n",
            cluster.pki().ca().display()
        ),
    )?;
    let settings = cluster.sasl_settings("SCRAM-SHA-512", "alice", &password("alice"))?;
    let id = unique_name(&format!("{PREFIX}order-enrichment"));
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_order-enrichment"));
    cmd.args(["--bootstrap-servers", &settings[0].1])
        .args(["--application-id", &id])
        .args(["--topic-prefix", &format!("{id}-")])
        .args(["--processing-guarantee", "exactly_once_v2", "--generate"])
        .args(["--schema-registry-url", &url])
        .arg("--config-file")
        .arg(&properties);
    for (k, v) in &settings[1..] {
        cmd.args(["--config", &format!("{k}={v}")]);
    }
    assert_eq!(common::printed_lines(cmd), EXPECTED);
    assert_eq!(proxy.refused(), 0);
    Ok(())
}
