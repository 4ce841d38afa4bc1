//! Window specifications: tumbling and hopping (`TimeWindows`), sliding (`SlidingWindows`)
//! and session (`SessionWindows`) windows, each with a grace period, and when results are
//! emitted (`EmitStrategy`); and the window of stream-stream joins (`JoinWindows`).
//!
//! Specifications are plain values; they are checked when the windowed aggregation or the
//! join is added to a builder, and `StreamsBuilder::build` reports what was wrong.

use std::time::Duration;

use streams_core::{Result, StreamsError, Window};

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// When a windowed aggregation forwards its results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EmitStrategy {
    /// Every update of a window, as it happens (Kafka Streams' default).
    #[default]
    OnWindowUpdate,
    /// One final result per window, once stream time passes the window's end plus the grace
    /// period (Kafka Streams' `EmitStrategy.onWindowClose()`).
    OnWindowClose,
}

/// Fixed-size windows aligned to the epoch: tumbling when `advance == size` (the default),
/// hopping (overlapping) when the advance is smaller. A window is `[start, start + size)`;
/// as in Kafka Streams, an end past `i64::MAX` is `i64::MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindows {
    size: Duration,
    advance: Duration,
    grace: Duration,
}

/// Checked time-window settings in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeWindowsMs {
    pub(crate) size: i64,
    pub(crate) advance: i64,
    pub(crate) grace: i64,
}

impl TimeWindows {
    /// Tumbling windows of `size`; records after a window's end are dropped at once.
    pub fn of_size_with_no_grace(size: Duration) -> Self {
        Self::of_size_and_grace(size, Duration::ZERO)
    }

    /// Tumbling windows of `size` that still accept out-of-order records for `grace` after
    /// their end.
    pub fn of_size_and_grace(size: Duration, grace: Duration) -> Self {
        TimeWindows {
            size,
            advance: size,
            grace,
        }
    }

    /// Hopping windows: a new window starts every `advance` (more than zero, at most the
    /// size).
    pub fn advance_by(self, advance: Duration) -> Self {
        TimeWindows { advance, ..self }
    }

    pub(crate) fn check(&self) -> Result<TimeWindowsMs> {
        let (size, advance, grace) = (ms(self.size), ms(self.advance), ms(self.grace));
        if size <= 0 {
            return Err(StreamsError::Topology(format!(
                "time windows need a size of at least 1 ms, got {:?}",
                self.size
            )));
        }
        if advance <= 0 || advance > size {
            return Err(StreamsError::Topology(format!(
                "time windows of {size} ms need an advance of at least 1 ms and at most the size, \
                 got {advance} ms"
            )));
        }
        Ok(TimeWindowsMs {
            size,
            advance,
            grace,
        })
    }
}

impl TimeWindowsMs {
    /// The windows `timestamp` falls in, oldest first: every `[s, s + size)` with `s` a
    /// multiple of the advance, `s >= 0` and `s <= timestamp < s + size`.
    pub(crate) fn windows_for(&self, timestamp: i64) -> impl Iterator<Item = Window> + use<> {
        let (size, advance) = (self.size, self.advance);
        // Saturating, as Kafka Streams does: a window that would end past `i64::MAX` ends
        // there, and starting points stop before they would overflow.
        let first =
            (timestamp.saturating_sub(size).saturating_add(advance)).max(0) / advance * advance;
        std::iter::successors(Some(first), move |start: &i64| start.checked_add(advance))
            .take_while(move |start| *start <= timestamp)
            .map(move |start| Window::new(start, start.saturating_add(size)))
    }
}

/// Sliding windows: windows defined by the records themselves, of a maximum time difference,
/// with both ends inclusive (`SlidingWindows` in Kafka Streams).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlidingWindows {
    difference: Duration,
    grace: Duration,
}

impl SlidingWindows {
    /// Windows covering records at most `difference` apart, accepting out-of-order records
    /// for `grace` after a window's end.
    pub fn of_time_difference_and_grace(difference: Duration, grace: Duration) -> Self {
        SlidingWindows { difference, grace }
    }

    /// Windows covering records at most `difference` apart, with no grace period.
    pub fn of_time_difference_with_no_grace(difference: Duration) -> Self {
        Self::of_time_difference_and_grace(difference, Duration::ZERO)
    }

    /// (time difference, grace) in ms, checked.
    pub(crate) fn check(&self) -> Result<(i64, i64)> {
        let difference = ms(self.difference);
        if difference <= 0 {
            return Err(StreamsError::Topology(format!(
                "sliding windows need a time difference of at least 1 ms, got {:?}",
                self.difference
            )));
        }
        Ok((difference, ms(self.grace)))
    }
}

/// Session windows: a key's records closer than the inactivity gap form one session, whose
/// window spans its first to its last record (both inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionWindows {
    gap: Duration,
    grace: Duration,
}

impl SessionWindows {
    /// Sessions split by `gap` of inactivity, accepting out-of-order records for `grace` after
    /// a session's end.
    pub fn of_inactivity_gap_and_grace(gap: Duration, grace: Duration) -> Self {
        SessionWindows { gap, grace }
    }

    /// Sessions split by `gap` of inactivity, with no grace period.
    pub fn of_inactivity_gap_with_no_grace(gap: Duration) -> Self {
        Self::of_inactivity_gap_and_grace(gap, Duration::ZERO)
    }

    /// (gap, grace) in ms, checked.
    pub(crate) fn check(&self) -> Result<(i64, i64)> {
        let gap = ms(self.gap);
        if gap <= 0 {
            return Err(StreamsError::Topology(format!(
                "session windows need an inactivity gap of at least 1 ms, got {:?}",
                self.gap
            )));
        }
        Ok((gap, ms(self.grace)))
    }
}

/// The window of a stream-stream join: a record joins the other side's records from `before`
/// earlier to `after` later than itself (a record of the other side, the other way round),
/// accepting out-of-order records for `grace` after the window closes. Symmetric unless
/// [`JoinWindows::before`] or [`JoinWindows::after`] moves one bound, as in Kafka Streams.
///
/// ```
/// use std::time::Duration;
/// use streams_dsl::JoinWindows;
///
/// let ms = Duration::from_millis;
/// // A payment joins the orders of the 10 ms before it and of the 2 ms after it.
/// let windows = JoinWindows::of_time_difference_and_grace(ms(10), ms(5)).after(ms(2));
/// // Only later records of the other side, from 3 to 10 ms later: a negative `before`.
/// let later_only = JoinWindows::of_time_difference_with_no_grace(ms(10)).before_ms(-3);
/// # let _ = (windows, later_only);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinWindows {
    /// Milliseconds; negative moves the start of the window after the record.
    before: i64,
    /// Milliseconds; negative moves the end of the window before the record.
    after: i64,
    grace: Duration,
}

impl JoinWindows {
    /// Records at most `difference` apart join, either way; out-of-order records are accepted
    /// for `grace` after the window closes.
    pub fn of_time_difference_and_grace(difference: Duration, grace: Duration) -> Self {
        JoinWindows {
            before: ms(difference),
            after: ms(difference),
            grace,
        }
    }

    /// Records at most `difference` apart join, with no grace period.
    pub fn of_time_difference_with_no_grace(difference: Duration) -> Self {
        Self::of_time_difference_and_grace(difference, Duration::ZERO)
    }

    /// The other side's records join from `difference` before a record of this side (Kafka
    /// Streams' `JoinWindows.before`); the end of the window stays.
    pub fn before(self, difference: Duration) -> Self {
        self.before_ms(ms(difference))
    }

    /// The other side's records join until `difference` after a record of this side (Kafka
    /// Streams' `JoinWindows.after`); the start of the window stays.
    pub fn after(self, difference: Duration) -> Self {
        self.after_ms(ms(difference))
    }

    /// As [`Self::before`] in milliseconds, which may be negative (the window then starts
    /// after the record) as long as the window does not: `before + after >= 0`, checked when
    /// the join is built.
    pub fn before_ms(mut self, difference: i64) -> Self {
        self.before = difference;
        self
    }

    /// As [`Self::after`] in milliseconds, which may be negative (the window then ends before
    /// the record) as long as `before + after >= 0`.
    pub fn after_ms(mut self, difference: i64) -> Self {
        self.after = difference;
        self
    }

    /// (before, after, grace) in ms, checked.
    pub(crate) fn check(&self) -> Result<(i64, i64, i64)> {
        let (before, after) = (self.before, self.after);
        // The window spans before + after (Kafka Streams refuses a negative sum, which is
        // how an overflow shows there); checked, so that huge durations are refused instead
        // of overflowing.
        match before.checked_add(after) {
            Some(size) if size >= 0 => Ok((before, after, ms(self.grace))),
            _ => Err(StreamsError::Topology(format!(
                "join windows must not be negative nor span more than i64::MAX ms in all, got \
                 {before} ms before and {after} ms after; before + after must be 0 or more"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn starts(w: TimeWindows, t: i64) -> Vec<(i64, i64)> {
        w.check()
            .expect("valid")
            .windows_for(t)
            .map(|w| (w.start, w.end))
            .collect()
    }

    #[test]
    fn join_windows_may_be_asymmetric_but_not_negative() {
        let ms = Duration::from_millis;
        let w = JoinWindows::of_time_difference_and_grace(ms(10), ms(5));
        assert_eq!(w.check().ok(), Some((10, 10, 5)));
        assert_eq!(w.before(ms(2)).check().ok(), Some((2, 10, 5)));
        assert_eq!(w.after(ms(0)).check().ok(), Some((10, 0, 5)));
        assert_eq!(w.before_ms(-10).check().ok(), Some((-10, 10, 5)));
        let err = w.before_ms(-11).check().expect_err("a negative window");
        assert!(
            err.to_string().contains("-11 ms before and 10 ms after"),
            "{err}"
        );
        assert!(w.after_ms(i64::MAX).check().is_err(), "overflow is refused");
    }

    #[test]
    fn tumbling_and_hopping_windows_for_a_timestamp() {
        let tumbling = TimeWindows::of_size_with_no_grace(Duration::from_millis(10));
        assert_eq!(starts(tumbling, 0), vec![(0, 10)]);
        assert_eq!(starts(tumbling, 9), vec![(0, 10)]);
        assert_eq!(starts(tumbling, 10), vec![(10, 20)], "the end is exclusive");
        let hopping = tumbling.advance_by(Duration::from_millis(5));
        assert_eq!(
            starts(hopping, 3),
            vec![(0, 10)],
            "no window starts before 0"
        );
        assert_eq!(starts(hopping, 12), vec![(5, 15), (10, 20)]);
        assert_eq!(starts(hopping, 15), vec![(10, 20), (15, 25)]);
    }

    #[test]
    fn bad_windows_are_refused_with_what_is_allowed() {
        let err = |w: TimeWindows| w.check().expect_err("refused").to_string();
        assert_eq!(
            err(TimeWindows::of_size_with_no_grace(Duration::ZERO)),
            "invalid topology: time windows need a size of at least 1 ms, got 0ns"
        );
        assert_eq!(
            err(
                TimeWindows::of_size_with_no_grace(Duration::from_millis(10))
                    .advance_by(Duration::from_millis(11))
            ),
            "invalid topology: time windows of 10 ms need an advance of at least 1 ms and at \
             most the size, got 11 ms"
        );
        assert!(
            SlidingWindows::of_time_difference_with_no_grace(Duration::ZERO)
                .check()
                .is_err()
        );
        assert!(
            SessionWindows::of_inactivity_gap_with_no_grace(Duration::ZERO)
                .check()
                .is_err()
        );
    }

    #[test]
    fn join_windows_whose_span_overflows_are_refused() {
        let huge = JoinWindows::of_time_difference_with_no_grace(Duration::MAX);
        assert_eq!(
            huge.check().expect_err("refused").to_string(),
            format!(
                "invalid topology: join windows must not be negative nor span more than \
                 i64::MAX ms in all, got {max} ms before and {max} ms after; before + after \
                 must be 0 or more",
                max = i64::MAX
            )
        );
        let widest = JoinWindows::of_time_difference_and_grace(
            Duration::from_millis(i64::MAX as u64 / 2),
            Duration::MAX,
        );
        assert_eq!(
            widest.check().expect("valid"),
            (i64::MAX / 2, i64::MAX / 2, i64::MAX)
        );
    }
}
