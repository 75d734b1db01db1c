//! When each check of `dbalert run` runs next (pure; the clock is passed in).
//!
//! - **No drift.** Each check has a grid of slots `phase + k × interval` from the service's
//!   start. A run is due at its slot, and the next slot is the first one after the run began,
//!   so a slow query or a busy source delays one run (its *lateness*, which the metrics file
//!   shows) and never shifts the ones after it. A run that outlasts its interval skips the
//!   slots it covered rather than running several times in a row.
//! - **Jitter.** The phase is a fixed fraction of the interval (at most [`MAX_PHASE`]) taken
//!   from the check's name, so a hundred checks with the same interval are spread out instead
//!   of firing in the same millisecond, and each keeps its place across restarts.
//! - **Turns.** The checks of one source run one after another: a source with a fetch under way
//!   is busy, and its checks that fall due meanwhile run as soon as it is free. Other sources
//!   are not held up.
//! - **Wake-ups.** A queue check woken by its source's LISTEN connection, or an AQ queue check
//!   whose blocking dequeue just answered, runs as soon as its source is free, outside its
//!   grid; its slots stay where they were.
//! - **Held checks.** An event or queue check whose last batch is still being delivered (or its
//!   queue transaction committed) is held: it runs again only once that batch has ended, so its
//!   cursor has moved and its messages are off the queue, and nothing is taken twice. Its slots
//!   missed meanwhile count as lateness, like a busy source's.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::check::Check;
use crate::source::SourceName;

/// The largest phase: a check with a long interval still runs soon after the start.
pub const MAX_PHASE: Duration = Duration::from_secs(5);

/// A check taken for a run: its index, and the slot it runs for (`None`: woken, not due).
pub type Taken = (usize, Option<Instant>);

/// The schedule of every check of a `run`. Sources are known by their index into `sources`
/// here: the schedule is looked at on every turn of the loop, for every check.
#[derive(Debug)]
pub struct Schedule {
    intervals: Vec<Duration>,
    /// Each source once, and each source's index by name.
    sources: Vec<SourceName>,
    index: BTreeMap<SourceName, usize>,
    /// Each check's source, by index into `sources`.
    source_of: Vec<usize>,
    /// The next slot of each check (by index into the checks).
    slot: Vec<Instant>,
    /// Woken queue checks, due now whatever their slot.
    woken: Vec<bool>,
    /// Which sources have a fetch under way.
    busy: Vec<bool>,
    /// Checks whose last batch has not ended yet.
    held: Vec<bool>,
}

impl Schedule {
    /// The schedule of `checks` for a service started at `start`.
    pub fn new(checks: &[&Check], start: Instant) -> Self {
        let mut index = BTreeMap::new();
        let mut sources = Vec::new();
        let source_of = (checks.iter())
            .map(|c| {
                *index.entry(c.source.clone()).or_insert_with(|| {
                    sources.push(c.source.clone());
                    sources.len() - 1
                })
            })
            .collect();
        Self {
            intervals: checks.iter().map(|c| c.interval.get()).collect(),
            busy: vec![false; sources.len()],
            sources,
            index,
            source_of,
            slot: checks
                .iter()
                .map(|c| start + phase(&c.name, c.interval.get()))
                .collect(),
            woken: vec![false; checks.len()],
            held: vec![false; checks.len()],
        }
    }

    /// The checks due at `now` on sources that are free, by source, leaving out held ones;
    /// those sources are busy until [`finished`](Self::finished). Each check's next slot is the
    /// first after `now`.
    pub fn take_due(&mut self, now: Instant) -> BTreeMap<SourceName, Vec<Taken>> {
        let mut by_source: BTreeMap<usize, Vec<Taken>> = BTreeMap::new();
        for i in 0..self.slot.len() {
            let due = self.slot[i] <= now;
            if !(due || self.woken[i]) || !self.can_run(i) {
                continue;
            }
            self.woken[i] = false;
            let slot = due.then(|| self.advance(i, now));
            by_source
                .entry(self.source_of[i])
                .or_default()
                .push((i, slot));
        }
        (by_source.into_iter())
            .map(|(source, taken)| {
                self.busy[source] = true;
                (self.sources[source].clone(), taken)
            })
            .collect()
    }

    /// Moves check `i` to its first slot after `now`; returns the slot it was due at.
    fn advance(&mut self, i: usize, now: Instant) -> Instant {
        let (due, interval) = (self.slot[i], self.intervals[i]);
        let behind = now.duration_since(due).as_nanos() / interval.as_nanos().max(1);
        let skip = u32::try_from(behind + 1).unwrap_or(u32::MAX);
        self.slot[i] = due + interval.saturating_mul(skip);
        due
    }

    /// Whether check `i` is neither held nor on a busy source.
    fn can_run(&self, i: usize) -> bool {
        !self.held[i] && !self.busy[self.source_of[i]]
    }

    /// When the next check that can run falls due (or a woken one can run).
    pub fn next(&self, now: Instant) -> Option<Instant> {
        (0..self.slot.len())
            .filter(|&i| self.can_run(i))
            .map(|i| match self.woken[i] {
                true => now,
                false => self.slot[i],
            })
            .min()
    }

    /// `source`'s queue checks among `checks` (`is_woken` says which) run as soon as it is free.
    pub fn wake(&mut self, source: &SourceName, is_woken: impl Fn(usize) -> bool) {
        let Some(&source) = self.index.get(source) else {
            return;
        };
        for i in 0..self.slot.len() {
            if self.source_of[i] == source && is_woken(i) {
                self.woken[i] = true;
            }
        }
    }

    /// `source`'s fetch is done; its checks that fell due meanwhile can run.
    pub fn finished(&mut self, source: &SourceName) {
        if let Some(&source) = self.index.get(source) {
            self.busy[source] = false;
        }
    }

    /// Check `i` does not run again until [`release`](Self::release)d.
    pub fn hold(&mut self, i: usize) {
        self.held[i] = true;
    }

    /// Check `i`'s last batch has ended; it runs when due (or woken meanwhile) again.
    pub fn release(&mut self, i: usize) {
        self.held[i] = false;
    }
}

/// Where in its interval a check's slots fall: a fraction of `interval` (at most
/// [`MAX_PHASE`]) fixed by the check's name (FNV-1a, stable across builds and restarts).
fn phase(name: &str, interval: Duration) -> Duration {
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    let spread = interval.min(MAX_PHASE);
    let fraction = (hash % 10_000) as f64 / 10_000.0;
    spread.mul_f64(fraction)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{CheckKind, NoRows};
    use crate::config::duration::Duration as ConfigDuration;

    fn check(name: &str, source: &str, every_secs: u64) -> Check {
        Check {
            name: name.into(),
            source: SourceName(source.into()),
            interval: ConfigDuration::from_secs(every_secs),
            kind: CheckKind::State,
            sql: "select 1".into(),
            key: None,
            labels: vec![],
            annotations: vec![],
            no_rows: NoRows::Ignore,
            deadlock_trace: false,
        }
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    /// The indexes and slots taken at `now`, over every source.
    fn taken(schedule: &mut Schedule, now: Instant) -> Vec<Taken> {
        schedule.take_due(now).into_values().flatten().collect()
    }

    #[test]
    fn slots_stay_on_the_grid_however_late_a_run_is() {
        let checks = [check("c", "db", 10)];
        let refs: Vec<&Check> = checks.iter().collect();
        let start = Instant::now();
        let mut schedule = Schedule::new(&refs, start);
        let first = start + phase("c", secs(10));
        assert_eq!(schedule.next(start), Some(first));
        assert!(taken(&mut schedule, first - Duration::from_millis(1)).is_empty());
        // (taken at, slot it ran for, next slot): 3 s late, then on time, then 25 s late
        // (the two slots it covered are skipped, not run back to back).
        for (at, slot, next) in [(3, 0, 10), (10, 10, 20), (45, 20, 50), (50, 50, 60)] {
            let now = first + secs(at);
            assert_eq!(taken(&mut schedule, now), [(0, Some(first + secs(slot)))]);
            schedule.finished(&SourceName("db".into()));
            assert_eq!(schedule.next(now), Some(first + secs(next)), "after {at}");
        }
    }

    #[test]
    fn checks_of_a_busy_source_wait_and_other_sources_do_not() {
        let checks = [
            check("a", "db", 10),
            check("b", "db", 10),
            check("c", "other", 10),
        ];
        let refs: Vec<&Check> = checks.iter().collect();
        let start = Instant::now();
        let mut schedule = Schedule::new(&refs, start);
        let late = start + secs(100);
        // All three are due; `a` and `b` share a source and go in one fetch.
        let by_source = schedule.take_due(late);
        let names: Vec<(&str, Vec<usize>)> = by_source
            .iter()
            .map(|(s, t)| (s.0.as_str(), t.iter().map(|(i, _)| *i).collect()))
            .collect();
        assert_eq!(names, [("db", vec![0, 1]), ("other", vec![2])]);
        schedule.finished(&SourceName("other".into()));
        // `c` comes due again while `db` is still busy: it runs, `a` and `b` do not.
        let later = late + secs(10);
        assert_eq!(
            taken(&mut schedule, later),
            [(2, Some(start + phase("c", secs(10)) + secs(100)))]
        );
        schedule.finished(&SourceName("other".into()));
        assert_eq!(
            schedule.next(later),
            Some(start + phase("c", secs(10)) + secs(110))
        );
        // Free again, `db` runs its due checks, late by how long it was busy.
        schedule.finished(&SourceName("db".into()));
        let slots: Vec<Option<Instant>> = taken(&mut schedule, later)
            .into_iter()
            .map(|(_, slot)| slot)
            .collect();
        let a = start + phase("a", secs(10)) + secs(100);
        let b = start + phase("b", secs(10)) + secs(100);
        assert_eq!(slots, [Some(a), Some(b)]);
    }

    #[test]
    fn a_woken_check_runs_when_its_source_is_free_and_keeps_its_slots() {
        let checks = [check("queue", "db", 3600), check("state", "db", 3600)];
        let refs: Vec<&Check> = checks.iter().collect();
        let start = Instant::now();
        let mut schedule = Schedule::new(&refs, start);
        let db = SourceName("db".into());
        let now = start + secs(10);
        assert_eq!(taken(&mut schedule, now).len(), 2, "both run at the start");
        let slots = schedule.slot.clone();
        // Woken while busy: not now, but as soon as the source is free.
        schedule.wake(&db, |i| i == 0);
        assert!(taken(&mut schedule, now).is_empty());
        schedule.finished(&db);
        assert_eq!(schedule.next(now), Some(now));
        assert_eq!(
            taken(&mut schedule, now),
            [(0, None)],
            "only the queue check"
        );
        schedule.finished(&db);
        assert_eq!(schedule.slot, slots, "waking moves no slot");
        assert!(taken(&mut schedule, now).is_empty(), "and it ran once");
    }

    #[test]
    fn a_held_check_waits_for_its_release_and_the_others_on_its_source_do_not() {
        let checks = [check("events", "db", 10), check("state", "db", 10)];
        let refs: Vec<&Check> = checks.iter().collect();
        let start = Instant::now();
        let mut schedule = Schedule::new(&refs, start);
        let db = SourceName("db".into());
        let first = start + secs(20);
        assert_eq!(taken(&mut schedule, first).len(), 2);
        schedule.finished(&db);
        // `events`' batch is still being delivered: it is held, past its slot and woken.
        schedule.hold(0);
        schedule.wake(&db, |i| i == 0);
        let later = first + secs(10);
        let events_slot = start + phase("events", secs(10)) + secs(20);
        let state_slot = start + phase("state", secs(10)) + secs(20);
        assert_eq!(
            schedule.next(later),
            Some(state_slot),
            "only `state` counts"
        );
        assert_eq!(taken(&mut schedule, later), [(1, Some(state_slot))]);
        schedule.finished(&db);
        let next = Some(state_slot + secs(10));
        assert_eq!(schedule.next(later), next, "a held check is never next");
        // Released, it runs for the slot it missed (its lateness), once.
        schedule.release(0);
        assert_eq!(taken(&mut schedule, later), [(0, Some(events_slot))]);
        schedule.finished(&db);
        assert!(taken(&mut schedule, later).is_empty());
    }

    #[test]
    fn a_hundred_checks_with_one_interval_are_spread_out_and_keep_their_phase() {
        let mut phases: Vec<Duration> = (0..100)
            .map(|i| phase(&format!("db{}_check{}", i / 5, i % 5), secs(10)))
            .collect();
        assert!(phases.iter().all(|p| *p < MAX_PHASE));
        assert_eq!(
            phase("db3_check1", secs(10)),
            phases[16],
            "the same every time"
        );
        phases.sort();
        let same_millisecond = phases
            .windows(2)
            .filter(|w| w[1] - w[0] < Duration::from_millis(1))
            .count();
        assert!(same_millisecond <= 2, "{phases:?}");
        assert!(phase("short", Duration::from_millis(200)) < Duration::from_millis(200));
    }
}
