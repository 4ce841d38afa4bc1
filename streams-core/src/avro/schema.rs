//! What a registry answers and how it fails: [`RegisteredSchema`], [`RegistryError`], and
//! schema text parsing shared by the client and both backends.

use std::sync::Arc;

use apache_avro::Schema;

/// What went wrong talking to a schema registry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The registry URL is not one this client can use.
    #[error(
        "unsupported schema registry URL `{url}`: use http://host:port[/path], \
         https://host:port[/path] or mock://<scope>"
    )]
    InvalidUrl {
        /// The URL given.
        url: String,
    },
    /// A registry setting is unknown or has a value that is not allowed (the message says what
    /// is); never shows the value of a secret.
    #[error("invalid schema registry setting `{key}`: {message}")]
    Config {
        /// The setting.
        key: String,
        /// What was wrong and what is allowed.
        message: String,
    },
    /// The registry refused the credentials (HTTP 401) or the principal (HTTP 403).
    #[error(
        "schema registry at {url} answered HTTP {status}: {message} (check \
         basic.auth.user.info or bearer.auth.token)"
    )]
    Unauthorized {
        /// The registry URL, without credentials.
        url: String,
        /// 401 or 403.
        status: u16,
        /// The registry's explanation, or the body.
        message: String,
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
