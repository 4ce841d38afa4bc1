//! The query server of a service started with `--queries-address`: the example's stores
//! over HTTP (see `streams_http`), on the same address as its `application.server`.

use anyhow::Result;
use kstreams::prelude::*;

use crate::runner::{CommonArgs, Example};

/// The running server, if `--queries-address` asked for one; dropping it stops it.
#[cfg(feature = "http")]
pub(crate) fn start(
    example: &dyn Example,
    args: &CommonArgs,
    streams: &KafkaStreams,
) -> Result<Option<streams_http::QueryServer>> {
    use anyhow::Context;
    let Some(address) = &args.queries_address else {
        return Ok(None);
    };
    let bind: std::net::SocketAddr = address
        .parse()
        .or_else(|_| {
            // A host name (as in a StatefulSet): listen on every interface at its port.
            let port = address.rsplit_once(':').map(|(_, p)| p).unwrap_or_default();
            format!("0.0.0.0:{port}").parse()
        })
        .with_context(|| format!("--queries-address {address:?} is not host:port"))?;
    let server = example
        .queries(streams_http::QueryServer::builder(streams.queries()))
        .start(bind)?;
    eprintln!("answering queries at http://{address}/stores/...");
    Ok(Some(server))
}

/// Without the `http` feature there is no server: asking for one is an error.
#[cfg(not(feature = "http"))]
pub(crate) fn start(_: &dyn Example, args: &CommonArgs, _: &KafkaStreams) -> Result<Option<()>> {
    if args.queries_address.is_some() {
        anyhow::bail!(
            "--queries-address needs the `http` feature; build with `cargo run -p streams-examples --features http ...`"
        );
    }
    Ok(None)
}
