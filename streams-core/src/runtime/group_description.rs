//! The application's consumer group as the group coordinator describes it: each member's
//! client id and the partitions assigned to it, read with the admin API when the group is
//! stable. The query metadata and the standby assignor both work from it.
//!
//! librdkafka's `DescribeConsumerGroups` answers for groups of either rebalance protocol (the
//! classic `DescribeGroups`, or KIP-848's `ConsumerGroupDescribe`, whose members the classic
//! request does not show); rdkafka does not wrap it, so it is called here through librdkafka's
//! public C API, on a client that fetches nothing.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString};
use std::time::Duration;

use rdkafka::bindings as rdsys;
use rdkafka::consumer::{BaseConsumer, Consumer};

use super::client_failure::WatchedContext;
use crate::error::Unavailable;

/// How long reading the group from the broker may take.
pub(crate) const ASK_TIMEOUT: Duration = Duration::from_secs(5);

/// A member of the application's group as the broker describes it: its client id and the
/// partitions assigned to it.
pub(crate) type MemberAssignment = (String, Vec<(String, i32)>);

/// The members of `group` with their assignments, when the group is stable; otherwise why
/// they cannot be known now (a rebalance shows no assignment).
pub(crate) fn stable_members(
    client: &BaseConsumer<WatchedContext>,
    group: &str,
) -> std::result::Result<Vec<MemberAssignment>, Unavailable> {
    let unavailable = |message: String| Unavailable::NoMetadata {
        message: format!("describing the application's group: {message}"),
    };
    let name = CString::new(group).map_err(|e| unavailable(e.to_string()))?;
    let rk = client.client().native_ptr();
    let wait_ms = ASK_TIMEOUT.as_millis() as i32;
    // SAFETY: `rk` is live while `client` is; the queue, options and event are created and
    // destroyed here, and every pointer read from the result is used before the event that
    // owns it is destroyed. librdkafka copies the group name before returning.
    unsafe {
        let queue = rdsys::rd_kafka_queue_new(rk);
        let options = rdsys::rd_kafka_AdminOptions_new(
            rk,
            rdsys::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS,
        );
        let mut errstr = [0 as std::ffi::c_char; 256];
        rdsys::rd_kafka_AdminOptions_set_request_timeout(
            options,
            wait_ms,
            errstr.as_mut_ptr(),
            errstr.len(),
        );
        let mut groups = [name.as_ptr()];
        rdsys::rd_kafka_DescribeConsumerGroups(rk, groups.as_mut_ptr(), 1, options, queue);
        let event = rdsys::rd_kafka_queue_poll(queue, wait_ms + 1000);
        let members = if event.is_null() {
            Err(unavailable("no answer in time".into()))
        } else {
            let members = read_description(event, group);
            rdsys::rd_kafka_event_destroy(event);
            members
        };
        rdsys::rd_kafka_AdminOptions_destroy(options);
        rdsys::rd_kafka_queue_destroy(queue);
        members
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
    let unavailable = |message: String| Unavailable::NoMetadata {
        message: format!("describing the application's group: {message}"),
    };
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
            members.push((client_id, partitions));
        }
        Ok(members)
    }
}
