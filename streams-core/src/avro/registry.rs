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
use super::registry_config::{RegistryConfig, without_credentials};
use super::schema::{RegisteredSchema, RegistryError, schema_text};

/// A client of a Confluent-compatible schema registry, with caches; cheap to clone (clones
/// share caches).
#[derive(Clone)]
pub struct SchemaRegistryClient {
    inner: Arc<ClientInner>,
}

struct ClientInner {
    /// The URL without credentials: what `url()`, `Debug` and errors show.
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
    /// A client for the registry at `url`: `http://host:port` or `https://host:port` (with an
    /// optional path prefix, e.g. Apicurio's `http://host:port/apis/ccompat/v7`), or
    /// `mock://<scope>` for an in-process registry shared by every client of that scope.
    /// Credentials for HTTP basic authentication may go in the URL
    /// (`https://user:password@host:port`); they are sent with every request and shown
    /// nowhere: not by [`Self::url`], `Debug` or any error. For other credentials and a CA of
    /// your own, see [`SchemaRegistryClient::with_config`].
    pub fn new(url: &str) -> Result<Self, RegistryError> {
        Self::with_config(&RegistryConfig::new(url))
    }

    /// A client for the registry `config` describes: its URL, credentials (basic or bearer)
    /// and the CA certificates to trust for HTTPS. A CA file that cannot be read or holds no
    /// certificate is refused here, before any request.
    pub fn with_config(config: &RegistryConfig) -> Result<Self, RegistryError> {
        let url = config.url.as_str();
        let trimmed = url.trim_end_matches('/');
        let (shown, credentials) = without_credentials(trimmed);
        let http = ["http://", "https://"]
            .iter()
            .any(|scheme| url.starts_with(scheme) && shown.len() > scheme.len());
        let backend = if let Some(scope) = url.strip_prefix("mock://") {
            Backend::Memory(mock_scope(scope))
        } else if http {
            Backend::Http(HttpRegistry::new(
                trimmed,
                &shown,
                credentials,
                &config.auth,
                config.ca_location.as_deref(),
            )?)
        } else {
            return Err(RegistryError::InvalidUrl {
                url: without_credentials(url).0,
            });
        };
        Ok(SchemaRegistryClient {
            inner: Arc::new(ClientInner {
                url: shown,
                backend,
                by_id: RwLock::default(),
                ids: RwLock::default(),
            }),
        })
    }

    /// The registry URL this client talks to, without the credentials it may carry.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_the_url_are_shown_nowhere() {
        let c = SchemaRegistryClient::new("http://user:topsecret@127.0.0.1:1/apis/ccompat/v7/")
            .expect("an http URL");
        assert_eq!(c.url(), "http://127.0.0.1:1/apis/ccompat/v7");
        assert_eq!(
            format!("{c:?}"),
            "SchemaRegistryClient(http://127.0.0.1:1/apis/ccompat/v7)"
        );
        let e = c.schema_by_id(1).expect_err("nothing listens on port 1");
        assert!(
            e.to_string()
                .starts_with("schema registry at http://127.0.0.1:1/apis/ccompat/v7: GET"),
            "{e}"
        );
        assert!(!format!("{e} {e:?}").contains("topsecret"), "{e:?}");
        let e = SchemaRegistryClient::new("ftp://user:topsecret@registry:8081").unwrap_err();
        assert!(!format!("{e} {e:?}").contains("topsecret"), "{e:?}");
        assert_eq!(
            without_credentials("http://host:1/a@b"),
            ("http://host:1/a@b".to_owned(), None)
        );
    }

    #[test]
    fn urls_other_than_http_https_and_mock_are_refused() {
        let e = SchemaRegistryClient::new("ftp://user:pw@registry:8081").unwrap_err();
        assert_eq!(
            e.to_string(),
            "unsupported schema registry URL `ftp://registry:8081`: use http://host:port[/path], \
             https://host:port[/path] or mock://<scope>"
        );
        assert!(SchemaRegistryClient::new("https://registry:8081").is_ok());
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused_before_any_request() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate").unwrap();
        let config = RegistryConfig::new("https://r:1").ca_location(&path);
        let e = SchemaRegistryClient::with_config(&config)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            format!(
                "invalid schema registry setting `schema.registry.ssl.ca.location`: {} holds \
                 no PEM certificate (-----BEGIN CERTIFICATE-----)",
                path.display()
            )
        );
    }
}
