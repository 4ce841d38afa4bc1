//! Places standby replicas (`num.standby.replicas`). librdkafka has no pluggable assignor, so
//! the group's range assignment places the active tasks and every instance places the standby
//! copies the same way from what the group coordinator shows of every member: the process id
//! (and `client.rack`) each main consumer publishes in its client id, its member id (and
//! `group.instance.id`), and the partitions assigned to it. For each task the instances other
//! than the active one's are ranked: those on another rack than the active copy first; then,
//! under the classic protocol without racks, the instance the range assignor would move the
//! task to if its owner's instance left (computed from the members as librdkafka computes
//! the assignment), so that a failed instance's tasks go where their copies are; then by a
//! hash of (process id, task), highest first (rendezvous hashing: stable while the members
//! stay). The first `num.standby.replicas` keep a copy. An instance reads the group every
//! second while it is stable and publishes its share to its threads through the
//! [`StandbyPlan`](super::standby_plan::StandbyPlan).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::client_supplier::{create_watermark_client, serve_initial_events};
use super::control::ClientControl;
use super::group_description::{ASK_TIMEOUT, GroupDescriber, MemberAssignment};
use super::member_identity::published_process;
use crate::config::StreamsConfig;
use crate::error::{Result, StreamsError};
use crate::ids::TaskId;
use crate::topology::Subtopology;

/// How often the group is read again.
const PLAN_INTERVAL: Duration = Duration::from_secs(1);

/// For each task with an active owner in `members`, the processes that keep a standby copy,
/// best first. Members that publish no process id (an instance without standbys) own tasks
/// but keep no copies. With `range_successors` (the classic protocol, whose range assignment
/// librdkafka computes in the members), the instance that the range assignor would give the
/// task to if its owner's instance left ranks first on its rack (see [`range_successor`]).
pub(crate) fn place_standbys(
    members: &[MemberAssignment],
    subtopologies: &[Subtopology],
    replicas: usize,
    range_successors: bool,
) -> BTreeMap<TaskId, Vec<String>> {
    let mut subtopology_of: BTreeMap<&str, u32> = BTreeMap::new();
    for sub in subtopologies {
        for topic in &sub.source_topics {
            subtopology_of.insert(topic, sub.id);
        }
    }
    // Every process with its rack, and every task with its active owner's process and rack
    // and the topic-partition that placed it.
    let mut processes: BTreeMap<&str, Option<&str>> = BTreeMap::new();
    type Owner<'a> = (Option<(&'a str, Option<&'a str>)>, (&'a str, i32));
    let mut owners: BTreeMap<TaskId, Owner> = BTreeMap::new();
    for member in members {
        let published = published_process(&member.client_id);
        if let Some((process, rack)) = published {
            processes.insert(process, rack);
        }
        for (topic, partition) in &member.partitions {
            if let Some(&subtopology) = subtopology_of.get(topic.as_str()) {
                let id = TaskId {
                    subtopology,
                    partition: *partition,
                };
                owners.entry(id).or_insert((published, (topic, *partition)));
            }
        }
    }
    // librdkafka's range assignor works rack-aware when members set a rack: not predicted.
    let predict = range_successors && processes.values().all(Option::is_none);
    let mut placement = BTreeMap::new();
    for (id, (owner, (topic, partition))) in owners {
        let successor = owner
            .filter(|_| predict)
            .and_then(|(o, _)| range_successor(members, topic, partition, o));
        let mut candidates: Vec<(bool, bool, u64, &str)> = processes
            .iter()
            .filter(|(process, _)| owner.is_none_or(|(o, _)| o != **process))
            .map(|(process, rack)| {
                let same_rack = matches!((owner, rack), (Some((_, Some(a))), Some(b)) if a == *b);
                let not_next = successor != Some(*process);
                (same_rack, not_next, rank(process, id), *process)
            })
            .collect();
        candidates.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)).then(b.2.cmp(&a.2)));
        let chosen: Vec<String> = candidates
            .into_iter()
            .take(replicas)
            .map(|(_, _, _, p)| p.to_owned())
            .collect();
        if !chosen.is_empty() {
            placement.insert(id, chosen);
        }
    }
    placement
}

/// The process whose member the range assignor would give `topic`-`partition` to if the
/// members of process `owner` left the group: the classic range assignment (librdkafka's and
/// Java's) over the other members subscribed alike, ordered by `group.instance.id` when all
/// are static and by member id otherwise, each taking a run of `partitions / members`
/// partitions, the first `partitions % members` one more. The topic's partition count is
/// taken from the assignment (every partition is assigned in a stable group). `None` when no
/// member would remain, or the one that would publishes no process id.
fn range_successor<'a>(
    members: &'a [MemberAssignment],
    topic: &str,
    partition: i32,
    owner: &str,
) -> Option<&'a str> {
    let count = members
        .iter()
        .flat_map(|m| &m.partitions)
        .filter(|(t, _)| t == topic)
        .filter_map(|(_, p)| usize::try_from(p + 1).ok())
        .max()?;
    let mut rest: Vec<&MemberAssignment> = members
        .iter()
        .filter(|m| published_process(&m.client_id).is_none_or(|(p, _)| p != owner))
        .collect();
    if rest.is_empty() {
        return None;
    }
    if rest.iter().all(|m| m.instance_id.is_some()) {
        rest.sort_by(|a, b| a.instance_id.cmp(&b.instance_id));
    } else {
        rest.sort_by(|a, b| a.member_id.cmp(&b.member_id));
    }
    let (n, partition) = (rest.len(), usize::try_from(partition).ok()?);
    let (per, extra) = (count / n, count % n);
    // Member i takes [i * per + min(i, extra), ... + per + (i < extra)).
    let index = (0..n).find(|&i| {
        let start = i * per + i.min(extra);
        let len = per + usize::from(i < extra);
        (start..start + len).contains(&partition)
    })?;
    published_process(&rest[index].client_id).map(|(p, _)| p)
}

/// The rank of `process` for task `id`: FNV-1a over both, then mixed (SplitMix64's finaliser)
/// so that near-equal inputs rank far apart. Stable across builds and platforms, so every
/// instance ranks alike.
fn rank(process: &str, id: TaskId) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let task = format!("{}_{}", id.subtopology, id.partition);
    for b in process.bytes().chain([0]).chain(task.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The thread of `threads` that keeps standby task `id`.
fn thread_of(id: TaskId, threads: &[usize]) -> Option<usize> {
    let slot = (id.subtopology as usize + id.partition.max(0) as usize) % threads.len().max(1);
    threads.get(slot).copied()
}

/// This instance's share of the standby copies, per stream thread.
fn own_share(
    members: &[MemberAssignment],
    subtopologies: &[Subtopology],
    config: &StreamsConfig,
    process: &str,
    threads: &[usize],
) -> BTreeMap<usize, BTreeSet<TaskId>> {
    let mut by_thread: BTreeMap<usize, BTreeSet<TaskId>> = BTreeMap::new();
    let placement = place_standbys(
        members,
        subtopologies,
        config.num_standby_replicas(),
        !config.uses_consumer_protocol(),
    );
    for (id, keepers) in placement {
        if keepers.iter().any(|k| k == process)
            && let Some(thread) = thread_of(id, threads)
        {
            by_thread.entry(thread).or_default().insert(id);
        }
    }
    by_thread
}

/// Starts the thread that reads the group and publishes this instance's standby tasks
/// (process id `process`) to `control`'s plan until the client stops. While the group is
/// not stable the plan stays as it was.
pub(crate) fn spawn(
    config: StreamsConfig,
    client_id: &str,
    process: String,
    subtopologies: Arc<Vec<Subtopology>>,
    control: Arc<ClientControl>,
) -> Result<JoinHandle<()>> {
    let client = create_watermark_client(
        &config,
        &format!("{client_id}-standby-assignor"),
        &Default::default(),
    )?;
    let mut describer = GroupDescriber::new(client, config.application_id()).map_err(|reason| {
        StreamsError::Config {
            key: "application.id".into(),
            message: reason.to_string(),
        }
    })?;
    std::thread::Builder::new()
        .name(format!("{client_id}-StandbyAssignor"))
        .spawn(move || {
            let mut next = Instant::now();
            while !control.stop_requested() {
                if Instant::now() >= next {
                    // Token refreshes (OAUTHBEARER) are served from the client's queue.
                    serve_initial_events(describer.client());
                    if let Ok(members) = describer.stable_members(ASK_TIMEOUT) {
                        let share = own_share(
                            &members,
                            &subtopologies,
                            &config,
                            &process,
                            &control.live_threads(),
                        );
                        control.standbys.publish(share);
                    }
                    next = Instant::now() + PLAN_INTERVAL;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
        .map_err(|e| StreamsError::io("spawning the standby assignor", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(id: u32, topics: &[&str]) -> Subtopology {
        Subtopology {
            id,
            nodes: Vec::new(),
            source_topics: topics.iter().map(|t| (*t).to_owned()).collect(),
            stores: Vec::new(),
        }
    }

    fn member(process: &str, rack: Option<&str>, partitions: &[(&str, i32)]) -> MemberAssignment {
        let rack = rack.map(|r| format!("~{r}")).unwrap_or_default();
        MemberAssignment {
            client_id: format!("app-1-StreamThread-1-consumer~{process}{rack}@h:1"),
            member_id: format!("m-{process}"),
            instance_id: None,
            partitions: partitions
                .iter()
                .map(|(t, p)| ((*t).to_owned(), *p))
                .collect(),
        }
    }

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const C: &str = "cccccccccccccccccccccccccccccccc";

    #[test]
    fn a_standby_is_never_on_the_active_copy_s_instance() {
        let subs = [sub(0, &["in"]), sub(1, &["app-rep-repartition"])];
        let members = [
            member(A, None, &[("in", 0), ("app-rep-repartition", 0)]),
            member(B, None, &[("in", 1), ("app-rep-repartition", 1)]),
        ];
        let placement = place_standbys(&members, &subs, 1, false);
        let t = |s, p| TaskId {
            subtopology: s,
            partition: p,
        };
        assert_eq!(
            placement,
            BTreeMap::from([
                (t(0, 0), vec![B.to_owned()]),
                (t(0, 1), vec![A.to_owned()]),
                (t(1, 0), vec![B.to_owned()]),
                (t(1, 1), vec![A.to_owned()]),
            ])
        );
        // More replicas than other instances: every other instance keeps one.
        let two = place_standbys(&members, &subs, 2, false);
        assert_eq!(two[&t(0, 0)], vec![B.to_owned()]);
    }

    #[test]
    fn another_rack_comes_first_and_placement_is_sticky() {
        let subs = [sub(0, &["in"])];
        let partitions: Vec<(&str, i32)> = (0..12).map(|p| ("in", p)).collect();
        let members = [
            member(A, Some("r1"), &partitions),
            member(B, Some("r1"), &[]),
            member(C, Some("r2"), &[]),
        ];
        let placement = place_standbys(&members, &subs, 1, false);
        assert!(
            placement.values().all(|k| k == &vec![C.to_owned()]),
            "{placement:?}"
        );
        // Without racks, the copies spread over B and C; one of them leaving moves only
        // its own copies.
        let members = [
            member(A, None, &partitions),
            member(B, None, &[]),
            member(C, None, &[]),
        ];
        let before = place_standbys(&members, &subs, 1, false);
        let on =
            |p: &BTreeMap<TaskId, Vec<String>>, x: &str| p.values().filter(|k| k[0] == x).count();
        assert!(on(&before, B) > 0 && on(&before, C) > 0, "{before:?}");
        let after = place_standbys(&members[..2], &subs, 1, false);
        for (id, keepers) in &before {
            if keepers[0] == B {
                assert_eq!(after[id], *keepers, "a copy on B stays on B");
            }
        }
    }

    #[test]
    fn members_without_a_process_id_keep_no_copies() {
        let subs = [sub(0, &["in"])];
        let members = [
            member(A, None, &[("in", 0)]),
            MemberAssignment {
                client_id: "plain-consumer".into(),
                member_id: "plain-consumer-1".into(),
                instance_id: None,
                partitions: vec![("in".to_owned(), 1)],
            },
        ];
        let placement = place_standbys(&members, &subs, 1, false);
        let t1 = TaskId {
            subtopology: 0,
            partition: 1,
        };
        assert_eq!(placement, BTreeMap::from([(t1, vec![A.to_owned()])]));
    }

    #[test]
    fn the_copy_goes_where_the_range_assignor_moves_the_task() {
        let subs = [sub(0, &["in"])];
        let runs = |from: i32, to: i32| (from..to).map(|p| ("in", p)).collect::<Vec<_>>();
        // Range over three members in member-id order: A 0-1, B 2-3, C 4-5.
        let members = [
            member(A, None, &runs(0, 2)),
            member(B, None, &runs(2, 4)),
            member(C, None, &runs(4, 6)),
        ];
        let t = |p| TaskId {
            subtopology: 0,
            partition: p,
        };
        // Without A: B 0-2, C 3-5; without B: A 0-2, C 3-5; without C: A 0-2, B 3-5.
        let expected = [B, B, A, C, B, B];
        let placement = place_standbys(&members, &subs, 1, true);
        for (p, keeper) in expected.iter().enumerate() {
            assert_eq!(
                placement[&t(p as i32)],
                vec![(*keeper).to_owned()],
                "task 0_{p}"
            );
        }
        // The successor first, then the rendezvous order.
        let two = place_standbys(&members, &subs, 2, true);
        assert_eq!(two[&t(0)], vec![B.to_owned(), C.to_owned()]);
        // Static members go by group.instance.id, here the reverse of the member ids.
        let statics: Vec<MemberAssignment> = members
            .iter()
            .zip(["z", "y", "x"])
            .map(|(m, instance)| MemberAssignment {
                instance_id: Some(instance.to_owned()),
                ..m.clone()
            })
            .collect();
        // Without A: C (x) 0-2, B (y) 3-5.
        let placement = place_standbys(&statics, &subs, 1, true);
        assert_eq!(placement[&t(0)], vec![C.to_owned()]);
        assert_eq!(placement[&t(1)], vec![C.to_owned()]);
        // An instance with two members (m-0 and m-A): both leave with it. Seven partitions
        // over m-0, m-A, m-B, m-C: 0-1, 2-3, 4-5, 6.
        let two_threads = [
            MemberAssignment {
                member_id: "m-0".into(),
                ..member(A, None, &runs(0, 2))
            },
            member(A, None, &runs(2, 4)),
            member(B, None, &runs(4, 6)),
            member(C, None, &runs(6, 7)),
        ];
        // Without A: B 0-3, C 4-6; without B: A 0-4 (m-0 0-2, m-A 3-4), C 5-6; without C:
        // A 0-4, B 5-6.
        let expected = [B, B, B, B, A, C, B];
        let placement = place_standbys(&two_threads, &subs, 1, true);
        for (p, keeper) in expected.iter().enumerate() {
            assert_eq!(
                placement[&t(p as i32)],
                vec![(*keeper).to_owned()],
                "task 0_{p}"
            );
        }
        // With racks (librdkafka's range assignor may then go by rack) no prediction: the
        // rendezvous order alone, which differs here from the predicted one.
        let rendezvous = place_standbys(&members, &subs, 1, false);
        assert_ne!(rendezvous, place_standbys(&members, &subs, 1, true));
        let racked: Vec<MemberAssignment> = [(A, 0, 2), (B, 2, 4), (C, 4, 6)]
            .iter()
            .map(|&(process, from, to)| member(process, Some("r1"), &runs(from, to)))
            .collect();
        assert_eq!(place_standbys(&racked, &subs, 1, true), rendezvous);
    }
}
