//! Places standby replicas (`num.standby.replicas`). librdkafka has no pluggable assignor, so
//! the group's range assignment places the active tasks and every instance places the standby
//! copies the same way from what the group coordinator shows of every member: the process id
//! (and `client.rack`) each main consumer publishes in its client id, and the partitions
//! assigned to it. For each task the instances other than the active one's are ranked by a
//! hash of (process id, task), highest first (rendezvous hashing: a task's standbys move only
//! when one of them leaves, or when a higher-ranking instance joins), those on another rack
//! than the active copy before those on the same; the first `num.standby.replicas` keep a
//! copy. An instance reads the group every second while it is stable and publishes its share
//! to its threads through the [`StandbyPlan`](super::standby_plan::StandbyPlan).

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
/// but keep no copies.
pub(crate) fn place_standbys(
    members: &[MemberAssignment],
    subtopologies: &[Subtopology],
    replicas: usize,
) -> BTreeMap<TaskId, Vec<String>> {
    let mut subtopology_of: BTreeMap<&str, u32> = BTreeMap::new();
    for sub in subtopologies {
        for topic in &sub.source_topics {
            subtopology_of.insert(topic, sub.id);
        }
    }
    // Every process with its rack, and every task with its active owner's process and rack.
    let mut processes: BTreeMap<&str, Option<&str>> = BTreeMap::new();
    let mut owners: BTreeMap<TaskId, Option<(&str, Option<&str>)>> = BTreeMap::new();
    for (client_id, partitions) in members {
        let published = published_process(client_id);
        if let Some((process, rack)) = published {
            processes.insert(process, rack);
        }
        for (topic, partition) in partitions {
            if let Some(&subtopology) = subtopology_of.get(topic.as_str()) {
                let id = TaskId {
                    subtopology,
                    partition: *partition,
                };
                owners.insert(id, published);
            }
        }
    }
    let mut placement = BTreeMap::new();
    for (id, owner) in owners {
        let mut candidates: Vec<(bool, u64, &str)> = processes
            .iter()
            .filter(|(process, _)| owner.is_none_or(|(o, _)| o != **process))
            .map(|(process, rack)| {
                let same_rack = matches!((owner, rack), (Some((_, Some(a))), Some(b)) if a == *b);
                (same_rack, rank(process, id), *process)
            })
            .collect();
        candidates.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        let chosen: Vec<String> = candidates
            .into_iter()
            .take(replicas)
            .map(|(_, _, p)| p.to_owned())
            .collect();
        if !chosen.is_empty() {
            placement.insert(id, chosen);
        }
    }
    placement
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
fn thread_of(id: TaskId, threads: usize) -> usize {
    (id.subtopology as usize + id.partition.max(0) as usize) % threads.max(1)
}

/// This instance's share of the standby copies, per stream thread.
fn own_share(
    members: &[MemberAssignment],
    subtopologies: &[Subtopology],
    config: &StreamsConfig,
    process: &str,
) -> BTreeMap<usize, BTreeSet<TaskId>> {
    let mut by_thread: BTreeMap<usize, BTreeSet<TaskId>> = BTreeMap::new();
    let placement = place_standbys(members, subtopologies, config.num_standby_replicas());
    for (id, keepers) in placement {
        if keepers.iter().any(|k| k == process) {
            let thread = thread_of(id, config.num_stream_threads());
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
                        let share = own_share(&members, &subtopologies, &config, &process);
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
        (
            format!("app-1-StreamThread-1-consumer~{process}{rack}@h:1"),
            partitions
                .iter()
                .map(|(t, p)| ((*t).to_owned(), *p))
                .collect(),
        )
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
        let placement = place_standbys(&members, &subs, 1);
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
        let two = place_standbys(&members, &subs, 2);
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
        let placement = place_standbys(&members, &subs, 1);
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
        let before = place_standbys(&members, &subs, 1);
        let on =
            |p: &BTreeMap<TaskId, Vec<String>>, x: &str| p.values().filter(|k| k[0] == x).count();
        assert!(on(&before, B) > 0 && on(&before, C) > 0, "{before:?}");
        let after = place_standbys(&members[..2], &subs, 1);
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
            ("plain-consumer".to_owned(), vec![("in".to_owned(), 1)]),
        ];
        let placement = place_standbys(&members, &subs, 1);
        let t1 = TaskId {
            subtopology: 0,
            partition: 1,
        };
        assert_eq!(placement, BTreeMap::from([(t1, vec![A.to_owned()])]));
    }
}
