//! The routes of the query server, and how each store kind answers them.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};
use state_stores::query::QueryableStoreTypes;
use streams_core::query::{HostInfo, StoreQueryParameters};
use streams_core::serde::Serde;
use streams_core::{Queries, StreamsError};

/// How long a forwarded query may take.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(10);

/// An answer: a status and a JSON body (`retriable` adds `Retry-After`).
pub(crate) struct Reply {
    status: StatusCode,
    body: Value,
}

impl Reply {
    fn ok(body: Value) -> Self {
        Reply {
            status: StatusCode::OK,
            body,
        }
    }

    fn error(status: StatusCode, message: impl std::fmt::Display) -> Self {
        let retriable = status == StatusCode::SERVICE_UNAVAILABLE;
        Reply {
            status,
            body: json!({ "error": message.to_string(), "retriable": retriable }),
        }
    }

    /// The answer for a library error: 503 for what may pass (and for a client shutting
    /// down, marked not retriable), 404 for an unknown store, 400 for a query that cannot be
    /// answered as asked, 500 for the rest.
    fn from_error(e: &StreamsError) -> Self {
        let status = match e {
            StreamsError::StoreUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            StreamsError::InvalidStoreQuery { message, .. }
                if message.contains("no state store of that name") =>
            {
                StatusCode::NOT_FOUND
            }
            StreamsError::InvalidStoreQuery { .. } => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Reply {
            status,
            body: json!({ "error": e.to_string(), "retriable": e.is_retriable() }),
        }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let retriable = self.body["retriable"] == true;
        let mut response = (self.status, axum::Json(self.body)).into_response();
        if retriable {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        }
        response
    }
}

/// How one store answers, whatever its types: key lookups, windows, entries, each from this
/// instance's stores (of one partition when given).
pub(crate) trait StoreRoutes: Send + Sync {
    /// Where the key's partition lives.
    fn locate(
        &self,
        queries: &Queries,
        key: &str,
    ) -> Result<streams_core::query::KeyQueryMetadata, Reply>;
    /// The key's value.
    fn get(&self, queries: &Queries, key: &str, partition: Option<i32>) -> Reply;
    /// The key's windows starting in `[from, to]` (`wanted`: `Window`), or its sessions
    /// ending at or after `from` and starting at or before `to` (`Session`).
    fn windows(
        &self,
        queries: &Queries,
        key: &str,
        partition: Option<i32>,
        range: (i64, i64),
        wanted: Kind,
    ) -> Reply;
    /// The partitions answered and the entries with keys in `[from, to]`.
    fn entries(
        &self,
        queries: &Queries,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<(Vec<i32>, Vec<Value>), Reply>;
}

/// What the handlers share.
pub(crate) struct Served {
    pub(crate) queries: Queries,
    pub(crate) stores: HashMap<String, Arc<dyn StoreRoutes>>,
    pub(crate) forward: ureq::Agent,
}

/// The HTTP client forwarding queries to other instances.
pub(crate) fn forwarding_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(FORWARD_TIMEOUT))
        .build()
        .into()
}

/// The query parameters of the store routes. `local` and `partition` are set by an
/// instance forwarding a query: answer from this instance's stores only (from `partition`
/// when given).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Params {
    #[serde(default)]
    local: bool,
    partition: Option<i32>,
    from: Option<String>,
    to: Option<String>,
}

pub(crate) fn router(served: Arc<Served>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/stores/{store}/keys/{key}", get(key))
        .route("/stores/{store}/keys/{key}/windows", get(windows))
        .route("/stores/{store}/keys/{key}/sessions", get(sessions))
        .route("/stores/{store}/entries", get(entries))
        .with_state(served)
}

/// Runs `answer` on tokio's blocking pool: store reads and forwards block.
async fn blocking(answer: impl FnOnce() -> Reply + Send + 'static) -> Reply {
    tokio::task::spawn_blocking(answer)
        .await
        .unwrap_or_else(|e| {
            Reply::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the query failed: {e}"),
            )
        })
}

async fn health(State(s): State<Arc<Served>>) -> (StatusCode, String) {
    let state = s.queries.state();
    probe(state.is_alive(), state)
}

async fn ready(State(s): State<Arc<Served>>) -> (StatusCode, String) {
    let state = s.queries.state();
    probe(state.is_ready(), state)
}

fn probe(ok: bool, state: streams_core::State) -> (StatusCode, String) {
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, format!("{state:?}\n"))
}

async fn metrics(State(s): State<Arc<Served>>) -> Response {
    let text = streams_core::metrics::encode_text(&s.queries.metrics());
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

async fn key(
    State(s): State<Arc<Served>>,
    Path((store, key)): Path<(String, String)>,
    Query(params): Query<Params>,
    uri: Uri,
) -> Reply {
    blocking(move || {
        s.by_key(&store, &key, &params, &uri, |routes, q, p| {
            routes.get(q, &key, p)
        })
    })
    .await
}

async fn windows(
    State(s): State<Arc<Served>>,
    Path((store, key)): Path<(String, String)>,
    Query(params): Query<Params>,
    uri: Uri,
) -> Reply {
    blocking(move || s.timed(&store, &key, &params, &uri, Kind::Window)).await
}

async fn sessions(
    State(s): State<Arc<Served>>,
    Path((store, key)): Path<(String, String)>,
    Query(params): Query<Params>,
    uri: Uri,
) -> Reply {
    blocking(move || s.timed(&store, &key, &params, &uri, Kind::Session)).await
}

async fn entries(
    State(s): State<Arc<Served>>,
    Path(store): Path<String>,
    Query(params): Query<Params>,
    uri: Uri,
) -> Reply {
    blocking(move || s.entries(&store, &params, &uri)).await
}

impl Served {
    /// A query of a key's windows or sessions within `from` and `to` (epoch milliseconds,
    /// both optional).
    fn timed(&self, store: &str, key: &str, params: &Params, uri: &Uri, wanted: Kind) -> Reply {
        let time = |v: &Option<String>, default: i64| match v {
            None => Ok(default),
            Some(v) => v.parse::<i64>().map_err(|_| {
                Reply::error(
                    StatusCode::BAD_REQUEST,
                    format!("`from` and `to` are epoch milliseconds; got {v:?}"),
                )
            }),
        };
        let range = match (time(&params.from, 0), time(&params.to, i64::MAX)) {
            (Ok(f), Ok(t)) => (f, t),
            (Err(r), _) | (_, Err(r)) => return r,
        };
        self.by_key(store, key, params, uri, |routes, q, p| {
            routes.windows(q, key, p, range, wanted)
        })
    }

    fn routes(&self, store: &str) -> Result<&Arc<dyn StoreRoutes>, Reply> {
        self.stores.get(store).ok_or_else(|| {
            let mut served: Vec<&String> = self.stores.keys().collect();
            served.sort();
            Reply::error(
                StatusCode::NOT_FOUND,
                format!("this server does not serve a store named `{store}`; it serves {served:?}"),
            )
        })
    }

    /// Answers a query about one key: here when this instance hosts the key's partition (or
    /// when asked to answer locally), else by forwarding it to the instance that does.
    fn by_key(
        &self,
        store: &str,
        key: &str,
        params: &Params,
        uri: &Uri,
        answer: impl FnOnce(&dyn StoreRoutes, &Queries, Option<i32>) -> Reply,
    ) -> Reply {
        let routes = match self.routes(store) {
            Ok(r) => r,
            Err(reply) => return reply,
        };
        let own = match self.queries.application_server() {
            // Forwarded here, without an endpoint (no other instance to ask), or a global
            // store (every instance has all of it): answered from this instance's stores.
            Some(own) if !params.local && !self.queries.is_global(store) => own,
            _ => return answer(&**routes, &self.queries, params.partition),
        };
        let located = match routes.locate(&self.queries, key) {
            Ok(m) => m,
            Err(reply) => return reply,
        };
        if located.active_host != *own {
            return self.forward(&located.active_host, uri, Some(located.partition));
        }
        answer(&**routes, &self.queries, Some(located.partition))
    }

    /// Every entry of `store`, from every instance hosting some of it. With `local=true` (or
    /// without `application.server`) only this instance's, as `{"partitions": [..],
    /// "entries": [..]}`; gathered, the partitions answered must be every partition of the
    /// store once (else the group moved meanwhile: a retriable 503), and the answer is the
    /// entries' array.
    fn entries(&self, store: &str, params: &Params, uri: &Uri) -> Reply {
        let routes = match self.routes(store) {
            Ok(r) => r,
            Err(reply) => return reply,
        };
        let (from, to) = (params.from.as_deref(), params.to.as_deref());
        let local = || match routes.entries(&self.queries, from, to) {
            Ok((partitions, entries)) => {
                Reply::ok(json!({ "partitions": partitions, "entries": entries }))
            }
            Err(reply) => reply,
        };
        if self.queries.is_global(store) && !params.local {
            return match routes.entries(&self.queries, from, to) {
                Ok((_, entries)) => Reply::ok(Value::Array(entries)),
                Err(reply) => reply,
            };
        }
        let own = match self.queries.application_server() {
            Some(own) if !params.local => own,
            _ => return local(),
        };
        let (hosts, count) = match self
            .queries
            .metadata_for_store(store)
            .and_then(|h| Ok((h, self.queries.partition_count(store)?)))
        {
            Ok(found) => found,
            Err(e) => return Reply::from_error(&e),
        };
        let mut answered = std::collections::BTreeSet::new();
        let mut all = Vec::new();
        for host in hosts {
            let reply = if host.host_info == *own {
                local()
            } else {
                self.forward(&host.host_info, uri, None)
            };
            if reply.status != StatusCode::OK {
                return reply;
            }
            let partitions = reply.body["partitions"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for p in partitions {
                if !answered.insert(p.as_i64().unwrap_or(-1)) {
                    return Reply::error(
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!(
                            "partition {p} of `{store}` was answered twice: the group is moving it"
                        ),
                    );
                }
            }
            if let Value::Array(entries) = &reply.body["entries"] {
                all.extend(entries.iter().cloned());
            }
        }
        if answered.len() != usize::try_from(count).unwrap_or(0) {
            return Reply::error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "only partitions {answered:?} of the {count} of `{store}` answered: the group is moving the others"
                ),
            );
        }
        Reply::ok(Value::Array(all))
    }

    /// Asks `host` the same query with `local=true` (and the key's `partition`, when
    /// known), and relays its answer.
    fn forward(&self, host: &HostInfo, uri: &Uri, partition: Option<i32>) -> Reply {
        // The caller's own `local` and `partition`, if any, give way to ours.
        let mut query: Vec<&str> = uri
            .query()
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty() && !p.starts_with("local=") && !p.starts_with("partition="))
            .collect();
        query.push("local=true");
        let partition = partition.map(|p| format!("partition={p}"));
        query.extend(partition.as_deref());
        let url = format!("http://{host}{}?{}", uri.path(), query.join("&"));
        let unreachable = |e: &dyn std::fmt::Display| {
            Reply::error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the instance hosting it ({host}) did not answer: {e}"),
            )
        };
        let mut response = match self.forward.get(&url).call() {
            Ok(r) => r,
            Err(e) => return unreachable(&e),
        };
        let status =
            StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
        match response.body_mut().read_json::<Value>() {
            Ok(body) => Reply { status, body },
            Err(e) => unreachable(&e),
        }
    }
}

/// Parses a key from its path segment.
fn parse<K: std::str::FromStr>(key: &str) -> Result<K, Reply> {
    key.parse().map_err(|_| {
        Reply::error(
            StatusCode::BAD_REQUEST,
            format!(
                "the key {key:?} does not parse as {}",
                std::any::type_name::<K>()
            ),
        )
    })
}

fn json_of<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or_else(|e| json!({ "unserializable": e.to_string() }))
}

/// Which routes a store answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Key lookups and entries.
    KeyValue,
    /// The windows of a key.
    Window,
    /// The sessions of a key.
    Session,
}

/// The routes of a store of `K` to `V`, of kind `kind`.
pub(crate) struct TypedRoutes<K, V> {
    store: String,
    key_serde: Arc<dyn Serde<K>>,
    kind: Kind,
    _values: PhantomData<fn() -> V>,
}

impl<K, V> TypedRoutes<K, V> {
    pub(crate) fn new(store: &str, key_serde: Arc<dyn Serde<K>>, kind: Kind) -> Self {
        TypedRoutes {
            store: store.to_owned(),
            key_serde,
            kind,
            _values: PhantomData,
        }
    }

    /// The answer to a route the store's kind does not have, naming the one it has.
    fn wrong_kind(&self) -> Reply {
        let (what, route) = match self.kind {
            Kind::KeyValue => ("a key-value store", "/keys/{key} or /entries"),
            Kind::Window => ("a window store", "/keys/{key}/windows?from=<ms>&to=<ms>"),
            Kind::Session => ("a session store", "/keys/{key}/sessions?from=<ms>&to=<ms>"),
        };
        Reply::error(
            StatusCode::BAD_REQUEST,
            format!(
                "`{}` is {what}: ask /stores/{}{route}",
                self.store, self.store
            ),
        )
    }
}

/// Where `key` (of store `store`, serialized by `serde`) lives.
fn locate<K: std::str::FromStr + 'static>(
    queries: &Queries,
    store: &str,
    serde: &dyn Serde<K>,
    key: &str,
) -> Result<streams_core::query::KeyQueryMetadata, Reply> {
    let key: K = parse(key)?;
    queries
        .query_metadata_for_key(store, &key, serde)
        .map_err(|e| Reply::from_error(&e))
}

fn with_partition<Q: streams_core::query::QueryableStoreType>(
    store: &str,
    query: Q,
    partition: Option<i32>,
) -> StoreQueryParameters<Q> {
    let params = StoreQueryParameters::from_name_and_type(store, query);
    match partition {
        Some(p) => params.with_partition(p),
        None => params,
    }
}

impl<K, V> StoreRoutes for TypedRoutes<K, V>
where
    K: std::str::FromStr + serde::Serialize + Clone + Send + Sync + 'static,
    V: serde::Serialize + Send + 'static,
{
    fn locate(
        &self,
        queries: &Queries,
        key: &str,
    ) -> Result<streams_core::query::KeyQueryMetadata, Reply> {
        locate(queries, &self.store, &*self.key_serde, key)
    }

    fn get(&self, queries: &Queries, key: &str, partition: Option<i32>) -> Reply {
        if self.kind != Kind::KeyValue {
            return self.wrong_kind();
        }
        let answer = || -> Result<Reply, Reply> {
            let k: K = parse(key)?;
            let query = QueryableStoreTypes::key_value::<K, V>();
            let view = queries
                .store(with_partition(&self.store, query, partition))
                .map_err(|e| Reply::from_error(&e))?;
            Ok(match view.get(&k).map_err(|e| Reply::from_error(&e))? {
                Some(v) => Reply::ok(json!({ "key": json_of(&k), "value": json_of(&v) })),
                None => Reply::error(
                    StatusCode::NOT_FOUND,
                    format!("no value for the key {key:?}"),
                ),
            })
        };
        answer().unwrap_or_else(|r| r)
    }

    fn windows(
        &self,
        queries: &Queries,
        key: &str,
        partition: Option<i32>,
        (from, to): (i64, i64),
        wanted: Kind,
    ) -> Reply {
        if self.kind != wanted {
            return self.wrong_kind();
        }
        let answer = || -> Result<Reply, Reply> {
            let k: K = parse(key)?;
            let error = |e: StreamsError| Reply::from_error(&e);
            let found = if wanted == Kind::Session {
                let query = QueryableStoreTypes::session_store::<K, V>();
                let view = queries
                    .store(with_partition(&self.store, query, partition))
                    .map_err(error)?;
                view.find_sessions(&k, from, to).map_err(error)?
            } else {
                let query = QueryableStoreTypes::window_store::<K, V>();
                let view = queries
                    .store(with_partition(&self.store, query, partition))
                    .map_err(error)?;
                view.fetch_key_range(Some(&k), Some(&k), from, to)
                    .map_err(error)?
            };
            let mut out = Vec::new();
            for entry in found {
                let (w, v) = entry.map_err(error)?;
                out.push(
                    json!({ "start": w.window.start, "end": w.window.end, "value": json_of(&v) }),
                );
            }
            Ok(Reply::ok(Value::Array(out)))
        };
        answer().unwrap_or_else(|r| r)
    }

    fn entries(
        &self,
        queries: &Queries,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<(Vec<i32>, Vec<Value>), Reply> {
        if self.kind != Kind::KeyValue {
            return Err(self.wrong_kind());
        }
        let from: Option<K> = from.map(parse).transpose()?;
        let to: Option<K> = to.map(parse).transpose()?;
        let view = queries
            .store(StoreQueryParameters::from_name_and_type(
                &self.store,
                QueryableStoreTypes::key_value::<K, V>(),
            ))
            .map_err(|e| Reply::from_error(&e))?;
        let mut out = Vec::new();
        for entry in view
            .range(from.as_ref(), to.as_ref())
            .map_err(|e| Reply::from_error(&e))?
        {
            let (k, v) = entry.map_err(|e| Reply::from_error(&e))?;
            out.push(json!({ "key": json_of(&k), "value": json_of(&v) }));
        }
        Ok((view.partitions(), out))
    }
}
