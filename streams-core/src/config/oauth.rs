//! SASL/OAUTHBEARER tokens from the application: for identity systems librdkafka cannot ask
//! by itself (Amazon MSK's IAM authentication signs a token with AWS credentials), every
//! client the library creates asks an [`OAuthTokenProvider`] for its token.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

/// A token for SASL/OAUTHBEARER, as the provider made it.
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthToken {
    /// The token (for example a signed JWT, or MSK's signed IAM token).
    pub token: String,
    /// The principal the token authenticates (logged by librdkafka; the broker decides).
    pub principal_name: String,
    /// When the token expires, in milliseconds since the Unix epoch; librdkafka asks for a
    /// new one at 80 % of its lifetime.
    pub lifetime_ms: i64,
}

impl fmt::Debug for OAuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthToken")
            .field("token", &"[redacted]")
            .field("principal_name", &self.principal_name)
            .field("lifetime_ms", &self.lifetime_ms)
            .finish()
    }
}

/// Makes SASL/OAUTHBEARER tokens for the application's Kafka clients; see
/// [`StreamsConfig::with_oauth_token_provider`](crate::StreamsConfig::with_oauth_token_provider).
///
/// It is called from the clients' own threads, once per client at start-up and then before
/// each token expires; a call may block (an HTTP request, a credentials lookup). An error
/// fails the authentication: the application stops with
/// [`StreamsError::Authentication`](crate::StreamsError::Authentication), whose message is the
/// error's text, so it must not contain a secret.
///
/// ```
/// use streams_core::StreamsConfig;
/// use streams_core::config::{OAuthToken, OAuthTokenProvider};
///
/// struct Signer;
///
/// impl OAuthTokenProvider for Signer {
///     fn token(
///         &self,
///         _sasl_oauthbearer_config: Option<&str>,
///     ) -> Result<OAuthToken, Box<dyn std::error::Error + Send + Sync>> {
///         // e.g. aws_msk_iam_sasl_signer::generate_auth_token(region) for Amazon MSK
///         Ok(OAuthToken {
///             token: "signed-token".into(),
///             principal_name: "my-app".into(),
///             lifetime_ms: streams_core::timestamp::now_ms() + 900_000,
///         })
///     }
/// }
///
/// let config = StreamsConfig::new("my-app", "b-1.msk.example:9098")
///     .set("security.protocol", "SASL_SSL")?
///     .set("sasl.mechanism", "OAUTHBEARER")?
///     .with_oauth_token_provider(Signer);
/// assert!(format!("{config:?}").contains("oauth.token.provider"));
/// # Ok::<(), streams_core::StreamsError>(())
/// ```
pub trait OAuthTokenProvider: Send + Sync + 'static {
    /// A new token. `sasl_oauthbearer_config` is the client's `sasl.oauthbearer.config`
    /// setting, if any, for providers that read their parameters from it.
    fn token(
        &self,
        sasl_oauthbearer_config: Option<&str>,
    ) -> Result<OAuthToken, Box<dyn Error + Send + Sync>>;
}

/// The provider as the client contexts hold it.
pub(crate) type SharedTokenProvider = Option<Arc<dyn OAuthTokenProvider>>;

/// The answer to librdkafka's token refresh event: the provider's token, or an error that says
/// a token is needed and how to give one.
pub(crate) fn refresh_token(
    provider: &SharedTokenProvider,
    config: Option<&str>,
) -> Result<rdkafka::client::OAuthToken, Box<dyn Error>> {
    let Some(provider) = provider else {
        return Err(
            "SASL/OAUTHBEARER needs a token: set sasl.oauthbearer.method=oidc with its \
                    token endpoint, or give the application an OAuthTokenProvider \
                    (StreamsConfig::with_oauth_token_provider)"
                .into(),
        );
    };
    let token = provider.token(config).map_err(|e| e.to_string())?;
    Ok(rdkafka::client::OAuthToken {
        token: token.token,
        principal_name: token.principal_name,
        lifetime_ms: token.lifetime_ms,
    })
}
