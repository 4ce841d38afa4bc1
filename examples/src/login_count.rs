//! **login-count**: how many times each user logged in, per 5-minute tumbling window.
//!
//! Reads JSON events keyed by user from `logins` (`{"action": "login"}`, `"logout"`, ...),
//! keeps the logins, counts them per user in 5-minute windows (1 minute of grace for records
//! that arrive out of order) and writes every update of a window's count to `login-counts`
//! as JSON, keyed by user.

use std::time::Duration;

use anyhow::Result;
use kstreams::prelude::*;
use serde::{Deserialize, Serialize};

use crate::runner::{CommonArgs, Example, OutputRecord, RawRecord, at, clock};
use crate::{from_json, json};

/// An event on `logins`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoginEvent {
    /// `login`, `logout`, `failed-login`, ...
    pub action: String,
}

/// A window's count on `login-counts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoginCount {
    /// The user.
    pub user: String,
    /// Window start (ms).
    pub window_start: i64,
    /// Window end (ms, exclusive).
    pub window_end: i64,
    /// Logins in the window so far.
    pub logins: i64,
}

/// The window size.
pub const WINDOW: Duration = Duration::from_secs(5 * 60);

/// The login-count application.
pub struct LoginCountApp {
    args: CommonArgs,
}

impl LoginCountApp {
    /// The application for these options.
    pub fn new(args: &CommonArgs) -> Self {
        LoginCountApp { args: args.clone() }
    }
}

impl Example for LoginCountApp {
    fn name(&self) -> &'static str {
        "login-count"
    }

    fn input_topics(&self) -> Vec<&'static str> {
        vec!["logins"]
    }

    fn output_topics(&self) -> Vec<&'static str> {
        vec!["login-counts"]
    }

    fn topology(&self) -> kstreams::Result<Topology> {
        let b = StreamsBuilder::new();
        b.stream_with(
            &[&self.args.topic("logins")],
            Consumed::with(StringSerde, JsonSerde::<LoginEvent>::new()),
        )
        .filter(|_, e| e.action == "login")
        .group_by_key()
        .windowed_by(TimeWindows::of_size_and_grace(
            WINDOW,
            Duration::from_secs(60),
        ))
        .count_with(Materialized::as_store("login-counts-store"))
        .to_stream()
        .filter(|_, count| count.is_some())
        .map(|w, count| {
            let value = LoginCount {
                user: w.key.clone(),
                window_start: w.window.start,
                window_end: w.window.end,
                logins: count.unwrap_or_default(),
            };
            (w.key, value)
        })
        .to_with(
            &self.args.topic("login-counts"),
            Produced::with(StringSerde, JsonSerde::new()),
        );
        b.build()
    }

    fn sample(&self) -> Result<Vec<Vec<RawRecord>>> {
        let events = [
            ("ann", "login", at(9, 0, 10)),
            ("ann", "login", at(9, 1, 0)),
            ("cy", "logout", at(9, 1, 30)),
            ("ann", "logout", at(9, 2, 0)),
            ("bob", "login", at(9, 3, 0)),
            ("bob", "failed-login", at(9, 3, 30)),
            ("ann", "login", at(9, 4, 59)),
            ("ann", "login", at(9, 5, 0)),
            ("cy", "login", at(9, 6, 0)),
            ("bob", "login", at(9, 7, 0)),
        ];
        let records = events
            .iter()
            .map(|(user, action, ts)| {
                Ok(RawRecord {
                    topic: "logins",
                    key: Some(user.as_bytes().to_vec()),
                    value: Some(json(&LoginEvent {
                        action: (*action).into(),
                    })?),
                    timestamp: *ts,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(vec![records])
    }

    fn describe(&self, r: &OutputRecord<'_>) -> Result<String> {
        let c: LoginCount = from_json(r.value)?;
        Ok(format!(
            "{} {}-{} logins={} (at {})",
            c.user,
            clock(c.window_start),
            clock(c.window_end),
            c.logins,
            clock(r.timestamp)
        ))
    }
}
