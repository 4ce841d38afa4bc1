//! Running a case on both sides, judging the outcomes, and shrinking a failing input to a
//! small one that still fails.

use anyhow::Result;

use crate::case::{Outcome, Rec, short};
use crate::java::JavaDriver;
use crate::ours;
use crate::variants::{Expectation, Variant};

/// How one case came out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Record for record the same.
    Same,
    /// Different, as the variant's expected difference allows.
    Expected,
    /// Different where no difference is expected.
    Differs,
}

/// Both outcomes of one case and how they compare.
pub struct Compared {
    /// Kafka Streams' outcome.
    pub java: Outcome,
    /// Ours.
    pub ours: Outcome,
    /// The judgement.
    pub verdict: Verdict,
}

/// The key of the record that flushes unmatched join records; no generated record has it.
const FLUSH_KEY: &str = "flush";

/// Runs `input` through `variant` on both drivers and compares.
///
/// For a variant whose unmatched join records may come out earlier, both sides get one more
/// record, far past the others on a key of its own: it makes both emit every unmatched record
/// whose window closed, so that the two sets can be compared whole.
pub fn compare(java: &mut JavaDriver, variant: &Variant, input: &[Rec]) -> Result<Compared> {
    let flushed;
    let input = match variant.expect {
        Expectation::EarlierUnmatched(_) => {
            let last = input.iter().map(|r| r.timestamp).max().unwrap_or(0);
            flushed = input
                .iter()
                .cloned()
                .chain(std::iter::once(Rec {
                    topic: variant.inputs[0].to_owned(),
                    key: Some(FLUSH_KEY.to_owned()),
                    value: Some("0".to_owned()),
                    timestamp: last + 1000,
                }))
                .collect::<Vec<_>>();
            &flushed[..]
        }
        _ => input,
    };
    let theirs = java.run(variant.name, input)?;
    let ours = ours::run(variant, input);
    let verdict = judge(variant.expect, &theirs, &ours);
    Ok(Compared {
        java: theirs,
        ours,
        verdict,
    })
}

fn judge(expect: Expectation, java: &Outcome, ours: &Outcome) -> Verdict {
    if java == ours {
        return Verdict::Same;
    }
    match (expect, java, ours) {
        (Expectation::Superset(_), Outcome::Records(j), Outcome::Records(o))
            if is_subsequence(j, o) =>
        {
            Verdict::Expected
        }
        (Expectation::EarlierUnmatched(_), Outcome::Records(j), Outcome::Records(o)) => {
            let (j_joined, j_unmatched): (Vec<Rec>, Vec<Rec>) =
                j.iter().cloned().partition(|r| !is_unmatched(r));
            let (o_joined, o_unmatched): (Vec<Rec>, Vec<Rec>) =
                o.iter().cloned().partition(|r| !is_unmatched(r));
            if j_joined == o_joined
                && missing_from(&j_unmatched, &o_unmatched).is_empty()
                && missing_from(&o_unmatched, &j_unmatched)
                    .into_iter()
                    .all(|extra| joined_late(extra, &o_joined))
            {
                Verdict::Expected
            } else {
                Verdict::Differs
            }
        }
        _ => Verdict::Differs,
    }
}

/// Whether a join result has a missing side (`x|null` or `null|x`).
fn is_unmatched(r: &Rec) -> bool {
    r.value
        .as_deref()
        .is_some_and(|v| v.starts_with("null|") || v.ends_with("|null"))
}

/// Whether an unmatched record of ours that Kafka Streams did not emit was joined later, by a
/// record of the other side still within its own grace: Kafka Streams had not emitted the
/// unmatched record yet when that match came, we had.
fn joined_late(unmatched: &Rec, joined: &[Rec]) -> bool {
    let value = unmatched.value.as_deref().unwrap_or_default();
    joined.iter().any(|j| {
        let joined_value = j.value.as_deref().unwrap_or_default();
        let same_record = match (value.strip_suffix("|null"), value.strip_prefix("null|")) {
            (Some(this), _) => joined_value.starts_with(&format!("{this}|")),
            (None, Some(other)) => joined_value.ends_with(&format!("|{other}")),
            (None, None) => false,
        };
        j.key == unmatched.key && j.timestamp >= unmatched.timestamp && same_record
    })
}

/// The records of `these` that `those` does not have, counting repeats (a multiset
/// difference), in `these`' order.
fn missing_from<'a>(these: &'a [Rec], those: &[Rec]) -> Vec<&'a Rec> {
    let mut left: Vec<&Rec> = those.iter().collect();
    these
        .iter()
        .filter(|r| match left.iter().position(|l| l == r) {
            Some(i) => {
                left.swap_remove(i);
                false
            }
            None => true,
        })
        .collect()
}

/// Whether `short` appears in `long` in order, with records of `long` in between.
fn is_subsequence(short: &[Rec], long: &[Rec]) -> bool {
    let mut rest = long.iter();
    short.iter().all(|s| rest.any(|l| l == s))
}

/// The smallest input found that still differs, with both outcomes for it.
pub struct Shrunk {
    /// The input.
    pub input: Vec<Rec>,
    /// Both outcomes for it.
    pub compared: Compared,
    /// How many cases shrinking ran.
    pub runs: usize,
}

/// Shrinks an input that differs: first the shortest failing prefix (outputs come out record
/// by record, so a difference shows by the record that causes it), then chunks and single
/// records removed while the difference stays, until no single record can go or `budget`
/// cases have run.
pub fn shrink(
    java: &mut JavaDriver,
    variant: &Variant,
    input: &[Rec],
    budget: usize,
) -> Result<Shrunk> {
    let runs = std::cell::Cell::new(0);
    let fails = |java: &mut JavaDriver, candidate: &[Rec]| -> Result<bool> {
        runs.set(runs.get() + 1);
        Ok(compare(java, variant, candidate)?.verdict == Verdict::Differs)
    };
    // The shortest failing prefix, by bisection: prefix [..hi] fails, [..lo] is not known to.
    let (mut lo, mut hi) = (0, input.len());
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if fails(java, &input[..mid])? {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    let mut current = input[..hi].to_vec();
    let mut chunk = (current.len() / 2).max(1);
    loop {
        let mut removed_any = false;
        let mut start = 0;
        while start < current.len() && runs.get() < budget {
            let end = (start + chunk).min(current.len());
            let candidate: Vec<Rec> = current[..start]
                .iter()
                .chain(&current[end..])
                .cloned()
                .collect();
            if !candidate.is_empty() && fails(java, &candidate)? {
                current = candidate;
                removed_any = true;
            } else {
                start = end;
            }
        }
        if runs.get() >= budget || (chunk == 1 && !removed_any) {
            break;
        }
        if !removed_any {
            chunk = (chunk / 2).max(1);
        }
    }
    let compared = compare(java, variant, &current)?;
    Ok(Shrunk {
        input: current,
        compared,
        runs: runs.get(),
    })
}

/// A difference explained for people: the input and both outputs, in the
/// `topic:key=value@timestamp` form.
pub fn describe(variant: &Variant, seed: u64, size: usize, shrunk: &Shrunk) -> String {
    let show = |o: &Outcome| match o {
        Outcome::Records(r) => short(r),
        Outcome::Failed(e) => format!("failed: {e}"),
    };
    format!(
        "variant `{}` differs from Kafka Streams (seed {seed}, {size} records; shrunk in {} runs \
         to {} records)\n  input:         {}\n  Kafka Streams: {}\n  ours:          {}",
        variant.name,
        shrunk.runs,
        shrunk.input.len(),
        short(&shrunk.input),
        show(&shrunk.compared.java),
        show(&shrunk.compared.ours),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(v: &str) -> Rec {
        Rec {
            topic: "out".into(),
            key: Some("k".into()),
            value: Some(v.into()),
            timestamp: 0,
        }
    }

    #[test]
    fn a_superset_difference_allows_extra_records_only() {
        let expect = Expectation::Superset("x");
        let java = Outcome::Records(vec![r("1"), r("3")]);
        let more = Outcome::Records(vec![r("1"), r("2"), r("3")]);
        let reordered = Outcome::Records(vec![r("3"), r("1"), r("2")]);
        let fewer = Outcome::Records(vec![r("1")]);
        assert_eq!(judge(expect, &java, &more), Verdict::Expected);
        assert_eq!(judge(expect, &java, &reordered), Verdict::Differs);
        assert_eq!(judge(expect, &java, &fewer), Verdict::Differs);
        assert_eq!(judge(Expectation::Same, &java, &more), Verdict::Differs);
        assert_eq!(
            judge(Expectation::Same, &java, &java.clone()),
            Verdict::Same
        );
    }

    #[test]
    fn unmatched_records_may_come_in_another_order_joined_ones_must_match() {
        let expect = Expectation::EarlierUnmatched("x");
        let java = Outcome::Records(vec![r("1|2"), r("3|null"), r("null|4")]);
        let earlier = Outcome::Records(vec![r("3|null"), r("1|2"), r("null|4")]);
        let more = Outcome::Records(vec![r("1|2"), r("5|null"), r("3|null"), r("null|4")]);
        // 1|null went out before 2 arrived and joined it: Kafka Streams had held it back.
        let joined_late = Outcome::Records(vec![r("1|null"), r("1|2"), r("3|null"), r("null|4")]);
        let swapped = Outcome::Records(vec![r("1|2"), r("null|4"), r("3|null")]);
        let missing = Outcome::Records(vec![r("1|2"), r("null|4")]);
        let other_join = Outcome::Records(vec![r("1|9"), r("3|null"), r("null|4")]);
        assert_eq!(judge(expect, &java, &earlier), Verdict::Expected);
        assert_eq!(judge(expect, &java, &more), Verdict::Differs);
        assert_eq!(judge(expect, &java, &joined_late), Verdict::Expected);
        assert_eq!(judge(expect, &java, &swapped), Verdict::Expected);
        assert_eq!(judge(expect, &java, &missing), Verdict::Differs);
        assert_eq!(judge(expect, &java, &other_join), Verdict::Differs);
    }
}
