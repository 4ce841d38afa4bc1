//! An OAuth 2 / OIDC identity provider on loopback, for SASL/OAUTHBEARER with
//! `sasl.oauthbearer.method=oidc`: a token endpoint that grants the client-credentials flow
//! (HTTP basic authentication with a client id and secret) an RS256 JWT whose subject is the
//! client id, and the JWKS endpoint the broker's `OAuthBearerValidatorCallbackHandler` checks
//! those tokens against. Plain HTTP: the exchange, not TLS, is what is under test.

use std::io::BufReader;
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Result;
use base64::Engine as _;
use base64::prelude::{BASE64_STANDARD, BASE64_URL_SAFE_NO_PAD};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::sign::Signer;

use crate::http::{LoopbackServer, read_request, respond_json};

/// The id of the signing key, in the tokens' header and the key set.
const KEY_ID: &str = "kstreams-test-key";

/// A running identity provider; stops when dropped.
pub struct IdentityProvider {
    server: LoopbackServer,
    issuer: Arc<Issuer>,
}

/// What the serving threads need.
struct Issuer {
    key: PKey<Private>,
    clients: Vec<(String, String)>,
    issued: AtomicU64,
}

impl IdentityProvider {
    /// Starts on a free loopback port, granting tokens to the `(client id, secret)` pairs.
    pub fn start(clients: &[(&str, &str)]) -> Result<IdentityProvider> {
        let issuer = Arc::new(Issuer {
            key: PKey::from_rsa(Rsa::generate(2048)?)?,
            clients: clients
                .iter()
                .map(|(id, secret)| (id.to_string(), secret.to_string()))
                .collect(),
            issued: AtomicU64::new(0),
        });
        let serving = issuer.clone();
        let server = LoopbackServer::start("oidc-provider", move |stream| {
            let _ = serving.serve(stream);
        })?;
        Ok(IdentityProvider { server, issuer })
    }

    /// The token endpoint (`sasl.oauthbearer.token.endpoint.url`).
    pub fn token_url(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.server.port())
    }

    /// The key set (the broker's `sasl.oauthbearer.jwks.endpoint.url`).
    pub fn jwks_url(&self) -> String {
        format!("http://127.0.0.1:{}/jwks", self.server.port())
    }

    /// A token for `subject`, valid for an hour, as the token endpoint grants them (for
    /// applications that make their own tokens).
    pub fn mint(&self, subject: &str) -> Result<String> {
        self.issuer.token(subject)
    }

    /// Tokens granted so far.
    pub fn issued(&self) -> u64 {
        self.issuer.issued.load(Ordering::Acquire)
    }
}

impl std::fmt::Debug for IdentityProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IdentityProvider({})", self.token_url())
    }
}

impl Issuer {
    fn serve(&self, stream: TcpStream) -> Result<()> {
        let mut reader = BufReader::new(stream);
        let Some(request) = read_request(&mut reader)? else {
            return Ok(());
        };
        let out = reader.get_mut();
        match (request.method.as_str(), request.path.as_str()) {
            ("GET", "/jwks") => respond_json(out, "200 OK", &self.key_set()?),
            ("POST", "/token") => match self.client_of(request.authorization.as_deref()) {
                Some(client) => {
                    let token = self.token(&client)?;
                    self.issued.fetch_add(1, Ordering::AcqRel);
                    let body = serde_json::json!({
                        "access_token": token,
                        "token_type": "Bearer",
                        "expires_in": 3600,
                    });
                    respond_json(out, "200 OK", &body.to_string())
                }
                None => respond_json(
                    out,
                    "401 Unauthorized",
                    r#"{"error":"invalid_client","error_description":"unknown client or wrong secret"}"#,
                ),
            },
            _ => respond_json(out, "404 Not Found", r#"{"error":"not_found"}"#),
        }
    }

    /// The client id whose `Basic` credentials `authorization` carries, if they are right.
    fn client_of(&self, authorization: Option<&str>) -> Option<String> {
        let encoded = authorization?.strip_prefix("Basic ")?;
        let decoded = String::from_utf8(BASE64_STANDARD.decode(encoded).ok()?).ok()?;
        let (id, secret) = decoded.split_once(':')?;
        self.clients
            .iter()
            .any(|(i, s)| i == id && s == secret)
            .then(|| id.to_owned())
    }

    /// An RS256 JWT for `subject`, valid for an hour.
    fn token(&self, subject: &str) -> Result<String> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs();
        let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": KEY_ID});
        let claims = serde_json::json!({
            "sub": subject,
            "iat": now,
            "exp": now + 3600,
            "scope": "kafka",
        });
        let signing_input = format!(
            "{}.{}",
            BASE64_URL_SAFE_NO_PAD.encode(header.to_string()),
            BASE64_URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signer = Signer::new(MessageDigest::sha256(), &self.key)?;
        signer.update(signing_input.as_bytes())?;
        let signature = BASE64_URL_SAFE_NO_PAD.encode(signer.sign_to_vec()?);
        Ok(format!("{signing_input}.{signature}"))
    }

    /// The public key as a JSON Web Key Set.
    fn key_set(&self) -> Result<String> {
        let rsa = self.key.rsa()?;
        let key = serde_json::json!({
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": KEY_ID,
            "n": BASE64_URL_SAFE_NO_PAD.encode(rsa.n().to_vec()),
            "e": BASE64_URL_SAFE_NO_PAD.encode(rsa.e().to_vec()),
        });
        Ok(serde_json::json!({ "keys": [key] }).to_string())
    }
}
