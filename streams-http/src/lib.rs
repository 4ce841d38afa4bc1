//! An HTTP server for interactive queries: any instance of an application answers any key,
//! from its own stores or by asking the instance that hosts the key.
//!
//! Routes (JSON answers; keys are path segments, parsed with the key type's `FromStr`):
//! - `GET /stores/{store}/keys/{key}`: `{"key": .., "value": ..}` from a key-value store, or
//!   404 `{"error": ..}` when the key has no value;
//! - `GET /stores/{store}/keys/{key}/windows?from=<ms>&to=<ms>`: the key's windows starting in
//!   `[from, to]` (both optional, inclusive) as `[{"start": .., "end": .., "value": ..}]`;
//! - `GET /stores/{store}/keys/{key}/sessions?from=<ms>&to=<ms>`: the key's sessions ending
//!   at or after `from` and starting at or before `to` (both optional), in the same form;
//! - `GET /stores/{store}/entries?from=<key>&to=<key>`: every entry of a key-value store (or
//!   the inclusive key range), gathered from every instance that hosts a partition of it;
//! - `GET /health`, `GET /ready`: the probes of `docs/operations.md` (200 while alive,
//!   200 while running with every task restored; 503 otherwise);
//! - `GET /metrics`: the client's metrics as Prometheus text.
//!
//! A key whose partition another instance hosts (by
//! [`Queries::query_metadata_for_key`](streams_core::Queries::query_metadata_for_key)) is
//! forwarded there with `local=true`, which an instance answers from its own stores only.
//! A query that cannot be answered now (a rebalance, a restoration, a forward that found the
//! key moved) gets 503 with `{"error": .., "retriable": true}` and a `Retry-After` header;
//! an unknown store 404; a key that does not parse 400. Every instance needs
//! `application.server` set to the address this server listens on, as the others reach it.
//!
//! ```
//! use state_stores::KeyValueStoreBuilder;
//! use streams_core::serde::{I64Serde, StringSerde};
//! use streams_http::QueryServer;
//! # use streams_core::{KafkaStreams, StreamsConfig, Topology};
//! # fn topology() -> Topology { Topology::new() }
//!
//! # fn run(streams: &KafkaStreams) -> streams_core::Result<()> {
//! // `streams` counts words into the key-value store "counts".
//! let server = QueryServer::builder(streams.queries())
//!     .key_value::<String, i64>("counts", StringSerde)
//!     .start("127.0.0.1:0".parse().expect("an address"))?;
//! println!("curl http://{}/stores/counts/keys/kafka", server.address());
//! server.shutdown();
//! # Ok(())
//! # }
//! ```

mod routes;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use streams_core::serde::Serde;
use streams_core::{Queries, Result, StreamsError};

use routes::{Kind, StoreRoutes, TypedRoutes};

/// Builds a [`QueryServer`]: the stores it serves, with their key types.
pub struct QueryServerBuilder {
    queries: Queries,
    stores: HashMap<String, Arc<dyn StoreRoutes>>,
}

impl std::fmt::Debug for QueryServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryServerBuilder")
            .field("stores", &self.stores.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl QueryServerBuilder {
    /// Serves key lookups and entries of the key-value store `store` (a table's or an
    /// aggregation's too), keys of type `K` serialized by `key_serde` as the store's are.
    pub fn key_value<K, V>(mut self, store: &str, key_serde: impl Serde<K>) -> Self
    where
        K: std::str::FromStr + serde::Serialize + Clone + Send + Sync + 'static,
        V: serde::Serialize + Send + 'static,
    {
        let routes = TypedRoutes::<K, V>::new(store, Arc::new(key_serde), Kind::KeyValue);
        self.stores.insert(store.to_owned(), Arc::new(routes));
        self
    }

    /// Serves the windows of keys of the window store `store` (a windowed aggregation's
    /// too).
    pub fn window<K, V>(mut self, store: &str, key_serde: impl Serde<K>) -> Self
    where
        K: std::str::FromStr + serde::Serialize + Clone + Send + Sync + 'static,
        V: serde::Serialize + Send + 'static,
    {
        let routes = TypedRoutes::<K, V>::new(store, Arc::new(key_serde), Kind::Window);
        self.stores.insert(store.to_owned(), Arc::new(routes));
        self
    }

    /// Serves the sessions of keys of the session store `store` (a session aggregation's
    /// too).
    pub fn session<K, V>(mut self, store: &str, key_serde: impl Serde<K>) -> Self
    where
        K: std::str::FromStr + serde::Serialize + Clone + Send + Sync + 'static,
        V: serde::Serialize + Send + 'static,
    {
        let routes = TypedRoutes::<K, V>::new(store, Arc::new(key_serde), Kind::Session);
        self.stores.insert(store.to_owned(), Arc::new(routes));
        self
    }

    /// Listens on `address` (port 0 picks a free port) and serves on a thread of its own,
    /// with a small tokio runtime. Fails at once when the address cannot be bound.
    pub fn start(self, address: SocketAddr) -> Result<QueryServer> {
        let io = |doing: &str, e: std::io::Error| StreamsError::Io {
            context: format!("query server: {doing}"),
            source: e,
        };
        // Bound here, so that a taken port fails the call; served on the server's thread,
        // inside its own runtime (the caller may be inside another one).
        let listener = std::net::TcpListener::bind(address)
            .map_err(|e| io(&format!("binding {address}"), e))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| io("setting the socket non-blocking", e))?;
        let address = listener
            .local_addr()
            .map_err(|e| io("reading the bound address", e))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("kstreams-query-server")
            .enable_all()
            .build()
            .map_err(|e| io("starting its runtime", e))?;
        let app = routes::router(Arc::new(routes::Served {
            queries: self.queries,
            stores: self.stores,
            forward: routes::forwarding_agent(),
        }));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("kstreams-query-server".into())
            .spawn(move || {
                let served = runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)?;
                    axum::serve(listener, app)
                        .with_graceful_shutdown(async {
                            let _ = stopped.await;
                        })
                        .await
                });
                if let Err(e) = served {
                    tracing::error!(error = %e, "the query server stopped");
                }
            })
            .map_err(|e| io("spawning its thread", e))?;
        tracing::info!(%address, "query server listening");
        Ok(QueryServer {
            address,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

/// A running query server; [`Self::shutdown`] (or dropping it) stops it.
#[derive(Debug)]
pub struct QueryServer {
    address: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl QueryServer {
    /// A server for the stores of the client `queries` comes from
    /// ([`KafkaStreams::queries`](streams_core::KafkaStreams::queries)).
    pub fn builder(queries: Queries) -> QueryServerBuilder {
        QueryServerBuilder {
            queries,
            stores: HashMap::new(),
        }
    }

    /// Where it listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Stops accepting, finishes the requests under way, and returns.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for QueryServer {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}
