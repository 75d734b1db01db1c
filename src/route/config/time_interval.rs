//! `time_intervals:` as written, checked into named [`TimeInterval`]s.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;

use super::{Scalar, list_len};
use crate::config::reader::Reader;
use crate::config::yaml::Path;
use crate::route::time_interval::{self, TimeInterval, TimeSpec};

/// The time intervals by name, as routes refer to them.
pub type TimeIntervals = BTreeMap<String, Arc<TimeInterval>>;

/// An entry of `time_intervals:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TimeIntervalConfig {
    /// The name routes refer to.
    name: String,
    /// The interval is every instant any of these specs contains.
    #[serde(default)]
    time_intervals: Vec<TimeSpecConfig>,
}

/// One spec of a time interval as written: every field given must match, and an entry of a
/// field is enough for it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TimeSpecConfig {
    /// Times of day, `{start_time: '09:00', end_time: '17:00'}`; the end is excluded.
    times: Option<Vec<TimeRangeConfig>>,
    /// Weekday names or ranges, `['monday:friday', 'sunday']`.
    weekdays: Option<Vec<Scalar>>,
    /// Days of the month or ranges, `['1:5', '-1']`; negative days count from the month's end.
    days_of_month: Option<Vec<Scalar>>,
    /// Month names, numbers or ranges, `['1:3', 'may:august', 'december']`.
    months: Option<Vec<Scalar>>,
    /// Years or ranges, `['2026', '2027:2030']`.
    years: Option<Vec<Scalar>>,
    /// The IANA time zone the other fields are read in, e.g. `Europe/Paris`; `Local` is the
    /// machine's. Default UTC.
    location: Option<String>,
}

/// `{start_time: HH:MM, end_time: HH:MM}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TimeRangeConfig {
    /// Start of the range, included: `00:00` to `23:59`.
    start_time: Scalar,
    /// End of the range, excluded: `00:01` to `24:00`.
    end_time: Scalar,
}

/// Reads `time_intervals:`.
pub(crate) fn resolve_time_intervals(reader: &mut Reader) -> TimeIntervals {
    let section = Path::root().key("time_intervals");
    let mut intervals = TimeIntervals::new();
    let Some(count) = list_len(reader, &section, "a list of named time intervals") else {
        return intervals;
    };
    for i in 0..count {
        let path = section.index(i);
        let Some(raw) = reader.parse::<TimeIntervalConfig>(&path) else {
            continue;
        };
        if raw.name.is_empty() {
            reader.problem(
                &path.key("name"),
                "the name is empty; give the interval a name",
            );
            continue;
        }
        let specs = raw
            .time_intervals
            .into_iter()
            .enumerate()
            .map(|(j, spec)| resolve_time_spec(reader, &path.key("time_intervals").index(j), spec))
            .collect();
        let interval = TimeInterval {
            name: raw.name.clone(),
            specs,
        };
        if intervals
            .insert(raw.name.clone(), Arc::new(interval))
            .is_some()
        {
            reader.problem(
                &path.key("name"),
                format!(
                    "a time interval named `{}` is already defined; rename one",
                    raw.name
                ),
            );
        }
    }
    intervals
}

fn resolve_time_spec(reader: &mut Reader, path: &Path, raw: TimeSpecConfig) -> TimeSpec {
    let times = raw.times.map(|ranges| {
        let mut minutes = Vec::new();
        for (i, range) in ranges.into_iter().enumerate() {
            let at = path.key("times").index(i);
            let start = time_interval::time_of_day(&range.start_time.0);
            let end = time_interval::time_of_day(&range.end_time.0);
            match (start, end) {
                (Ok(start), Ok(end)) if start < end => minutes.push((start, end)),
                (Ok(_), Ok(_)) => reader.problem(
                    &at,
                    "the start time must be before the end time; for a range past midnight \
                     write two ranges, one ending at 24:00",
                ),
                (Err(err), _) => reader.problem(&at.key("start_time"), err),
                (_, Err(err)) => reader.problem(&at.key("end_time"), err),
            }
        }
        minutes
    });
    let weekdays = ranges(
        reader,
        &path.key("weekdays"),
        raw.weekdays,
        time_interval::weekday_range,
    );
    let days_of_month = ranges(
        reader,
        &path.key("days_of_month"),
        raw.days_of_month,
        time_interval::day_of_month_range,
    );
    let months = ranges(
        reader,
        &path.key("months"),
        raw.months,
        time_interval::month_range,
    );
    let years = ranges(
        reader,
        &path.key("years"),
        raw.years,
        time_interval::year_range,
    );
    let location = match raw.location.as_deref().map(time_interval::location) {
        None => TimeSpec::default().location,
        Some(Ok(zone)) => zone,
        Some(Err(err)) => {
            reader.problem(&path.key("location"), err);
            TimeSpec::default().location
        }
    };
    TimeSpec {
        times,
        weekdays,
        days_of_month,
        months,
        years,
        location,
    }
}

/// Reads each entry of a range list with `parse`, reporting the ones that fail at their index.
fn ranges<T>(
    reader: &mut Reader,
    path: &Path,
    raw: Option<Vec<Scalar>>,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Option<Vec<T>> {
    raw.map(|items| {
        items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| {
                parse(&item.0)
                    .map_err(|err| reader.problem(&path.index(i), err))
                    .ok()
            })
            .collect()
    })
}
