//! An HTTPS front for a plain HTTP server on loopback, with HTTP basic or bearer
//! authentication: how the suite serves its schema registry "behind TLS with credentials",
//! as managed registries are. Requests without the expected `Authorization` header get a 401
//! in the registry's error format; the others go to the upstream server one connection per
//! request (`Connection: close`), and its answer comes back as it is.

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use base64::prelude::BASE64_STANDARD;
use openssl::ssl::{SslAcceptor, SslFiletype, SslMethod, SslStream};

use crate::http::{LoopbackServer, read_request, respond_json};

/// A running proxy; stops when dropped.
pub struct TlsProxy {
    server: LoopbackServer,
    refused: Arc<AtomicU64>,
}

impl TlsProxy {
    /// Serves HTTPS on a free loopback port with the PEM `certificate` and `key`, forwarding
    /// to `upstream` (`host:port`) requests whose `Authorization` header is `authorization`
    /// (e.g. `Basic dXNlcjpwdw==`, see [`basic`]).
    pub fn start(
        certificate: &Path,
        key: &Path,
        upstream: &str,
        authorization: &str,
    ) -> Result<TlsProxy> {
        let mut acceptor = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls())?;
        acceptor
            .set_certificate_chain_file(certificate)
            .context("loading the proxy's certificate")?;
        acceptor.set_private_key_file(key, SslFiletype::PEM)?;
        let acceptor = acceptor.build();
        let refused = Arc::new(AtomicU64::new(0));
        let (upstream, authorization) = (upstream.to_owned(), authorization.to_owned());
        let counter = refused.clone();
        let server = LoopbackServer::start("tls-proxy", move |stream| {
            if let Ok(tls) = acceptor.accept(stream) {
                let _ = serve(tls, &upstream, &authorization, &counter);
            }
        })?;
        Ok(TlsProxy { server, refused })
    }

    /// An HTTPS front, with the certificate of `pki`, for the registry at `registry_url`
    /// (`http://host:port/path`, the suite's [`crate::registry::shared_registry`]) that lets
    /// in the requests authenticated as `user` with `password`; returns it with the registry's
    /// HTTPS URL (`https://localhost:<port>/path`).
    pub fn for_registry(
        pki: &crate::pki::TestPki,
        registry_url: &str,
        user: &str,
        password: &str,
    ) -> Result<(TlsProxy, String)> {
        let rest = registry_url
            .strip_prefix("http://")
            .context("the registry URL is not http://")?;
        let (upstream, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let (certificate, key) = pki.server_pem();
        let proxy = TlsProxy::start(&certificate, &key, upstream, &basic(user, password))?;
        let url = proxy.url(path);
        Ok((proxy, url))
    }

    /// `https://localhost:<port>` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.server.port())
    }

    /// Requests refused for their missing or wrong credentials so far.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Acquire)
    }
}

/// The `Authorization` value of HTTP basic authentication for `user` and `password`.
pub fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        BASE64_STANDARD.encode(format!("{user}:{password}"))
    )
}

/// Serves one request of a client connection (every answer closes the connection).
fn serve(
    client: SslStream<TcpStream>,
    upstream: &str,
    authorization: &str,
    refused: &AtomicU64,
) -> Result<()> {
    let mut client = BufReader::new(client);
    let Some(request) = read_request(&mut client)? else {
        return Ok(());
    };
    if request.authorization.as_deref() != Some(authorization) {
        refused.fetch_add(1, Ordering::AcqRel);
        respond_json(
            client.get_mut(),
            "401 Unauthorized",
            r#"{"error_code":40101,"message":"Unauthorized"}"#,
        )?;
        let _ = client.get_mut().shutdown();
        return Ok(());
    }
    let mut up = TcpStream::connect(upstream).context("connecting to the upstream")?;
    up.write_all(&request.head)?;
    up.write_all(b"Connection: close\r\n\r\n")?;
    up.write_all(&request.body)?;
    let mut answer = Vec::new();
    up.read_to_end(&mut answer)?;
    if answer.is_empty() {
        bail!("the upstream closed without an answer");
    }
    client.get_mut().write_all(&answer)?;
    client.get_mut().flush()?;
    let _ = client.get_mut().shutdown();
    Ok(())
}
