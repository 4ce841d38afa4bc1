//! The application's consumer group as the group coordinator describes it: each member's
//! client id and the partitions assigned to it, read with the admin API when the group is
//! stable. The query metadata and the standby assignor both work from it.
//!
//! librdkafka's `DescribeConsumerGroups` answers for groups of either rebalance protocol (the
//! classic `DescribeGroups`, or KIP-848's `ConsumerGroupDescribe`, whose members the classic
//! request does not show); rdkafka does not wrap it, so it is called here through librdkafka's
//! public C API, on a client that fetches nothing.
//!
//! A coordinator admin request that times out while it still waits for the group
//! coordinator makes librdkafka (2.12) free its completion state twice once the coordinator
//! is found, and the process aborts (`rd_kafka_enq_once_del_source_return: Assertion
//! eonce->refcnt > 0`, librdkafka issue 4605; seen here when the coordinator's broker was
//! killed). So a [`GroupDescriber`] never lets its request time out inside librdkafka: the
//! request may wait an hour (the most librdkafka allows) for the coordinator, at most one is
//! outstanding, and a caller that cannot wait that long is answered "no answer yet" while
//! the request stays pending, to be picked up by a later call.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString};
use std::time::{Duration, Instant};

use rdkafka::bindings as rdsys;
use rdkafka::consumer::{BaseConsumer, Consumer};

use super::client_failure::WatchedContext;
use crate::error::Unavailable;

/// How long reading the group from the broker may take.
pub(crate) const ASK_TIMEOUT: Duration = Duration::from_secs(5);

/// How long librdkafka may keep a request waiting for the coordinator: its maximum (see the
/// module's documentation for why it must not expire while waiting).
const REQUEST_TIMEOUT_MS: i32 = 3_600_000;

/// A member of the application's group as the broker describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MemberAssignment {
    /// Its client id (with the process, rack and endpoint the member publishes).
    pub(crate) client_id: String,
    /// The member id the coordinator gave it.
    pub(crate) member_id: String,
    /// Its `group.instance.id`, for a static member.
    pub(crate) instance_id: Option<String>,
    /// The partitions assigned to it.
    pub(crate) partitions: Vec<(String, i32)>,
}

/// Reads the application's group through a client of its own, one request at a time.
pub(crate) struct GroupDescriber {
    /// Where librdkafka puts the answers; destroyed before the client.
    queue: *mut rdsys::rd_kafka_queue_t,
    /// When the outstanding request (its answer not yet taken from `queue`) was sent.
    asked: Option<Instant>,
    group: CString,
    client: BaseConsumer<WatchedContext>,
}

// SAFETY: librdkafka's queues are thread-safe; the pointer is owned by this value alone and
// used through `&mut self` (or in `drop`).
unsafe impl Send for GroupDescriber {}

impl GroupDescriber {
    /// A describer of `group` through `client` (a client that fetches nothing).
    pub(crate) fn new(
        client: BaseConsumer<WatchedContext>,
        group: &str,
    ) -> std::result::Result<Self, Unavailable> {
        let group = CString::new(group).map_err(|e| unavailable(e.to_string()))?;
        // SAFETY: the client's handle is live; the queue is destroyed in `drop`, before the
        // client.
        let queue = unsafe { rdsys::rd_kafka_queue_new(client.client().native_ptr()) };
        Ok(GroupDescriber {
            queue,
            asked: None,
            group,
            client,
        })
    }

    /// The client the group is read through (for metadata requests of the caller's own).
    pub(crate) fn client(&self) -> &BaseConsumer<WatchedContext> {
        &self.client
    }

    /// The members of the group with their assignments, when the group is stable; otherwise
    /// why they cannot be known now (a rebalance shows no assignment, a moving coordinator no
    /// answer within `wait`). An answer left from an earlier call that waited in vain is
    /// dropped as stale and the group asked again.
    pub(crate) fn stable_members(
        &mut self,
        wait: Duration,
    ) -> std::result::Result<Vec<MemberAssignment>, Unavailable> {
        let rk = self.client.client().native_ptr();
        // SAFETY: `rk` and the queue are live while `self` is; the options are destroyed
        // once the request holds its own copy; librdkafka copies the group name before
        // returning; the event is destroyed after everything read from it is copied.
        unsafe {
            if self.asked.is_some_and(|at| at.elapsed() > wait) {
                let stale = rdsys::rd_kafka_queue_poll(self.queue, 0);
                if !stale.is_null() {
                    rdsys::rd_kafka_event_destroy(stale);
                    self.asked = None;
                }
            }
            if self.asked.is_none() {
                let options = rdsys::rd_kafka_AdminOptions_new(
                    rk,
                    rdsys::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS,
                );
                let mut errstr = [0 as std::ffi::c_char; 256];
                rdsys::rd_kafka_AdminOptions_set_request_timeout(
                    options,
                    REQUEST_TIMEOUT_MS,
                    errstr.as_mut_ptr(),
                    errstr.len(),
                );
                let mut groups = [self.group.as_ptr()];
                rdsys::rd_kafka_DescribeConsumerGroups(
                    rk,
                    groups.as_mut_ptr(),
                    1,
                    options,
                    self.queue,
                );
                rdsys::rd_kafka_AdminOptions_destroy(options);
                self.asked = Some(Instant::now());
            }
            let wait_ms = i32::try_from(wait.as_millis()).unwrap_or(i32::MAX);
            let event = rdsys::rd_kafka_queue_poll(self.queue, wait_ms);
            if event.is_null() {
                return Err(unavailable(
                    "no answer yet (is the group coordinator moving?)".into(),
                ));
            }
            self.asked = None;
            let group = self.group.to_string_lossy();
            let members = read_description(event, &group);
            rdsys::rd_kafka_event_destroy(event);
            members
        }
    }
}

impl Drop for GroupDescriber {
    fn drop(&mut self) {
        // SAFETY: the queue was created in `new` and is destroyed once, before the client
        // (a field, dropped after this).
        unsafe { rdsys::rd_kafka_queue_destroy(self.queue) }
    }
}

/// Why the group could not be described.
fn unavailable(message: String) -> Unavailable {
    Unavailable::NoMetadata {
        message: format!("describing the application's group: {message}"),
    }
}

/// The members described in `event`, the result of describing `group`.
///
/// # Safety
/// `event` must be a live `DescribeConsumerGroups` result event.
unsafe fn read_description(
    event: *mut rdsys::rd_kafka_event_t,
    group: &str,
) -> std::result::Result<Vec<MemberAssignment>, Unavailable> {
    let text = |p: *const std::ffi::c_char| {
        if p.is_null() {
            String::new()
        } else {
            // SAFETY: librdkafka's strings are NUL-terminated and live with the event.
            unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
        }
    };
    // SAFETY: per this function's contract; every accessor is given what the one before
    // returned, within the event's lifetime.
    unsafe {
        if rdsys::rd_kafka_event_error(event)
            != rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR
        {
            return Err(unavailable(text(rdsys::rd_kafka_event_error_string(event))));
        }
        let result = rdsys::rd_kafka_event_DescribeConsumerGroups_result(event);
        let mut count = 0usize;
        let descriptions = rdsys::rd_kafka_DescribeConsumerGroups_result_groups(result, &mut count);
        let Some(&description) = (count > 0).then(|| &*descriptions) else {
            return Err(Unavailable::Rebalancing);
        };
        let error = rdsys::rd_kafka_ConsumerGroupDescription_error(description);
        if !error.is_null() {
            return Err(unavailable(format!(
                "{group}: {}",
                text(rdsys::rd_kafka_error_string(error))
            )));
        }
        if rdsys::rd_kafka_ConsumerGroupDescription_state(description)
            != rdsys::rd_kafka_consumer_group_state_t::RD_KAFKA_CONSUMER_GROUP_STATE_STABLE
        {
            return Err(Unavailable::Rebalancing);
        }
        let mut members = Vec::new();
        for i in 0..rdsys::rd_kafka_ConsumerGroupDescription_member_count(description) {
            let member = rdsys::rd_kafka_ConsumerGroupDescription_member(description, i);
            let client_id = text(rdsys::rd_kafka_MemberDescription_client_id(member));
            let member_id = text(rdsys::rd_kafka_MemberDescription_consumer_id(member));
            let instance_id = rdsys::rd_kafka_MemberDescription_group_instance_id(member);
            let instance_id = (!instance_id.is_null()).then(|| text(instance_id));
            let assignment = rdsys::rd_kafka_MemberDescription_assignment(member);
            let list = if assignment.is_null() {
                std::ptr::null()
            } else {
                rdsys::rd_kafka_MemberAssignment_partitions(assignment)
            };
            let mut partitions = Vec::new();
            if !list.is_null() {
                let list = &*list;
                for j in 0..usize::try_from(list.cnt).unwrap_or(0) {
                    let p = &*list.elems.add(j);
                    partitions.push((text(p.topic), p.partition));
                }
            }
            members.push(MemberAssignment {
                client_id,
                member_id,
                instance_id,
                partitions,
            });
        }
        Ok(members)
    }
}
