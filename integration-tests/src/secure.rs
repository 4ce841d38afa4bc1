//! A broker with the listeners production clusters have: SASL_SSL (SCRAM-SHA-512, PLAIN and
//! OAUTHBEARER with tokens from an OIDC identity provider, [`crate::oidc`]) and SSL with
//! client certificates (mutual TLS), certificates from a CA made for the run ([`crate::pki`]),
//! and the StandardAuthorizer with ACLs for some principals and none for others. The PLAINTEXT listener stays for the fixture itself (its principal, `ANONYMOUS`,
//! is a super user); tests may also use it to write input and read output.
//!
//! Principals and what they may do, on resources whose names begin with [`PREFIX`]:
//!
//! | principal | topics | group | transactional ids |
//! |---|---|---|---|
//! | `alice` | all | all | all |
//! | `carol` | all | all | none |
//! | `dave`  | all | none | none |
//! | `erin`  | describe, read, write (no create) | all | none |
//! | `bob`   | none | none | none |

use anyhow::{Context, Result};

use crate::cleanup::ScratchDir;
use crate::kafka::{KafkaCluster, NodeExtras};
use crate::oidc::IdentityProvider;
use crate::pki::{BROKER_STORE_PASSWORD, TestPki};

/// The prefix of every topic, group and transactional id the ACLs cover.
pub const PREFIX: &str = "sec-";

/// The SASL_SSL listener's name.
pub const SASL_SSL: &str = "SASL_SSL";

/// The SSL listener's name (client certificates required).
pub const SSL: &str = "SSL";

/// Principals known to the broker (SASL users and client certificates).
pub const PRINCIPALS: [&str; 5] = ["alice", "bob", "carol", "dave", "erin"];

/// A SASL user the authorizer lets do anything (a super user), for benchmarks that measure
/// the cost of TLS and SASL rather than ACLs: `scripts/bench-tls.sh`.
pub const SUPER_USER: &str = "admin";

/// The SASL password of `user` (SCRAM-SHA-512 and PLAIN alike).
pub fn password(user: &str) -> String {
    format!("{user}-secret-pw")
}

/// A secured single-node cluster (see the module documentation).
#[derive(Debug)]
pub struct SecuredCluster {
    cluster: KafkaCluster,
    pki: TestPki,
    /// Grants every principal its tokens (secret [`oidc_secret`]).
    idp: IdentityProvider,
    // Dropped after the cluster: the broker reads its key store from here.
    dir: ScratchDir,
}

/// The OIDC client secret of `client` (the client id is the principal's name).
pub fn oidc_secret(client: &str) -> String {
    format!("{client}-oidc-secret")
}

/// Client settings, as `(key, value)` pairs.
pub type Settings = Vec<(String, String)>;

impl SecuredCluster {
    /// Makes the certificates, starts the broker and sets the ACLs.
    pub fn start() -> Result<SecuredCluster> {
        let dir = ScratchDir::with_prefix("kstreams-pki-").context("creating the PKI directory")?;
        let pki = TestPki::create(dir.path(), &PRINCIPALS)?;
        let secrets: Vec<(&str, String)> =
            PRINCIPALS.iter().map(|p| (*p, oidc_secret(p))).collect();
        let clients: Vec<(&str, &str)> = secrets.iter().map(|(p, s)| (*p, s.as_str())).collect();
        let idp = IdentityProvider::start(&clients)?;
        let mut jaas =
            String::from("org.apache.kafka.common.security.plain.PlainLoginModule required");
        for user in PRINCIPALS.iter().chain([&SUPER_USER]) {
            jaas.push_str(&format!(" user_{user}=\"{}\"", password(user)));
        }
        jaas.push(';');
        let properties = format!(
            "sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN,OAUTHBEARER\n\
             listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN,OAUTHBEARER\n\
             listener.name.sasl_ssl.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;\n\
             listener.name.sasl_ssl.oauthbearer.sasl.server.callback.handler.class=org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler\n\
             sasl.oauthbearer.jwks.endpoint.url={jwks}\n\
             listener.name.sasl_ssl.plain.sasl.jaas.config={jaas}\n\
             listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;\n\
             ssl.keystore.type=PKCS12\n\
             ssl.keystore.location={store}\n\
             ssl.keystore.password={BROKER_STORE_PASSWORD}\n\
             ssl.key.password={BROKER_STORE_PASSWORD}\n\
             ssl.truststore.type=PEM\n\
             ssl.truststore.location={ca}\n\
             listener.name.ssl.ssl.client.auth=required\n\
             ssl.principal.mapping.rules=RULE:^CN=([a-zA-Z0-9._-]+)$/$1/,DEFAULT\n\
             authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer\n\
             super.users=User:ANONYMOUS;User:{SUPER_USER}\n\
             allow.everyone.if.no.acl.found=false\n",
            store = pki.broker_store().display(),
            jwks = idp.jwks_url(),
            ca = pki.ca().display(),
        );
        let format_args = PRINCIPALS
            .iter()
            .chain([&SUPER_USER])
            .flat_map(|user| {
                [
                    "--add-scram".to_owned(),
                    format!("SCRAM-SHA-512=[name={user},password={}]", password(user)),
                ]
            })
            .collect();
        let extras = NodeExtras {
            listeners: vec![
                (SASL_SSL.to_owned(), "SASL_SSL".to_owned()),
                (SSL.to_owned(), "SSL".to_owned()),
            ],
            properties,
            format_args,
            racks: false,
            // Kafka 4 reads OAUTHBEARER endpoints only from URLs it is told to allow.
            jvm_args: vec![format!(
                "-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls={}",
                idp.jwks_url()
            )],
        };
        let cluster = KafkaCluster::start_with(1, extras)?;
        let secured = SecuredCluster {
            cluster,
            pki,
            idp,
            dir,
        };
        secured.grant_acls()?;
        Ok(secured)
    }

    /// Sets the ACLs of the table in the module documentation (through the PLAINTEXT
    /// listener, whose principal is a super user).
    fn grant_acls(&self) -> Result<()> {
        let classes = self.dir.path().join("classes");
        let tmp = self.dir.path().join("tmp");
        std::fs::create_dir_all(&classes)?;
        std::fs::create_dir_all(&tmp)?;
        let classpath = crate::java::compile("AclGrant", &classes)?;
        let grants = [
            format!("TOPIC:{PREFIX}:alice,carol,dave"),
            format!("TOPIC:{PREFIX}:erin:DESCRIBE,READ,WRITE"),
            format!("GROUP:{PREFIX}:alice,carol,erin"),
            format!("TRANSACTIONAL_ID:{PREFIX}:alice"),
        ];
        let mut args = vec![self.cluster.bootstrap_servers()];
        args.extend(grants.iter().map(String::as_str));
        crate::java::run(&classpath, &tmp, "AclGrant", &args).context("granting the ACLs")?;
        Ok(())
    }

    /// The cluster, for the fixture's helpers (they use the PLAINTEXT listener).
    pub fn cluster(&self) -> &KafkaCluster {
        &self.cluster
    }

    /// The certificates of this run.
    pub fn pki(&self) -> &TestPki {
        &self.pki
    }

    /// Settings for `user` over SASL_SSL with `mechanism` (`SCRAM-SHA-512` or `PLAIN`) and
    /// the given password; `bootstrap.servers` included.
    pub fn sasl_settings(&self, mechanism: &str, user: &str, password: &str) -> Result<Settings> {
        Ok(vec![
            (
                "bootstrap.servers".into(),
                self.cluster.listener_bootstrap(SASL_SSL)?,
            ),
            ("security.protocol".into(), "SASL_SSL".into()),
            ("sasl.mechanism".into(), mechanism.into()),
            ("sasl.username".into(), user.into()),
            ("sasl.password".into(), password.into()),
            (
                "ssl.ca.location".into(),
                self.pki.ca().display().to_string(),
            ),
        ])
    }

    /// Settings for `client` over SASL_SSL with OAUTHBEARER, its token fetched from the
    /// identity provider with the client-credentials flow and `secret`; `bootstrap.servers`
    /// included.
    pub fn oidc_settings(&self, client: &str, secret: &str) -> Result<Settings> {
        Ok(vec![
            (
                "bootstrap.servers".into(),
                self.cluster.listener_bootstrap(SASL_SSL)?,
            ),
            ("security.protocol".into(), "SASL_SSL".into()),
            ("sasl.mechanism".into(), "OAUTHBEARER".into()),
            ("sasl.oauthbearer.method".into(), "oidc".into()),
            ("sasl.oauthbearer.client.id".into(), client.into()),
            ("sasl.oauthbearer.client.secret".into(), secret.into()),
            (
                "sasl.oauthbearer.token.endpoint.url".into(),
                self.idp.token_url(),
            ),
            ("sasl.oauthbearer.scope".into(), "kafka".into()),
            (
                "ssl.ca.location".into(),
                self.pki.ca().display().to_string(),
            ),
        ])
    }

    /// Settings for SASL_SSL with OAUTHBEARER whose tokens the application makes itself (see
    /// [`SecuredCluster::mint_token`]); `bootstrap.servers` included.
    pub fn oauthbearer_settings(&self) -> Result<Settings> {
        Ok(vec![
            (
                "bootstrap.servers".into(),
                self.cluster.listener_bootstrap(SASL_SSL)?,
            ),
            ("security.protocol".into(), "SASL_SSL".into()),
            ("sasl.mechanism".into(), "OAUTHBEARER".into()),
            (
                "ssl.ca.location".into(),
                self.pki.ca().display().to_string(),
            ),
        ])
    }

    /// A token the broker accepts for `principal`, valid for an hour.
    pub fn mint_token(&self, principal: &str) -> Result<String> {
        self.idp.mint(principal)
    }

    /// Tokens the identity provider granted so far.
    pub fn tokens_issued(&self) -> u64 {
        self.idp.issued()
    }

    /// Settings for `user`'s client certificate over SSL (mutual TLS); `bootstrap.servers`
    /// included.
    pub fn mtls_settings(&self, user: &str) -> Result<Settings> {
        let cert = self.pki.client(user);
        Ok(vec![
            (
                "bootstrap.servers".into(),
                self.cluster.listener_bootstrap(SSL)?,
            ),
            ("security.protocol".into(), "SSL".into()),
            (
                "ssl.ca.location".into(),
                self.pki.ca().display().to_string(),
            ),
            (
                "ssl.certificate.location".into(),
                cert.certificate.display().to_string(),
            ),
            ("ssl.key.location".into(), cert.key.display().to_string()),
            ("ssl.key.password".into(), cert.key_password),
        ])
    }
}
