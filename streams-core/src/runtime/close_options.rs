//! [`CloseOptions`]: how [`KafkaStreams::close_with`](crate::KafkaStreams::close_with) stops
//! a client, as Kafka Streams' `KafkaStreams.CloseOptions`.

use std::time::Duration;

/// How long a close waits for the stream threads, and whether their consumers leave the
/// group.
///
/// A dynamic member always leaves (its partitions move at once). A static member
/// (`group.instance.id` set) stays by default, so that a restart within
/// `session.timeout.ms` gets its partitions back without a rebalance; when the instance is
/// going away for good (scaling in), `leave_group(true)` hands its partitions over at once
/// instead of after the session timeout.
///
/// ```
/// use std::time::Duration;
/// use streams_core::CloseOptions;
///
/// let options = CloseOptions::default().timeout(Duration::from_secs(20)).leave_group(true);
/// assert_eq!(options.get_timeout(), Duration::from_secs(20));
/// assert!(options.leaves_group());
/// assert!(!CloseOptions::default().leaves_group());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloseOptions {
    timeout: Duration,
    leave_group: bool,
}

impl Default for CloseOptions {
    /// Wait up to 60 s; a static member stays in the group.
    fn default() -> Self {
        CloseOptions {
            timeout: Duration::from_secs(60),
            leave_group: false,
        }
    }
}

impl CloseOptions {
    /// How long to wait for the threads to commit and close their tasks.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Whether a static member leaves the group (dynamic members always do).
    pub fn leave_group(mut self, leave: bool) -> Self {
        self.leave_group = leave;
        self
    }

    /// The wait of [`Self::timeout`].
    pub fn get_timeout(&self) -> Duration {
        self.timeout
    }

    /// The choice of [`Self::leave_group`].
    pub fn leaves_group(&self) -> bool {
        self.leave_group
    }
}
