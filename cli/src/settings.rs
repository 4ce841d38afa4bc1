//! Client settings given on the command line: `--config key=value` and `--config-file path`
//! (Java properties), both repeatable, later ones winning. Schema registry settings
//! (`schema.registry.*`, `basic.auth.*`, `bearer.auth.*`) go to the registry client; the others
//! go to the application's [`StreamsConfig`] and, as the library gives them to its own
//! clients, to the helper clients of the examples (topic creation, sample producer, result
//! reader) and of the tools (`kstreams-reset`'s admin client and consumer).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use rdkafka::ClientConfig;
use streams_core::StreamsConfig;
use streams_core::avro::RegistryConfig;
use streams_core::config::ClientKind;

/// The settings of one run, in the order given.
#[derive(Debug, Clone)]
pub struct Settings {
    kafka: Vec<(String, String)>,
    registry: Vec<(String, String)>,
    /// The pass-through settings as the library sorts them (by client kind).
    sorted: StreamsConfig,
}

/// Whether `key` is a schema registry setting.
fn is_registry_key(key: &str) -> bool {
    ["schema.registry.", "basic.auth.", "bearer.auth."]
        .iter()
        .any(|p| key.starts_with(p))
}

impl Settings {
    /// Reads `files` (Java properties) first, then the `key=value` pairs.
    pub fn read(files: &[PathBuf], pairs: &[String]) -> Result<Settings> {
        let mut all: Vec<(String, String)> = Vec::new();
        for file in files {
            all.extend(read_properties(file)?);
        }
        for pair in pairs {
            let Some((k, v)) = pair.split_once('=') else {
                bail!("--config takes key=value, got `{}`", key_only(pair));
            };
            all.push((k.trim().to_owned(), v.trim().to_owned()));
        }
        if all.iter().any(|(k, _)| k == "bootstrap.servers") {
            bail!("give bootstrap.servers with --bootstrap-servers, not in --config");
        }
        let (registry, kafka): (Vec<_>, Vec<_>) =
            all.into_iter().partition(|(k, _)| is_registry_key(k));
        // Sorted (and checked) the way the library does it.
        let sorted = set_all(
            StreamsConfig::new("settings-check", "localhost:9092"),
            &kafka,
        )?;
        Ok(Settings {
            kafka,
            registry,
            sorted,
        })
    }

    /// `config` with every Kafka setting set on it.
    pub fn apply(&self, config: StreamsConfig) -> Result<StreamsConfig> {
        set_all(config, &self.kafka)
    }

    /// A client configuration for a helper client of `kind`, with `bootstrap`: the settings
    /// the library gives its own clients of that kind.
    pub fn client(&self, bootstrap: &str, kind: ClientKind) -> ClientConfig {
        let mut cc = ClientConfig::new();
        cc.set("bootstrap.servers", bootstrap);
        for (k, v) in self.sorted.client_settings(kind) {
            cc.set(k, v);
        }
        cc
    }

    /// The registry at `url` with the registry settings given.
    pub fn registry(&self, url: &str) -> Result<RegistryConfig> {
        let properties = std::iter::once(("schema.registry.url", url)).chain(
            self.registry
                .iter()
                .filter(|(k, _)| k != "schema.registry.url")
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
        Ok(RegistryConfig::from_properties(properties)?)
    }
}

/// `config` with `pairs` set on it, in order.
fn set_all(mut config: StreamsConfig, pairs: &[(String, String)]) -> Result<StreamsConfig> {
    for (k, v) in pairs {
        config = config.set(k, v)?;
    }
    Ok(config)
}

/// The key of a `key=value` argument that has no `=`, cut short: the argument might be a
/// secret given the wrong way, so at most its first characters are shown.
fn key_only(pair: &str) -> String {
    let shown: String = pair.chars().take(24).collect();
    if shown.len() < pair.len() {
        format!("{shown}...")
    } else {
        shown
    }
}

/// The settings of the Java properties file at `path`, in file order.
fn read_properties(path: &Path) -> Result<Vec<(String, String)>> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("opening the properties file {}", path.display()))?;
    let mut out = Vec::new();
    java_properties::PropertiesIter::new(std::io::BufReader::new(file))
        .read_into(|k, v| out.push((k, v)))
        .with_context(|| format!("reading the properties file {}", path.display()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_then_pairs_with_registry_settings_apart() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("client.properties");
        std::fs::write(
            &file,
            "# Confluent Cloud\nsecurity.protocol=SASL_SSL\nsasl.mechanism = PLAIN\n\
             basic.auth.credentials.source=USER_INFO\nbasic.auth.user.info=k:s\n",
        )
        .unwrap();
        let s = Settings::read(
            &[file],
            &[
                "sasl.mechanism=SCRAM-SHA-512".into(),
                "consumer.client.rack=use1-az1".into(),
            ],
        )
        .unwrap();
        let producer = s.client("b:9092", ClientKind::Producer);
        assert_eq!(producer.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(producer.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
        assert_eq!(producer.get("client.rack"), None);
        let consumer = s.client("b:9092", ClientKind::Consumer);
        assert_eq!(consumer.get("client.rack"), Some("use1-az1"));
        assert_eq!(consumer.get("basic.auth.user.info"), None);
        let registry = format!("{:?}", s.registry("https://r").unwrap());
        assert!(registry.contains("basic [redacted]"), "{registry}");
    }

    #[test]
    fn a_pair_without_equals_is_refused_without_showing_much_of_it() {
        let e = Settings::read(&[], &["sasl.password:averyveryverylongsecretvalue".into()])
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "--config takes key=value, got `sasl.password:averyveryv...`"
        );
    }
}
