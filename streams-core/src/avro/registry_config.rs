//! [`RegistryConfig`]: where a schema registry is and how to reach it (credentials, the CA
//! that signed its certificate), from code or from the settings Confluent's serializers read.

use std::fmt;
use std::path::{Path, PathBuf};

use super::schema::RegistryError;

/// How requests authenticate to the registry.
#[derive(Clone, Default, PartialEq, Eq)]
pub(super) enum RegistryAuth {
    /// No credentials, or those of the URL (`https://user:password@host`).
    #[default]
    None,
    /// HTTP basic authentication with `user:password`.
    Basic(String),
    /// `Authorization: Bearer <token>`.
    Bearer(String),
}

/// Where a schema registry is and how to reach it: the URL, credentials (HTTP basic or a
/// bearer token) and, for HTTPS, the CA certificates to trust instead of the system's.
///
/// Build it in code, or from the settings Confluent's serializers read (see
/// [`RegistryConfig::from_properties`]). `Debug` shows no credentials.
///
/// ```
/// use streams_core::avro::{RegistryConfig, SchemaRegistryClient};
///
/// let config = RegistryConfig::new("https://registry.example.com")
///     .basic_auth("api-key", "api-secret");
/// assert_eq!(
///     format!("{config:?}"),
///     "RegistryConfig { url: \"https://registry.example.com\", auth: \"basic [redacted]\", ca_location: None }"
/// );
/// let client = SchemaRegistryClient::with_config(&config)?;
/// assert_eq!(client.url(), "https://registry.example.com");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default)]
pub struct RegistryConfig {
    pub(super) url: String,
    pub(super) auth: RegistryAuth,
    pub(super) ca_location: Option<PathBuf>,
}

impl fmt::Debug for RegistryConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let auth = match self.auth {
            RegistryAuth::None => "none",
            RegistryAuth::Basic(_) => "basic [redacted]",
            RegistryAuth::Bearer(_) => "bearer [redacted]",
        };
        f.debug_struct("RegistryConfig")
            .field("url", &without_credentials(&self.url).0)
            .field("auth", &auth)
            .field("ca_location", &self.ca_location)
            .finish()
    }
}

/// The settings [`RegistryConfig::from_properties`] understands.
pub const REGISTRY_SETTINGS: [&str; 7] = [
    "schema.registry.url",
    "basic.auth.credentials.source",
    "basic.auth.user.info",
    "schema.registry.basic.auth.user.info",
    "bearer.auth.credentials.source",
    "bearer.auth.token",
    "schema.registry.ssl.ca.location",
];

impl RegistryConfig {
    /// The registry at `url`: `http://host:port[/path]`, `https://host:port[/path]` (checked
    /// against the system's CA certificates unless [`RegistryConfig::ca_location`] is set)
    /// or `mock://<scope>`.
    pub fn new(url: &str) -> Self {
        RegistryConfig {
            url: url.to_owned(),
            ..RegistryConfig::default()
        }
    }

    /// Authenticates with HTTP basic authentication (Confluent Cloud: the API key and secret).
    pub fn basic_auth(mut self, user: &str, password: &str) -> Self {
        self.auth = RegistryAuth::Basic(format!("{user}:{password}"));
        self
    }

    /// Authenticates with `Authorization: Bearer <token>`.
    pub fn bearer_token(mut self, token: &str) -> Self {
        self.auth = RegistryAuth::Bearer(token.to_owned());
        self
    }

    /// Trusts the CA certificates in the PEM file at `path` (and only those) for HTTPS.
    pub fn ca_location(mut self, path: impl AsRef<Path>) -> Self {
        self.ca_location = Some(path.as_ref().to_owned());
        self
    }

    /// The configuration the settings of Confluent's serializers describe:
    ///
    /// | setting | meaning |
    /// |---|---|
    /// | `schema.registry.url` | required; one URL |
    /// | `basic.auth.credentials.source` | `URL` (credentials in the URL, the default) or `USER_INFO` |
    /// | `basic.auth.user.info` (or `schema.registry.basic.auth.user.info`) | `user:password`, with `USER_INFO` |
    /// | `bearer.auth.credentials.source` | `STATIC_TOKEN` |
    /// | `bearer.auth.token` | the token, with `STATIC_TOKEN` |
    /// | `schema.registry.ssl.ca.location` | a PEM file of CA certificates to trust for HTTPS |
    ///
    /// Anything else, a Java trust store (`schema.registry.ssl.truststore.location`), a
    /// credentials source other than those above or a source without its credentials is
    /// refused with a [`RegistryError::Config`] that names the setting (never a secret's
    /// value) and what is allowed.
    ///
    /// ```
    /// use streams_core::avro::{RegistryConfig, RegistryError};
    ///
    /// let config = RegistryConfig::from_properties([
    ///     ("schema.registry.url", "https://registry.example.com"),
    ///     ("basic.auth.credentials.source", "USER_INFO"),
    ///     ("basic.auth.user.info", "api-key:api-secret"),
    /// ])?;
    /// assert!(format!("{config:?}").contains("basic [redacted]"));
    ///
    /// let err = RegistryConfig::from_properties([
    ///     ("schema.registry.url", "https://registry.example.com"),
    ///     ("basic.auth.credentials.source", "SASL_INHERIT"),
    /// ])
    /// .unwrap_err();
    /// assert!(err.to_string().contains("URL or USER_INFO"));
    /// # Ok::<(), RegistryError>(())
    /// ```
    pub fn from_properties<'a>(
        properties: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, RegistryError> {
        let invalid = |key: &str, message: String| RegistryError::Config {
            key: key.to_owned(),
            message,
        };
        let (mut url, mut basic_source, mut user_info) = (None, None, None);
        let (mut bearer_source, mut token, mut ca) = (None, None, None);
        for (key, value) in properties {
            match key {
                "schema.registry.url" => url = Some(value),
                "basic.auth.credentials.source" => basic_source = Some(value),
                "basic.auth.user.info" | "schema.registry.basic.auth.user.info" => {
                    user_info = Some(value)
                }
                "bearer.auth.credentials.source" => bearer_source = Some(value),
                "bearer.auth.token" => token = Some(value),
                "schema.registry.ssl.ca.location" => ca = Some(value),
                k if k.starts_with("schema.registry.ssl.truststore.")
                    || k.starts_with("schema.registry.ssl.keystore.") =>
                {
                    return Err(invalid(
                        key,
                        "Java key and trust stores are not read; give the CA certificates \
                         as PEM in schema.registry.ssl.ca.location"
                            .into(),
                    ));
                }
                _ => {
                    return Err(invalid(
                        key,
                        format!("unknown; the registry settings are {REGISTRY_SETTINGS:?}"),
                    ));
                }
            }
        }
        let url = url.ok_or_else(|| {
            invalid(
                "schema.registry.url",
                "missing; give the registry's URL".into(),
            )
        })?;
        if url.contains(',') {
            return Err(invalid(
                "schema.registry.url",
                "one URL only; several are not supported".into(),
            ));
        }
        let mut config = RegistryConfig::new(url);
        match basic_source.map(str::to_ascii_uppercase).as_deref() {
            None | Some("URL") => {}
            Some("USER_INFO") => {
                let info = user_info.ok_or_else(|| {
                    invalid(
                        "basic.auth.user.info",
                        "missing; USER_INFO needs user:password here".into(),
                    )
                })?;
                if !info.contains(':') {
                    return Err(invalid(
                        "basic.auth.user.info",
                        "must be user:password (no `:` found)".into(),
                    ));
                }
                config.auth = RegistryAuth::Basic(info.to_owned());
            }
            Some(other) => {
                return Err(invalid(
                    "basic.auth.credentials.source",
                    format!("`{other}` is not supported; use URL or USER_INFO"),
                ));
            }
        }
        match bearer_source.map(str::to_ascii_uppercase).as_deref() {
            None => {}
            Some("STATIC_TOKEN") => {
                if config.auth != RegistryAuth::None {
                    return Err(invalid(
                        "bearer.auth.credentials.source",
                        "give either basic or bearer authentication, not both".into(),
                    ));
                }
                let token = token.ok_or_else(|| {
                    invalid(
                        "bearer.auth.token",
                        "missing; STATIC_TOKEN needs the token here".into(),
                    )
                })?;
                config.auth = RegistryAuth::Bearer(token.to_owned());
            }
            Some(other) => {
                return Err(invalid(
                    "bearer.auth.credentials.source",
                    format!("`{other}` is not supported; use STATIC_TOKEN"),
                ));
            }
        }
        if let Some(ca) = ca {
            config = config.ca_location(ca);
        }
        Ok(config)
    }
}

/// `url` without the `user:password@` of its authority, and those credentials if any.
pub(super) fn without_credentials(url: &str) -> (String, Option<&str>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_owned(), None);
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => (format!("{scheme}://{}", &rest[at + 1..]), Some(&rest[..at])),
        None => (url.to_owned(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_and_cas_are_read_and_secrets_never_shown() {
        let config = RegistryConfig::from_properties([
            ("schema.registry.url", "https://r:8081"),
            ("bearer.auth.credentials.source", "STATIC_TOKEN"),
            ("bearer.auth.token", "tok-secret"),
            ("schema.registry.ssl.ca.location", "/etc/ca.pem"),
        ])
        .unwrap();
        assert!(config.auth == RegistryAuth::Bearer("tok-secret".into()));
        let shown = format!("{config:?}");
        assert!(!shown.contains("tok-secret"), "{shown}");
        assert!(shown.contains("/etc/ca.pem"), "{shown}");
    }

    #[test]
    fn bad_settings_are_named_without_their_values() {
        let err = |props: &[(&str, &str)]| {
            RegistryConfig::from_properties(props.iter().copied())
                .unwrap_err()
                .to_string()
        };
        let e = err(&[
            ("schema.registry.url", "https://r"),
            ("basic.auth.user.inf", "u:topsecret"),
        ]);
        assert!(e.starts_with("invalid schema registry setting `basic.auth.user.inf`: unknown"));
        assert!(!e.contains("topsecret"));
        let e = err(&[
            ("schema.registry.url", "https://r"),
            ("basic.auth.credentials.source", "USER_INFO"),
            ("basic.auth.user.info", "topsecret"),
        ]);
        assert_eq!(
            e,
            "invalid schema registry setting `basic.auth.user.info`: must be user:password (no `:` found)"
        );
        let e = err(&[("basic.auth.credentials.source", "USER_INFO")]);
        assert!(e.contains("`schema.registry.url`: missing"), "{e}");
        let e = err(&[
            ("schema.registry.url", "https://r"),
            ("schema.registry.ssl.truststore.location", "/x.jks"),
        ]);
        assert!(e.contains("schema.registry.ssl.ca.location"), "{e}");
    }
}
