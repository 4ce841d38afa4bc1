//! [`SchemaRegistryClient`]: registers and fetches schemas with caches in front, and hands
//! each call to its backend: a registry over HTTP, or the in-process registry of a
//! `mock://<scope>` URL.

use std::collections::HashMap;
use std::sync::Arc;

use apache_avro::Schema;
use parking_lot::{Mutex, RwLock};

use super::compatibility::Compatibility;
use super::http::HttpRegistry;
use super::mock::{MemoryRegistry, mock_scope};

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
    Http(HttpRegistry),
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
        let trimmed = url.trim_end_matches('/');
        let backend = if let Some(scope) = url.strip_prefix("mock://") {
            Backend::Memory(mock_scope(scope))
        } else if url.starts_with("http://") && url.len() > "http://".len() {
            Backend::Http(HttpRegistry::new(trimmed))
        } else {
            return Err(RegistryError::InvalidUrl { url: url.into() });
        };
        Ok(SchemaRegistryClient {
            inner: Arc::new(ClientInner {
                url: trimmed.to_owned(),
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
            Backend::Http(h) => h.subject_id(subject, &key.1, register)?,
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
            Backend::Http(h) => h.schema_by_id(id)?,
        };
        self.inner.by_id.write().insert(id, schema.clone());
        Ok(schema)
    }

    /// The latest schema registered under `subject`.
    pub fn latest(&self, subject: &str) -> Result<RegisteredSchema, RegistryError> {
        match &self.inner.backend {
            Backend::Memory(m) => m.lock().latest(subject),
            Backend::Http(h) => h.latest(subject),
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
                m.lock().set_compatibility(subject, compatibility);
                Ok(())
            }
            Backend::Http(h) => h.set_compatibility(subject, compatibility),
        }
    }
}

/// The schema as JSON, as registered: its full form, not the Parsing Canonical Form, which
/// drops field defaults and would make a compatible evolution (a new field with a default)
/// look incompatible to the registry.
pub(super) fn schema_text(schema: &Schema) -> String {
    serde_json::to_string(schema).unwrap_or_else(|_| schema.canonical_form())
}

/// Parses a schema the registry sent.
pub(super) fn parse(text: &str) -> Result<Schema, RegistryError> {
    Schema::parse_str(text).map_err(|e| RegistryError::InvalidSchema {
        message: format!("{e}: {text:.200}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_other_than_http_and_mock_are_refused() {
        let e = SchemaRegistryClient::new("https://registry:8081").unwrap_err();
        assert_eq!(
            e.to_string(),
            "unsupported schema registry URL `https://registry:8081`: use http://host:port[/path] \
             or mock://<scope> (https is not supported in this version)"
        );
    }
}
