//! The HTTP backend of the registry client: the REST API of Confluent's Schema Registry
//! (which Apicurio Registry also serves under `/apis/ccompat/v7`), its answers read into
//! typed structs and its error statuses mapped to [`RegistryError`].

use std::io::Read as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use apache_avro::Schema;
use base64::Engine as _;
use base64::prelude::BASE64_STANDARD;
use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig, TlsProvider, parse_pem};

use super::compatibility::Compatibility;
use super::registry_config::RegistryAuth;
use super::schema::{RegisteredSchema, RegistryError, parse};

/// The media type of the registry's REST API.
const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// The answer to registering a schema or looking one up under a subject.
#[derive(Deserialize)]
struct IdAnswer {
    id: u32,
}

/// A schema fetched by its global id.
#[derive(Deserialize)]
struct SchemaAnswer {
    schema: String,
}

/// One version of a subject.
#[derive(Deserialize)]
struct VersionAnswer {
    id: u32,
    version: u32,
    schema: String,
}

/// A compatibility level: `compatibilityLevel` as read, `compatibility` as set.
#[derive(Deserialize)]
struct ConfigAnswer {
    #[serde(rename = "compatibilityLevel")]
    compatibility_level: Option<String>,
    compatibility: Option<String>,
}

/// The body of an error answer.
#[derive(Deserialize)]
struct ErrorAnswer {
    #[serde(default)]
    error_code: i64,
    message: Option<String>,
}

/// A registry reached over HTTP or HTTPS.
pub(super) struct HttpRegistry {
    /// The base URL, without a trailing `/`, with the credentials it may carry (ureq sends
    /// them as HTTP basic authentication).
    url: String,
    /// The base URL without credentials: what errors show.
    shown: String,
    /// The credentials of the URL and of the configuration, scrubbed from any error text.
    secrets: Vec<String>,
    /// The `Authorization` header of every request, when the configuration gives one.
    authorization: Option<String>,
    agent: ureq::Agent,
}

impl HttpRegistry {
    /// A backend for the registry at `url` (`http[s]://[user:password@]host:port[/path]`, no
    /// trailing `/`), shown in errors as `shown` (without the `credentials`), authenticating
    /// with `auth` and, for HTTPS, trusting the CA certificates of the PEM file `ca` (the
    /// system's when `None`).
    pub(super) fn new(
        url: &str,
        shown: &str,
        credentials: Option<&str>,
        auth: &RegistryAuth,
        ca: Option<&Path>,
    ) -> Result<Self, RegistryError> {
        let roots = match ca {
            None => RootCerts::PlatformVerifier,
            Some(path) => RootCerts::new_with_certs(&read_ca(path)?),
        };
        let tls = TlsConfig::builder()
            .provider(TlsProvider::NativeTls)
            .root_certs(roots)
            .build();
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .tls_config(tls)
            .build();
        let mut secrets: Vec<String> = credentials.map(str::to_owned).into_iter().collect();
        let authorization = match auth {
            RegistryAuth::None => None,
            RegistryAuth::Basic(user_info) => {
                secrets.push(user_info.clone());
                Some(format!("Basic {}", BASE64_STANDARD.encode(user_info)))
            }
            RegistryAuth::Bearer(token) => {
                secrets.push(token.clone());
                Some(format!("Bearer {token}"))
            }
        };
        Ok(HttpRegistry {
            url: url.to_owned(),
            shown: shown.to_owned(),
            secrets,
            authorization,
            agent: config.into(),
        })
    }

    /// The id of the schema with JSON `text` under `subject`, registering it first when
    /// `register` is set.
    pub(super) fn subject_id(
        &self,
        subject: &str,
        text: &str,
        register: bool,
    ) -> Result<u32, RegistryError> {
        // POST /subjects/{s}/versions registers; POST /subjects/{s} looks up.
        let path = if register { "/versions" } else { "" };
        let answer: IdAnswer = self.call(
            "POST",
            &format!("/subjects/{}{path}", encode(subject)),
            Some(serde_json::json!({ "schema": text })),
            Some(subject),
        )?;
        Ok(answer.id)
    }

    /// The schema with global id `id`.
    pub(super) fn schema_by_id(&self, id: u32) -> Result<Arc<Schema>, RegistryError> {
        let answer: SchemaAnswer = self.call("GET", &format!("/schemas/ids/{id}"), None, None)?;
        Ok(Arc::new(parse(&answer.schema)?))
    }

    /// The latest schema registered under `subject`.
    pub(super) fn latest(&self, subject: &str) -> Result<RegisteredSchema, RegistryError> {
        let answer: VersionAnswer = self.call(
            "GET",
            &format!("/subjects/{}/versions/latest", encode(subject)),
            None,
            None,
        )?;
        Ok(RegisteredSchema {
            subject: subject.to_owned(),
            id: answer.id,
            version: answer.version,
            schema: Arc::new(parse(&answer.schema)?),
        })
    }

    /// Sets the compatibility rule of `subject`.
    pub(super) fn set_compatibility(
        &self,
        subject: &str,
        compatibility: Compatibility,
    ) -> Result<(), RegistryError> {
        let _: IgnoredAny = self.call(
            "PUT",
            &format!("/config/{}", encode(subject)),
            Some(serde_json::json!({ "compatibility": compatibility.as_str() })),
            None,
        )?;
        Ok(())
    }

    /// The compatibility level that applies to `subject` (its own, else the global one), for
    /// error messages; `unknown` when the registry does not say.
    fn compatibility_of(&self, subject: &str) -> String {
        let level = |path: &str| {
            self.call::<ConfigAnswer>("GET", path, None, None)
                .ok()
                .and_then(|c| c.compatibility_level.or(c.compatibility))
        };
        level(&format!("/config/{}", encode(subject)))
            .or_else(|| level("/config"))
            .unwrap_or_else(|| "unknown".to_owned())
    }

    /// One REST call, its answer read as an `R`; an error status becomes the matching
    /// [`RegistryError`] (`subject` names the subject of a 409).
    fn call<R: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
        subject: Option<&str>,
    ) -> Result<R, RegistryError> {
        let url = format!("{}{path}", self.url);
        let transport = |message: String| {
            // ureq's own messages may quote the URL, credentials and all.
            let mut message = message.replace(&self.url, &self.shown);
            for secret in &self.secrets {
                message = message.replace(secret.as_str(), "[redacted]");
            }
            RegistryError::Transport {
                url: self.shown.clone(),
                message: format!("{method} {path}: {message}"),
            }
        };
        let response = match (method, body) {
            ("GET", _) => {
                let mut request = self.agent.get(&url).header("Accept", CONTENT_TYPE);
                if let Some(authorization) = &self.authorization {
                    request = request.header("Authorization", authorization);
                }
                request.call().map_err(|e| transport(e.to_string()))?
            }
            (_, body) => {
                let text = body.map(|b| b.to_string()).unwrap_or_default();
                let mut request = if method == "PUT" {
                    self.agent.put(&url)
                } else {
                    self.agent.post(&url)
                };
                if let Some(authorization) = &self.authorization {
                    request = request.header("Authorization", authorization);
                }
                request
                    .header("Accept", CONTENT_TYPE)
                    .header("Content-Type", CONTENT_TYPE)
                    .send(text.as_bytes())
                    .map_err(|e| transport(e.to_string()))?
            }
        };
        let status = response.status().as_u16();
        let mut text = String::new();
        response
            .into_body()
            .into_reader()
            .read_to_string(&mut text)
            .map_err(|e| transport(format!("reading the answer: {e}")))?;
        if (200..300).contains(&status) {
            return serde_json::from_str(&text)
                .map_err(|e| transport(format!("unexpected answer ({e}): {text:.200}")));
        }
        let answer = serde_json::from_str::<ErrorAnswer>(&text).ok();
        let error_code = answer.as_ref().map_or(0, |a| a.error_code);
        let message = answer
            .and_then(|a| a.message)
            .unwrap_or_else(|| format!("{text:.500}"));
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
            401 | 403 => RegistryError::Unauthorized {
                url: self.shown.clone(),
                status,
                message,
            },
            _ => RegistryError::Server {
                status,
                error_code,
                message,
            },
        })
    }
}

/// The certificates of the PEM file at `path`; a file that cannot be read or holds none is
/// a [`RegistryError::Config`].
fn read_ca(path: &Path) -> Result<Vec<Certificate<'static>>, RegistryError> {
    let invalid = |message: String| RegistryError::Config {
        key: "schema.registry.ssl.ca.location".into(),
        message,
    };
    let pem =
        std::fs::read(path).map_err(|e| invalid(format!("cannot read {}: {e}", path.display())))?;
    let certs: Vec<Certificate<'static>> = parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect();
    if certs.is_empty() {
        return Err(invalid(format!(
            "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        )));
    }
    Ok(certs)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_escaped_only_outside_the_topic_alphabet() {
        assert_eq!(encode("orders-value"), "orders-value");
        assert_eq!(encode("a b/c"), "a%20b%2Fc");
    }
}
