//! The application's consumer group as the group coordinator describes it: each member's
//! client id and the partitions assigned to it, read with the admin API when the group is
//! stable. The query metadata and the standby assignor both work from it.

use rdkafka::consumer::{BaseConsumer, Consumer};

use super::client_failure::WatchedContext;
use crate::error::Unavailable;

/// How long reading the group from the broker may take.
pub(crate) const ASK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A member of the application's group as the broker describes it: its client id and the
/// partitions assigned to it.
pub(crate) type MemberAssignment = (String, Vec<(String, i32)>);

/// The members of `group` with their assignments, when the group is stable; otherwise why
/// they cannot be known now (a rebalance shows no assignment).
pub(crate) fn stable_members(
    client: &BaseConsumer<WatchedContext>,
    group: &str,
) -> std::result::Result<Vec<MemberAssignment>, Unavailable> {
    let list = client
        .fetch_group_list(Some(group), ASK_TIMEOUT)
        .map_err(|e| Unavailable::NoMetadata {
            message: format!("describing the application's group: {e}"),
        })?;
    let info = list
        .groups()
        .iter()
        .find(|g| g.name() == group)
        .ok_or(Unavailable::Rebalancing)?;
    if info.state() != "Stable" {
        return Err(Unavailable::Rebalancing);
    }
    Ok(info
        .members()
        .iter()
        .map(|m| {
            let assigned = m.assignment().and_then(parse_assignment);
            (m.client_id().to_owned(), assigned.unwrap_or_default())
        })
        .collect())
}

/// The partitions of a consumer group member's assignment (Kafka's `ConsumerProtocolAssignment`,
/// versions 0 to 3: a version, then per topic its name and partitions, then user data).
pub(crate) fn parse_assignment(bytes: &[u8]) -> Option<Vec<(String, i32)>> {
    let mut r = Reader(bytes);
    r.i16()?;
    let mut out = Vec::new();
    for _ in 0..r.count()? {
        let len = usize::try_from(r.i16()?).ok()?;
        let topic = String::from_utf8(r.take(len)?.to_vec()).ok()?;
        for _ in 0..r.count()? {
            out.push((topic.clone(), r.i32()?));
        }
    }
    Some(out)
}

/// Big-endian reads from a byte slice.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn i16(&mut self) -> Option<i16> {
        Some(i16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }

    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }

    /// An array length: non-negative (a null array counts as empty).
    fn count(&mut self) -> Option<usize> {
        usize::try_from(self.i32()?.max(0)).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_assignment() {
        let mut bytes = vec![0, 1]; // version 1
        bytes.extend(2i32.to_be_bytes()); // two topics
        for (topic, partitions) in [("in", vec![0i32, 2]), ("repart", vec![1])] {
            bytes.extend((topic.len() as i16).to_be_bytes());
            bytes.extend(topic.as_bytes());
            bytes.extend((partitions.len() as i32).to_be_bytes());
            for p in partitions {
                bytes.extend(p.to_be_bytes());
            }
        }
        bytes.extend((-1i32).to_be_bytes()); // no user data
        assert_eq!(
            parse_assignment(&bytes),
            Some(vec![
                ("in".to_owned(), 0),
                ("in".to_owned(), 2),
                ("repart".to_owned(), 1)
            ])
        );
        assert_eq!(parse_assignment(&bytes[..9]), None);
    }
}
