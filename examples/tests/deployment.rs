//! The deployment recipe (`deploy/`): the Kubernetes manifests agree with each other, with
//! the container image and with the binary; the image's runtime stage installs a package for
//! every library the binary links; and the StatefulSet's command line, run as the container
//! runs it against the real test cluster, joins the group as a static member named after its
//! pod, answers the readiness and liveness probes, and stops within the grace period.

mod common;

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use common::service::Service;
use integration_tests::cleanup::ScratchDir;
use integration_tests::http::get;
use integration_tests::kafka::{shared_cluster, unique_name};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use streams_core::{KafkaStreams, StreamsConfig};
use streams_examples::fraud_detection::FraudDetectionApp;
use streams_examples::runner::{Example, SERVICE_CLOSE_TIMEOUT};
use streams_examples::settings::Settings;
use yaml_rust2::{Yaml, YamlLoader};

const BINARY: &str = "fraud-detection";

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

/// The one document of `deploy/kubernetes/<name>`.
fn manifest(name: &str) -> Result<Yaml> {
    let path = deploy_dir().join("kubernetes").join(name);
    let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    let mut docs = YamlLoader::load_from_str(&text)?;
    ensure!(docs.len() == 1, "{name}: one document expected");
    Ok(docs.remove(0))
}

fn text<'a>(y: &'a Yaml, what: &str) -> Result<&'a str> {
    y.as_str()
        .with_context(|| format!("{what}: a string expected, got {y:?}"))
}

/// The StatefulSet's container.
fn container(sts: &Yaml) -> &Yaml {
    &sts["spec"]["template"]["spec"]["containers"][0]
}

/// The container's arguments, each `--name=value`, as `(name, value)` in order.
fn args(sts: &Yaml) -> Result<Vec<(String, String)>> {
    let list = container(sts)["args"].as_vec().context("args")?;
    list.iter()
        .map(|a| {
            let a = text(a, "an argument")?;
            let (k, v) = a
                .strip_prefix("--")
                .and_then(|a| a.split_once('='))
                .with_context(|| format!("{a}: --name=value expected"))?;
            Ok((k.to_owned(), v.to_owned()))
        })
        .collect()
}

/// The single value of argument `name`.
fn arg<'a>(args: &'a [(String, String)], name: &str) -> Result<&'a str> {
    let mut values = args.iter().filter(|(k, _)| k == name);
    let (_, v) = values.next().with_context(|| format!("--{name} missing"))?;
    ensure!(values.next().is_none(), "--{name} given twice");
    Ok(v)
}

/// The element of list `y` whose `name` is `name`.
fn named<'a>(y: &'a Yaml, name: &str) -> Result<&'a Yaml> {
    y.as_vec()
        .into_iter()
        .flatten()
        .find(|e| e["name"].as_str() == Some(name))
        .with_context(|| format!("no entry named {name}"))
}

/// The packages the Dockerfile's last stage installs, and the binary it copies in.
fn runtime_stage() -> Result<(BTreeSet<String>, String)> {
    let dockerfile = std::fs::read_to_string(deploy_dir().join("Dockerfile"))?;
    let last = dockerfile
        .rsplit_once("\nFROM ")
        .context("a second stage")?
        .1;
    let install = last
        .split_once("--no-install-recommends")
        .context("an apt-get install in the runtime stage")?
        .1;
    let packages = install
        .split("&&")
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .filter(|w| *w != "\\")
        .map(str::to_owned)
        .collect();
    let entrypoint = last
        .lines()
        .find_map(|l| l.strip_prefix("ENTRYPOINT "))
        .context("an ENTRYPOINT")?;
    Ok((packages, entrypoint.to_owned()))
}

#[test]
fn the_manifests_agree_with_each_other_the_image_and_the_binary() -> Result<()> {
    let sts = manifest("statefulset.yaml")?;
    let service = manifest("service.yaml")?;
    let pdb = manifest("pdb.yaml")?;
    let keda = manifest("keda-scaledobject.yaml")?;
    let config_map = manifest("configmap.yaml")?;
    let secret = manifest("secret.example.yaml")?;
    let labels = &sts["spec"]["template"]["metadata"]["labels"];
    let name = text(&sts["metadata"]["name"], "the StatefulSet's name")?;
    let args = args(&sts)?;
    let c = container(&sts);

    // Selectors: the StatefulSet's, the service's and the budget's all pick its pods.
    assert_eq!(&sts["spec"]["selector"]["matchLabels"], labels);
    assert_eq!(&service["spec"]["selector"], labels);
    assert_eq!(&pdb["spec"]["selector"]["matchLabels"], labels);
    assert_eq!(pdb["spec"]["maxUnavailable"].as_i64(), Some(1));
    // The headless service governs the StatefulSet.
    assert_eq!(service["spec"]["clusterIP"].as_str(), Some("None"));
    assert_eq!(sts["spec"]["serviceName"], service["metadata"]["name"]);

    // The image runs this binary.
    let (_, entrypoint) = runtime_stage()?;
    assert_eq!(entrypoint, format!("[\"/usr/local/bin/{BINARY}\"]"));
    assert!(Path::new(env!("CARGO_BIN_EXE_fraud-detection")).exists());

    // The grace period outlasts the close on SIGTERM.
    let grace = sts["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        .as_i64()
        .context("terminationGracePeriodSeconds")?;
    assert!(
        u64::try_from(grace)? > SERVICE_CLOSE_TIMEOUT.as_secs(),
        "a grace period of {grace} s cuts the {SERVICE_CLOSE_TIMEOUT:?} close short"
    );

    // The probes and the service reach the metrics endpoint.
    let metrics_port = arg(&args, "metrics-address")?
        .rsplit_once(':')
        .context("host:port")?
        .1
        .parse::<i64>()?;
    let port = named(&c["ports"], "metrics")?;
    assert_eq!(port["containerPort"].as_i64(), Some(metrics_port));
    assert_eq!(
        c["readinessProbe"]["httpGet"]["path"].as_str(),
        Some("/ready")
    );
    assert_eq!(
        c["livenessProbe"]["httpGet"]["path"].as_str(),
        Some("/health")
    );
    for probe in ["readinessProbe", "livenessProbe"] {
        assert_eq!(
            c[probe]["httpGet"]["port"].as_str(),
            Some("metrics"),
            "{probe}"
        );
    }
    assert_eq!(
        service["spec"]["ports"][0]["targetPort"].as_str(),
        Some("metrics")
    );
    // Other pods reach the query server at the pod's name on the headless service.
    let queries = arg(&args, "queries-address")?;
    let service_name = text(&service["metadata"]["name"], "the service's name")?;
    let (host, queries_port) = queries.rsplit_once(':').context("host:port")?;
    assert_eq!(host, format!("$(POD_NAME).{service_name}"));
    let port = named(&c["ports"], "queries")?;
    assert_eq!(
        port["containerPort"].as_i64(),
        Some(queries_port.parse::<i64>()?)
    );
    assert_eq!(
        service["spec"]["ports"][1]["targetPort"].as_str(),
        Some("queries")
    );

    // The state directory is the pod's own volume.
    let state = named(&c["volumeMounts"], "state")?;
    assert_eq!(state["mountPath"].as_str(), Some(arg(&args, "state-dir")?));
    assert_eq!(
        sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"].as_str(),
        Some("state")
    );

    // Static membership: the instance id is the pod's name.
    let settings: Vec<&str> = args
        .iter()
        .filter(|(k, _)| k == "config")
        .map(|(_, v)| v.as_str())
        .collect();
    assert!(settings.contains(&"group.instance.id=$(POD_NAME)"));
    let pod_name = named(&c["env"], "POD_NAME")?;
    assert_eq!(
        pod_name["valueFrom"]["fieldRef"]["fieldPath"].as_str(),
        Some("metadata.name")
    );

    // The bootstrap servers come from the config map, which KEDA reads too.
    assert_eq!(
        arg(&args, "bootstrap-servers")?,
        "$(KAFKA_BOOTSTRAP_SERVERS)"
    );
    let bootstrap_ref =
        &named(&c["env"], "KAFKA_BOOTSTRAP_SERVERS")?["valueFrom"]["configMapKeyRef"];
    assert_eq!(bootstrap_ref["name"], config_map["metadata"]["name"]);
    let key = text(&bootstrap_ref["key"], "the config map key")?;
    let bootstrap = text(&config_map["data"][key], "bootstrap.servers")?;

    // The lag scaler watches this application's group, an input topic, this cluster, and
    // scales this StatefulSet.
    let target = &keda["spec"]["scaleTargetRef"];
    assert_eq!(target["kind"].as_str(), Some("StatefulSet"));
    assert_eq!(target["name"].as_str(), Some(name));
    let trigger = &keda["spec"]["triggers"][0];
    assert_eq!(trigger["type"].as_str(), Some("kafka"));
    let scaler = &trigger["metadata"];
    assert_eq!(
        scaler["consumerGroup"].as_str(),
        Some(arg(&args, "application-id")?)
    );
    assert_eq!(scaler["bootstrapServers"].as_str(), Some(bootstrap));
    let app = FraudDetectionApp::new(&common::driver_args(BINARY), 3, Duration::from_secs(60));
    let topic = text(&scaler["topic"], "the scaler's topic")?;
    assert!(
        app.input_topics().contains(&topic),
        "{topic} is no input topic"
    );

    // The files the container reads with --config-file are mounted there, and the library
    // and librdkafka accept every setting in them.
    let config_files: Vec<&str> = args
        .iter()
        .filter(|(k, _)| k == "config-file")
        .map(|(_, v)| v.as_str())
        .collect();
    let app_file = named(&c["volumeMounts"], "config")?;
    let secret_dir = named(&c["volumeMounts"], "client-secret")?;
    let app_path = text(&app_file["mountPath"], "mountPath")?;
    let secret_path = format!(
        "{}/client.properties",
        text(&secret_dir["mountPath"], "mountPath")?
    );
    assert_eq!(config_files, [app_path, secret_path.as_str()]);
    let scratch = ScratchDir::new()?;
    let files = [
        (
            &config_map["data"][text(&app_file["subPath"], "subPath")?],
            "app.properties",
        ),
        (
            &secret["stringData"]["client.properties"],
            "client.properties",
        ),
    ]
    .iter()
    .map(|(content, file)| {
        let path = scratch.path().join(file);
        std::fs::write(&path, text(content, file)?)?;
        Ok(path)
    })
    .collect::<Result<Vec<_>>>()?;
    let config = Settings::read(&files, &[])?
        .apply(StreamsConfig::new(name, "unused:9092"))?
        .with_state_dir(scratch.path().join("state"));
    drop(KafkaStreams::new(app.topology()?, config)?);
    Ok(())
}

#[test]
fn the_runtime_image_installs_every_library_the_binary_links() -> Result<()> {
    let (packages, _) = runtime_stage()?;
    let elf = Command::new("readelf")
        .args(["-d", env!("CARGO_BIN_EXE_fraud-detection")])
        .output()
        .context("readelf (binutils)")?;
    ensure!(elf.status.success(), "readelf failed");
    let needed: Vec<String> = String::from_utf8(elf.stdout)?
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| Some(l.split_once('[')?.1.trim_end_matches(']').to_owned()))
        .collect();
    assert!(needed.iter().any(|l| l.starts_with("libssl")), "{needed:?}");
    // Where the loader finds each: the libraries of this machine's architecture.
    let ldd = Command::new("ldd")
        .arg(env!("CARGO_BIN_EXE_fraud-detection"))
        .output()
        .context("ldd")?;
    let ldd = String::from_utf8(ldd.stdout)?;
    // What every Debian image has: the C library and the GCC runtime (priority required).
    let base = ["libc6", "libgcc-s1"];
    for lib in &needed {
        let path = ldd
            .lines()
            .find_map(|l| {
                // `libz.so.1 => /lib/.../libz.so.1 (0x..)`, or the loader's own
                // `/lib64/ld-linux-x86-64.so.2 (0x..)`.
                let l = l.trim();
                let path = match l.split_once(" => ") {
                    Some((name, rest)) if name == lib => rest,
                    Some(_) => return None,
                    None if l.split(" (").next()?.ends_with(&format!("/{lib}")) => l,
                    None => return None,
                };
                Some(path.split(" (").next().unwrap_or_default().to_owned())
            })
            .with_context(|| format!("ldd does not resolve {lib}"))?;
        // Merged /usr: dpkg knows each file under the one prefix its package installs it.
        let aliases = [
            path.clone(),
            match path.strip_prefix("/usr") {
                Some(rest) => rest.to_owned(),
                None => format!("/usr{path}"),
            },
        ];
        let package = aliases
            .iter()
            .find_map(|p| {
                let owner = Command::new("dpkg").args(["-S", p]).output().ok()?;
                let answer = String::from_utf8(owner.stdout).ok()?;
                let package = answer.lines().next()?.split([':', ',']).next()?;
                owner.status.success().then(|| package.to_owned())
            })
            .with_context(|| {
                format!("no package owns {path} (dpkg; the runtime stage is Debian)")
            })?;
        assert!(
            packages.contains(&package) || base.contains(&package.as_str()),
            "{lib} comes from {package}, which the runtime stage does not install ({packages:?})"
        );
    }
    Ok(())
}

#[test]
fn the_statefulset_command_line_runs_as_a_static_member_and_stops_in_its_grace_period() -> Result<()>
{
    let bootstrap = shared_cluster()?.bootstrap_servers().to_owned();
    let sts = manifest("statefulset.yaml")?;
    let config_map = manifest("configmap.yaml")?;
    let grace = sts["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        .as_i64()
        .context("terminationGracePeriodSeconds")?;
    let pod = "fraud-detection-0";
    let app_id = unique_name("deployed");
    let scratch = ScratchDir::new()?;
    let state = scratch.path().join("state");
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let queries_port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    // The config map's file as mounted; the secret's left empty: the test broker is plaintext.
    let app_file = scratch.path().join("app.properties");
    std::fs::write(
        &app_file,
        text(&config_map["data"]["app.properties"], "app.properties")?,
    )?;
    let secret_file = scratch.path().join("client.properties");
    std::fs::write(&secret_file, "")?;

    // The manifest's arguments as the kubelet expands them, with what differs on a test
    // machine: a unique application id and topic prefix, a scratch state directory, free
    // loopback ports, the files above, and one replica for internal topics on one broker.
    let mut command = Vec::new();
    for (k, v) in args(&sts)? {
        let v = match k.as_str() {
            "application-id" => app_id.clone(),
            "state-dir" => state.to_string_lossy().into_owned(),
            "metrics-address" => format!("127.0.0.1:{port}"),
            "queries-address" => format!("127.0.0.1:{queries_port}"),
            "config-file" if v.ends_with("app.properties") => {
                app_file.to_string_lossy().into_owned()
            }
            "config-file" => secret_file.to_string_lossy().into_owned(),
            _ => v
                .replace("$(POD_NAME)", pod)
                .replace("$(KAFKA_BOOTSTRAP_SERVERS)", &bootstrap),
        };
        command.push(format!("--{k}={v}"));
    }
    command.push(format!("--topic-prefix={app_id}-"));
    command.push("--config=replication.factor=1".to_owned());
    command.push("--config=topic.min.insync.replicas=1".to_owned());

    let service = Service::start(env!("CARGO_BIN_EXE_fraud-detection"), &command)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while get(("127.0.0.1", port), "/ready")?.0 != "HTTP/1.1 200 OK" {
        if Instant::now() > deadline {
            bail!("/ready did not answer 200 within 60 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(get(("127.0.0.1", port), "/health")?.0, "HTTP/1.1 200 OK");
    // The query server answers (no payments yet: no windows), once the group's metadata
    // names this pod.
    let path = "/stores/hourly-spend/keys/ann/windows";
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = get(("127.0.0.1", queries_port), path)?;
        if status == "HTTP/1.1 200 OK" {
            assert_eq!(body, "[]");
            break;
        }
        if !status.starts_with("HTTP/1.1 503") || Instant::now() > deadline {
            bail!("{path}: {status} {body}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }

    // The broker names a static member `<group.instance.id>-<uuid>`: thread 1 of this pod.
    let admin: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()?;
    let groups = admin.fetch_group_list(Some(&app_id), Duration::from_secs(10))?;
    let members: Vec<String> = groups
        .groups()
        .iter()
        .flat_map(|g| g.members().iter().map(|m| m.id().to_owned()))
        .collect();
    assert_eq!(members.len(), 1, "{members:?}");
    assert!(
        members[0].starts_with(&format!("{pod}-1-")),
        "not a static member named after the pod: {members:?}"
    );

    service.terminate(Duration::from_secs(u64::try_from(grace)?))?;
    Ok(())
}
