//! Avro serdes in the Schema Registry wire format, and a Schema Registry client
//! (feature `avro`).
//!
//! A record written by [`AvroSerde`] is what Confluent's `KafkaAvroSerializer` writes, so Java
//! and Rust applications can share topics:
//!
//! ```text
//! byte 0      magic byte 0x00
//! bytes 1..5  schema id, 4 bytes big-endian, as the registry assigned it
//! bytes 5..   the Avro binary encoding of the value under that schema
//! ```
//!
//! The serde registers its schema under the subject `<topic>-value` (or `<topic>-key`) the
//! first time it writes to a topic (Confluent's default `TopicNameStrategy`) and caches the
//! id; reading fetches the writer's schema by id (cached too) and resolves it against the
//! serde's own schema, so a reader whose schema adds a field with a default reads records
//! written before the field existed. Malformed input (a wrong magic byte, an unknown schema
//! id, a truncated body) is a [`SerdeError`] that says which, so the record reaches the
//! deserialization error handler.
//!
//! The client talks to a registry at `http://host:port` (the REST API of Confluent's Schema
//! Registry, which Apicurio Registry also serves under `/apis/ccompat/v7`), or keeps schemas in
//! memory for `mock://<scope>` URLs: every client of one scope in the process shares one
//! registry, as with Confluent's `mock://` URLs, which is what tests and broker-free runs use.
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use streams_core::avro::{AvroSerde, Schema, SchemaRegistryClient};
//! use streams_core::serde::Serde;
//!
//! #[derive(Debug, PartialEq, Serialize, Deserialize)]
//! struct Payment {
//!     user: String,
//!     cents: i64,
//! }
//!
//! let schema = Schema::parse_str(
//!     r#"{"type": "record", "name": "Payment", "fields": [
//!         {"name": "user", "type": "string"}, {"name": "cents", "type": "long"}]}"#,
//! )?;
//! let registry = SchemaRegistryClient::new("mock://avro-doc")?;
//! let serde = AvroSerde::<Payment>::value(registry.clone(), schema);
//!
//! let payment = Payment { user: "ann".into(), cents: 1250 };
//! let bytes = serde.serialize("payments", &payment)?.expect("not null");
//! assert_eq!(bytes[0], 0, "magic byte");
//! let id = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
//! assert_eq!(registry.latest("payments-value")?.id, id);
//! assert_eq!(serde.deserialize("payments", Some(&bytes))?, payment);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;
use std::io::Read as _;
use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};

use parking_lot::{Mutex, RwLock};
use std::time::Duration;

pub use apache_avro::Schema;
use apache_avro::schema_compatibility::SchemaCompatibility;

use crate::error::SerdeError;
use crate::serde::Serde;

/// The first byte of every record in the Schema Registry wire format.
pub const MAGIC_BYTE: u8 = 0;

/// The media type of the registry's REST API.
const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// What went wrong talking to a schema registry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The registry URL is not one this client can use.
    #[error(
        "unsupported schema registry URL `{url}`: use http://host:port[/path] or mock://<scope> \
         (https is not supported in this version)"
    )]
    InvalidUrl {
        /// The URL given.
        url: String,
    },
    /// The schema breaks the subject's compatibility rule (HTTP 409).
    #[error("schema is incompatible with subject `{subject}` ({compatibility}): {message}")]
    Incompatible {
        /// The subject registered under.
        subject: String,
        /// The subject's compatibility level, when known.
        compatibility: String,
        /// The registry's explanation.
        message: String,
    },
    /// A subject, version or schema id does not exist (HTTP 404).
    #[error("not found: {message} (registry error code {error_code})")]
    NotFound {
        /// The registry's error code: 40401 subject, 40402 version, 40403 schema.
        error_code: i64,
        /// The registry's explanation.
        message: String,
    },
    /// The registry refused the schema as invalid (HTTP 422).
    #[error("invalid schema: {message}")]
    InvalidSchema {
        /// The registry's explanation.
        message: String,
    },
    /// Any other error answer of the registry.
    #[error("schema registry answered HTTP {status} (error code {error_code}): {message}")]
    Server {
        /// HTTP status.
        status: u16,
        /// The registry's error code (0 when the body had none).
        error_code: i64,
        /// The registry's explanation, or the body.
        message: String,
    },
    /// The registry could not be reached, or its answer could not be read.
    #[error("schema registry at {url}: {message}")]
    Transport {
        /// The registry URL.
        url: String,
        /// What failed.
        message: String,
    },
}

/// A subject's compatibility rule, as the registry names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compatibility {
    /// Any schema may follow any other.
    None,
    /// The new schema reads data written with the latest one (the registry's default).
    Backward,
    /// The new schema reads data written with every earlier one.
    BackwardTransitive,
    /// Data written with the new schema is readable with the latest one.
    Forward,
    /// As `Forward`, for every earlier schema.
    ForwardTransitive,
    /// Both `Backward` and `Forward`.
    Full,
    /// Both, for every earlier schema.
    FullTransitive,
}

impl Compatibility {
    /// The registry's name for this rule (`BACKWARD`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Compatibility::None => "NONE",
            Compatibility::Backward => "BACKWARD",
            Compatibility::BackwardTransitive => "BACKWARD_TRANSITIVE",
            Compatibility::Forward => "FORWARD",
            Compatibility::ForwardTransitive => "FORWARD_TRANSITIVE",
            Compatibility::Full => "FULL",
            Compatibility::FullTransitive => "FULL_TRANSITIVE",
        }
    }

    /// Checks `new` against the `earlier` schemas of a subject (oldest first); `Err` explains
    /// the first conflict.
    fn check(self, new: &Schema, earlier: &[Arc<Schema>]) -> Result<(), String> {
        let (backward, forward, transitive) = match self {
            Compatibility::None => return Ok(()),
            Compatibility::Backward => (true, false, false),
            Compatibility::BackwardTransitive => (true, false, true),
            Compatibility::Forward => (false, true, false),
            Compatibility::ForwardTransitive => (false, true, true),
            Compatibility::Full => (true, true, false),
            Compatibility::FullTransitive => (true, true, true),
        };
        let against: &[Arc<Schema>] = if transitive {
            earlier
        } else {
            earlier.last().map(std::slice::from_ref).unwrap_or(&[])
        };
        for old in against {
            if backward {
                SchemaCompatibility::can_read(old, new).map_err(|e| {
                    format!("the new schema cannot read data written with an earlier one: {e}")
                })?;
            }
            if forward {
                SchemaCompatibility::can_read(new, old).map_err(|e| {
                    format!("an earlier schema cannot read data written with the new one: {e}")
                })?;
            }
        }
        Ok(())
    }
}

impl std::str::FromStr for Compatibility {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "NONE" => Compatibility::None,
            "BACKWARD" => Compatibility::Backward,
            "BACKWARD_TRANSITIVE" => Compatibility::BackwardTransitive,
            "FORWARD" => Compatibility::Forward,
            "FORWARD_TRANSITIVE" => Compatibility::ForwardTransitive,
            "FULL" => Compatibility::Full,
            "FULL_TRANSITIVE" => Compatibility::FullTransitive,
            other => {
                return Err(format!(
                    "unknown compatibility `{other}`: allowed are NONE, BACKWARD, \
                     BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE"
                ));
            }
        })
    }
}

/// A schema as registered under a subject.
#[derive(Debug, Clone)]
pub struct RegisteredSchema {
    /// The subject.
    pub subject: String,
    /// Its global id (what records carry).
    pub id: u32,
    /// Its version within the subject, from 1.
    pub version: u32,
    /// The schema.
    pub schema: Arc<Schema>,
}

/// A client of a Confluent-compatible schema registry, with caches; cheap to clone (clones
/// share caches).
#[derive(Clone)]
pub struct SchemaRegistryClient {
    inner: Arc<ClientInner>,
}

struct ClientInner {
    url: String,
    backend: Backend,
    by_id: RwLock<HashMap<u32, Arc<Schema>>>,
    /// (subject, schema text) -> id, for schemas this client registered or looked up.
    ids: RwLock<HashMap<(String, String), u32>>,
}

enum Backend {
    Http(ureq::Agent),
    Memory(Arc<Mutex<MemoryRegistry>>),
}

impl std::fmt::Debug for SchemaRegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SchemaRegistryClient({})", self.inner.url)
    }
}

impl SchemaRegistryClient {
    /// A client for the registry at `url`: `http://host:port` (with an optional path prefix,
    /// e.g. Apicurio's `http://host:port/apis/ccompat/v7`) or `mock://<scope>` for an
    /// in-process registry shared by every client of that scope.
    pub fn new(url: &str) -> Result<Self, RegistryError> {
        let backend = if let Some(scope) = url.strip_prefix("mock://") {
            Backend::Memory(mock_scope(scope))
        } else if url.starts_with("http://") && url.len() > "http://".len() {
            let config = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(30)))
                .build();
            Backend::Http(config.into())
        } else {
            return Err(RegistryError::InvalidUrl { url: url.into() });
        };
        Ok(SchemaRegistryClient {
            inner: Arc::new(ClientInner {
                url: url.trim_end_matches('/').to_owned(),
                backend,
                by_id: RwLock::default(),
                ids: RwLock::default(),
            }),
        })
    }

    /// The registry URL this client talks to.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// Registers `schema` under `subject` (or finds it there already) and returns its id.
    /// A schema that breaks the subject's compatibility rule is
    /// [`RegistryError::Incompatible`].
    pub fn register(&self, subject: &str, schema: &Schema) -> Result<u32, RegistryError> {
        self.cached_id(subject, schema, true)
    }

    /// The id of `schema` under `subject`, without registering it:
    /// [`RegistryError::NotFound`] when it is not registered there.
    pub fn id_of(&self, subject: &str, schema: &Schema) -> Result<u32, RegistryError> {
        self.cached_id(subject, schema, false)
    }

    /// `register` (or, with `register` false, the lookup of `id_of`) through the id cache.
    fn cached_id(
        &self,
        subject: &str,
        schema: &Schema,
        register: bool,
    ) -> Result<u32, RegistryError> {
        let key = (subject.to_owned(), schema_text(schema));
        if let Some(id) = self.inner.ids.read().get(&key) {
            return Ok(*id);
        }
        let id = match &self.inner.backend {
            Backend::Memory(m) if register => m.lock().register(subject, schema)?,
            Backend::Memory(m) => m.lock().lookup(subject, &key.1)?,
            Backend::Http(_) => {
                // POST /subjects/{s}/versions registers; POST /subjects/{s} looks up.
                let path = if register { "/versions" } else { "" };
                let body = self.call(
                    "POST",
                    &format!("/subjects/{}{path}", encode(subject)),
                    Some(serde_json::json!({ "schema": key.1 })),
                    Some(subject),
                )?;
                json_id(&body, "id")?
            }
        };
        self.inner.ids.write().insert(key, id);
        Ok(id)
    }

    /// The schema with global id `id` (cached after the first fetch).
    pub fn schema_by_id(&self, id: u32) -> Result<Arc<Schema>, RegistryError> {
        if let Some(s) = self.inner.by_id.read().get(&id) {
            return Ok(s.clone());
        }
        let schema = match &self.inner.backend {
            Backend::Memory(m) => m.lock().by_id(id)?,
            Backend::Http(_) => {
                let body = self.call("GET", &format!("/schemas/ids/{id}"), None, None)?;
                let text = json_str(&body, "schema")?;
                Arc::new(parse(&text)?)
            }
        };
        self.inner.by_id.write().insert(id, schema.clone());
        Ok(schema)
    }

    /// The latest schema registered under `subject`.
    pub fn latest(&self, subject: &str) -> Result<RegisteredSchema, RegistryError> {
        match &self.inner.backend {
            Backend::Memory(m) => m.lock().latest(subject),
            Backend::Http(_) => {
                let body = self.call(
                    "GET",
                    &format!("/subjects/{}/versions/latest", encode(subject)),
                    None,
                    None,
                )?;
                Ok(RegisteredSchema {
                    subject: subject.to_owned(),
                    id: json_id(&body, "id")?,
                    version: json_id(&body, "version")?,
                    schema: Arc::new(parse(&json_str(&body, "schema")?)?),
                })
            }
        }
    }

    /// Sets the compatibility rule of `subject`.
    pub fn set_compatibility(
        &self,
        subject: &str,
        compatibility: Compatibility,
    ) -> Result<(), RegistryError> {
        match &self.inner.backend {
            Backend::Memory(m) => {
                m.lock()
                    .compatibility
                    .insert(subject.to_owned(), compatibility);
                Ok(())
            }
            Backend::Http(_) => {
                self.call(
                    "PUT",
                    &format!("/config/{}", encode(subject)),
                    Some(serde_json::json!({ "compatibility": compatibility.as_str() })),
                    None,
                )?;
                Ok(())
            }
        }
    }

    /// The compatibility level that applies to `subject` (its own, else the global one), for
    /// error messages; `unknown` when the registry does not say.
    fn compatibility_of(&self, subject: &str) -> String {
        let level = |path: &str| {
            self.call("GET", path, None, None).ok().and_then(|b| {
                b.get("compatibilityLevel")
                    .or_else(|| b.get("compatibility"))
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_owned)
            })
        };
        level(&format!("/config/{}", encode(subject)))
            .or_else(|| level("/config"))
            .unwrap_or_else(|| "unknown".to_owned())
    }

    /// One REST call; an error status becomes the matching [`RegistryError`].
    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
        subject: Option<&str>,
    ) -> Result<serde_json::Value, RegistryError> {
        let Backend::Http(agent) = &self.inner.backend else {
            unreachable!("REST calls are made by HTTP clients only");
        };
        let url = format!("{}{path}", self.inner.url);
        let transport = |e: ureq::Error| RegistryError::Transport {
            url: self.inner.url.clone(),
            message: format!("{method} {path}: {e}"),
        };
        let response = match (method, body) {
            ("GET", _) => agent
                .get(&url)
                .header("Accept", CONTENT_TYPE)
                .call()
                .map_err(transport)?,
            (_, body) => {
                let text = body.map(|b| b.to_string()).unwrap_or_default();
                let request = if method == "PUT" {
                    agent.put(&url)
                } else {
                    agent.post(&url)
                };
                request
                    .header("Accept", CONTENT_TYPE)
                    .header("Content-Type", CONTENT_TYPE)
                    .send(text.as_bytes())
                    .map_err(transport)?
            }
        };
        let status = response.status().as_u16();
        let mut text = String::new();
        response
            .into_body()
            .into_reader()
            .read_to_string(&mut text)
            .map_err(|e| RegistryError::Transport {
                url: self.inner.url.clone(),
                message: format!("{method} {path}: reading the answer: {e}"),
            })?;
        let json: serde_json::Value =
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
        if (200..300).contains(&status) {
            if json.is_null() {
                return Err(RegistryError::Transport {
                    url: self.inner.url.clone(),
                    message: format!("{method} {path}: the answer is not JSON: {text:.200}"),
                });
            }
            return Ok(json);
        }
        let error_code = json
            .get("error_code")
            .and_then(serde_json::Value::as_i64)
            .unwrap_or(0);
        let message = json
            .get("message")
            .and_then(serde_json::Value::as_str)
            .map_or_else(|| format!("{text:.500}"), str::to_owned);
        Err(match status {
            409 => {
                let subject = subject.unwrap_or_default().to_owned();
                RegistryError::Incompatible {
                    compatibility: self.compatibility_of(&subject),
                    subject,
                    message,
                }
            }
            404 => RegistryError::NotFound {
                error_code,
                message,
            },
            422 => RegistryError::InvalidSchema { message },
            _ => RegistryError::Server {
                status,
                error_code,
                message,
            },
        })
    }
}

/// A subject name in a URL path: subjects are topic names plus a suffix, so only characters
/// outside Kafka's topic alphabet (`[a-zA-Z0-9._-]`) need escaping.
fn encode(subject: &str) -> String {
    let mut out = String::with_capacity(subject.len());
    for b in subject.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn json_id(body: &serde_json::Value, field: &str) -> Result<u32, RegistryError> {
    body.get(field)
        .and_then(serde_json::Value::as_u64)
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| RegistryError::Transport {
            url: String::new(),
            message: format!("the registry's answer has no numeric `{field}`: {body}"),
        })
}

fn json_str(body: &serde_json::Value, field: &str) -> Result<String, RegistryError> {
    body.get(field)
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| RegistryError::Transport {
            url: String::new(),
            message: format!("the registry's answer has no string `{field}`: {body}"),
        })
}

/// The schema as JSON, as registered: its full form, not the Parsing Canonical Form, which
/// drops field defaults and would make a compatible evolution (a new field with a default)
/// look incompatible to the registry.
fn schema_text(schema: &Schema) -> String {
    serde_json::to_string(schema).unwrap_or_else(|_| schema.canonical_form())
}

fn parse(text: &str) -> Result<Schema, RegistryError> {
    Schema::parse_str(text).map_err(|e| RegistryError::InvalidSchema {
        message: format!("{e}: {text:.200}"),
    })
}

/// The in-process registry of one `mock://` scope.
#[derive(Default)]
struct MemoryRegistry {
    /// Schemas by id - 1, with their text.
    schemas: Vec<(String, Arc<Schema>)>,
    /// Subject -> ids of its versions, oldest first.
    subjects: HashMap<String, Vec<u32>>,
    compatibility: HashMap<String, Compatibility>,
}

impl MemoryRegistry {
    fn register(&mut self, subject: &str, schema: &Schema) -> Result<u32, RegistryError> {
        let text = schema_text(schema);
        if let Ok(id) = self.lookup(subject, &text) {
            return Ok(id);
        }
        let rule = self
            .compatibility
            .get(subject)
            .copied()
            .unwrap_or(Compatibility::Backward);
        let earlier: Vec<Arc<Schema>> = self
            .subjects
            .get(subject)
            .into_iter()
            .flatten()
            .map(|id| self.schemas[*id as usize - 1].1.clone())
            .collect();
        rule.check(schema, &earlier)
            .map_err(|message| RegistryError::Incompatible {
                subject: subject.to_owned(),
                compatibility: rule.as_str().to_owned(),
                message,
            })?;
        // One id per distinct schema across subjects, as the registry assigns them.
        let id = match self.schemas.iter().position(|(c, _)| *c == text) {
            Some(i) => i as u32 + 1,
            None => {
                self.schemas.push((text, Arc::new(schema.clone())));
                self.schemas.len() as u32
            }
        };
        self.subjects
            .entry(subject.to_owned())
            .or_default()
            .push(id);
        Ok(id)
    }

    fn lookup(&self, subject: &str, text: &str) -> Result<u32, RegistryError> {
        let ids = self
            .subjects
            .get(subject)
            .ok_or_else(|| subject_not_found(subject))?;
        ids.iter()
            .copied()
            .find(|id| self.schemas[*id as usize - 1].0 == text)
            .ok_or_else(|| RegistryError::NotFound {
                error_code: 40403,
                message: format!("schema not found under subject `{subject}`"),
            })
    }

    fn by_id(&self, id: u32) -> Result<Arc<Schema>, RegistryError> {
        (id as usize)
            .checked_sub(1)
            .and_then(|i| self.schemas.get(i))
            .map(|(_, s)| s.clone())
            .ok_or_else(|| RegistryError::NotFound {
                error_code: 40403,
                message: format!("schema {id} not found"),
            })
    }

    fn latest(&self, subject: &str) -> Result<RegisteredSchema, RegistryError> {
        let ids = self
            .subjects
            .get(subject)
            .ok_or_else(|| subject_not_found(subject))?;
        let id = *ids.last().ok_or_else(|| subject_not_found(subject))?;
        let version = ids.len() - 1;
        Ok(RegisteredSchema {
            subject: subject.to_owned(),
            id,
            version: version as u32 + 1,
            schema: self.by_id(id)?,
        })
    }
}

fn subject_not_found(subject: &str) -> RegistryError {
    RegistryError::NotFound {
        error_code: 40401,
        message: format!("subject `{subject}` not found"),
    }
}

fn mock_scope(scope: &str) -> Arc<Mutex<MemoryRegistry>> {
    static SCOPES: OnceLock<Mutex<HashMap<String, Arc<Mutex<MemoryRegistry>>>>> = OnceLock::new();
    SCOPES
        .get_or_init(Mutex::default)
        .lock()
        .entry(scope.to_owned())
        .or_default()
        .clone()
}

/// Avro values of `T` (any `serde` type matching the schema) in the Schema Registry wire
/// format; see the [module documentation](self).
pub struct AvroSerde<T> {
    client: SchemaRegistryClient,
    schema: Arc<Schema>,
    suffix: &'static str,
    auto_register: bool,
    /// Topic -> id of `schema` under the topic's subject.
    ids: RwLock<HashMap<String, u32>>,
    _type: PhantomData<fn() -> T>,
}

impl<T> AvroSerde<T> {
    /// A serde for record values: subject `<topic>-value`.
    pub fn value(client: SchemaRegistryClient, schema: Schema) -> Self {
        Self::with_suffix(client, schema, "-value")
    }

    /// A serde for record keys: subject `<topic>-key`.
    pub fn key(client: SchemaRegistryClient, schema: Schema) -> Self {
        Self::with_suffix(client, schema, "-key")
    }

    fn with_suffix(client: SchemaRegistryClient, schema: Schema, suffix: &'static str) -> Self {
        AvroSerde {
            client,
            schema: Arc::new(schema),
            suffix,
            auto_register: true,
            ids: RwLock::default(),
            _type: PhantomData,
        }
    }

    /// Whether writing registers the schema (the default) or only looks its id up, failing
    /// when it was not registered beforehand (Confluent's `auto.register.schemas=false`).
    pub fn with_auto_register(mut self, auto_register: bool) -> Self {
        self.auto_register = auto_register;
        self
    }

    /// The schema this serde writes with and reads into.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The subject of `topic` under the topic-name strategy.
    pub fn subject(&self, topic: &str) -> String {
        format!("{topic}{}", self.suffix)
    }

    fn id_for(&self, topic: &str) -> Result<u32, SerdeError> {
        if let Some(id) = self.ids.read().get(topic) {
            return Ok(*id);
        }
        let subject = self.subject(topic);
        let id = if self.auto_register {
            self.client.register(&subject, &self.schema)
        } else {
            self.client.id_of(&subject, &self.schema)
        }
        .map_err(|e| SerdeError::new(format!("Avro schema for subject `{subject}`: {e}")))?;
        self.ids.write().insert(topic.to_owned(), id);
        Ok(id)
    }
}

impl<T> std::fmt::Debug for AvroSerde<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "AvroSerde<{}>({:?})",
            std::any::type_name::<T>(),
            self.client
        )
    }
}

impl<T> Serde<T> for AvroSerde<T>
where
    T: serde::Serialize + serde::de::DeserializeOwned + 'static,
{
    fn serialize_into(
        &self,
        topic: &str,
        value: &T,
        buf: &mut Vec<u8>,
    ) -> Result<bool, SerdeError> {
        let avro = apache_avro::to_value(value)
            .and_then(|v| v.resolve(&self.schema))
            .map_err(|e| {
                SerdeError::new(format!(
                    "{} does not match its Avro schema: {e}",
                    std::any::type_name::<T>()
                ))
            })?;
        let body = apache_avro::to_avro_datum(&self.schema, avro)
            .map_err(|e| SerdeError::new(format!("Avro encoding failed: {e}")))?;
        let id = self.id_for(topic)?;
        buf.reserve(5 + body.len());
        buf.push(MAGIC_BYTE);
        buf.extend_from_slice(&id.to_be_bytes());
        buf.extend_from_slice(&body);
        Ok(true)
    }

    fn deserialize(&self, _: &str, data: Option<&[u8]>) -> Result<T, SerdeError> {
        let data = data.ok_or_else(|| {
            SerdeError::new(
                "null where an Avro record was expected; use a Nullable serde (Option<_>) to \
                 accept nulls",
            )
        })?;
        if data.len() < 5 {
            return Err(SerdeError::new(format!(
                "{} bytes is too short for the Schema Registry wire format: it needs a magic \
                 byte 0x00 and a 4-byte schema id before the Avro body",
                data.len()
            )));
        }
        if data[0] != MAGIC_BYTE {
            return Err(SerdeError::new(format!(
                "unknown magic byte 0x{:02x}: the Schema Registry wire format starts with 0x00",
                data[0]
            )));
        }
        let id = u32::from_be_bytes([data[1], data[2], data[3], data[4]]);
        let writer = self
            .client
            .schema_by_id(id)
            .map_err(|e| SerdeError::new(format!("Avro schema id {id}: {e}")))?;
        let mut body = &data[5..];
        let value =
            apache_avro::from_avro_datum(&writer, &mut body, Some(&self.schema)).map_err(|e| {
                SerdeError::new(format!(
                    "invalid Avro body ({} bytes) for schema id {id}: {e}",
                    data.len() - 5
                ))
            })?;
        if !body.is_empty() {
            return Err(SerdeError::new(format!(
                "{} bytes left over after the Avro body of schema id {id}: the record was not \
                 written with that schema",
                body.len()
            )));
        }
        apache_avro::from_value(&value).map_err(|e| {
            SerdeError::new(format!(
                "Avro record of schema id {id} does not fit {}: {e}",
                std::any::type_name::<T>()
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_escaped_only_outside_the_topic_alphabet() {
        assert_eq!(encode("orders-value"), "orders-value");
        assert_eq!(encode("a b/c"), "a%20b%2Fc");
    }

    #[test]
    fn urls_other_than_http_and_mock_are_refused() {
        let e = SchemaRegistryClient::new("https://registry:8081").unwrap_err();
        assert_eq!(
            e.to_string(),
            "unsupported schema registry URL `https://registry:8081`: use http://host:port[/path] \
             or mock://<scope> (https is not supported in this version)"
        );
    }

    #[test]
    fn compatibility_names_round_trip() {
        for c in [
            Compatibility::None,
            Compatibility::Backward,
            Compatibility::BackwardTransitive,
            Compatibility::Forward,
            Compatibility::ForwardTransitive,
            Compatibility::Full,
            Compatibility::FullTransitive,
        ] {
            assert_eq!(c.as_str().parse::<Compatibility>(), Ok(c));
        }
        assert!("backward".parse::<Compatibility>().is_err());
    }
}
