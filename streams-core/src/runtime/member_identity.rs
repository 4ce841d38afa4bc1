//! Who a stream thread's main consumer is in the group, and what it publishes there about
//! its instance: librdkafka cannot attach user data to a group subscription or assignment,
//! so the instance's `application.server` (for the query metadata) and its process id and
//! `client.rack` (for the standby assignor) travel in the consumer's client id, which the
//! group coordinator shows in every member's description.

use crate::config::StreamsConfig;

/// Who a main consumer is in the group: a static member when `instance_id` is given (the
/// thread's `group.instance.id`), and the instance's process id, which it publishes for the
/// standby assignor when standby replicas are wanted.
#[derive(Debug, Default)]
pub(crate) struct Member {
    pub instance_id: Option<String>,
    pub process: Option<String>,
}

impl Member {
    /// Stream thread `index` of the instance with process id `process`.
    pub(crate) fn of_thread(config: &StreamsConfig, index: usize, process: &str) -> Member {
        Member {
            instance_id: config.thread_instance_id(index),
            process: (config.num_standby_replicas() > 0 && !process.is_empty())
                .then(|| process.to_owned()),
        }
    }
}

/// Between a main consumer's client id and the `application.server` it publishes.
pub(crate) const ENDPOINT_MARK: char = '@';

/// Before the process id (and then the `client.rack`) a main consumer publishes in its client
/// id for the standby assignor: `<client id>~<process id>[~<rack>][@<host:port>]`.
pub(crate) const PROCESS_MARK: char = '~';

/// The process id and rack a member's client id publishes (see [`PROCESS_MARK`]), if any.
pub(crate) fn published_process(client_id: &str) -> Option<(&str, Option<&str>)> {
    let id = client_id
        .rsplit_once(ENDPOINT_MARK)
        .map_or(client_id, |(id, _)| id);
    let is_process = |s: &str| s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit());
    let mut parts = id.rsplitn(3, PROCESS_MARK);
    let last = parts.next()?;
    let before = parts.next()?;
    if is_process(last) {
        Some((last, None))
    } else if is_process(before) && parts.next().is_some() {
        Some((before, Some(last)))
    } else {
        None
    }
}
