//! Named time intervals (`time_intervals:`) and what they mean at a given instant: the
//! maintenance windows and office hours that `mute_time_intervals` and `active_time_intervals`
//! on a route refer to.
//!
//! The meaning is Alertmanager's (`timeinterval/timeinterval.go`, docs `<time_interval_spec>`):
//! - an interval is a list of specs and contains an instant when *any* spec does;
//! - a spec's fields are ANDed, the entries of one field ORed, and a field left out matches
//!   everything (an empty list, as in Alertmanager, matches nothing);
//! - `times` are `HH:MM` with the start included and the end excluded (`24:00` is the end of the
//!   day); weekdays, days of month, months and years are inclusive ranges `a:b` or single values;
//! - a negative day of month counts from the end (`-1` is the last day), and a range running past
//!   the end of a short month is clamped to it;
//! - everything is evaluated in the interval's `location` (an IANA zone, `UTC` or `Local`), UTC by
//!   default.
//!
//! This module only holds checked values; reading them from the file is `route::config`'s.

use jiff::Timestamp;
use jiff::tz::TimeZone;

/// A named list of time specs, referred to by routes.
#[derive(Debug, Clone)]
pub struct TimeInterval {
    /// The name routes use.
    pub name: String,
    /// The specs; the interval contains an instant when any of them does.
    pub specs: Vec<TimeSpec>,
}

impl TimeInterval {
    /// Whether `now` falls in this interval.
    pub fn contains(&self, now: Timestamp) -> bool {
        self.specs.iter().any(|spec| spec.contains(now))
    }
}

/// One entry of an interval's `time_intervals:` list. `None` fields match every instant.
#[derive(Debug, Clone)]
pub struct TimeSpec {
    /// Minutes of the day, `[start, end)`.
    pub times: Option<Vec<(u16, u16)>>,
    /// Inclusive ranges of weekdays, 0 = Sunday.
    pub weekdays: Option<Vec<(i8, i8)>>,
    /// Inclusive ranges of days of the month; negative values count from the month's end.
    pub days_of_month: Option<Vec<(i8, i8)>>,
    /// Inclusive ranges of months, 1 = January.
    pub months: Option<Vec<(i8, i8)>>,
    /// Inclusive ranges of years.
    pub years: Option<Vec<(i16, i16)>>,
    /// The time zone the other fields are read in.
    pub location: TimeZone,
}

impl Default for TimeSpec {
    fn default() -> Self {
        Self {
            times: None,
            weekdays: None,
            days_of_month: None,
            months: None,
            years: None,
            location: TimeZone::UTC,
        }
    }
}

impl TimeSpec {
    /// Whether `now` satisfies every field of the interval.
    pub fn contains(&self, now: Timestamp) -> bool {
        let at = self.location.to_datetime(now);
        let minute = i16::from(at.hour()) * 60 + i16::from(at.minute());
        let weekday = at.weekday().to_sunday_zero_offset();
        let days_in_month = at.date().days_in_month();
        let in_any = |ranges: &Option<Vec<(i8, i8)>>, value: i8| {
            ranges
                .as_ref()
                .is_none_or(|ranges| ranges.iter().any(|&(a, b)| a <= value && value <= b))
        };
        let times = self.times.as_ref().is_none_or(|ranges| {
            ranges
                .iter()
                .any(|&(start, end)| start as i16 <= minute && minute < end as i16)
        });
        let days = self.days_of_month.as_ref().is_none_or(|ranges| {
            ranges
                .iter()
                .any(|&range| day_in_range(range, at.day(), days_in_month))
        });
        let years = self.years.as_ref().is_none_or(|ranges| {
            ranges
                .iter()
                .any(|&(a, b)| a <= at.year() && at.year() <= b)
        });
        times
            && days
            && in_any(&self.months, at.month())
            && in_any(&self.weekdays, weekday)
            && years
    }
}

/// Alertmanager's day-of-month test: negative ends count back from the month's last day, a
/// range starting after the month's end does not apply, and ends are clamped to the month.
fn day_in_range((begin, end): (i8, i8), day: i8, days_in_month: i8) -> bool {
    let from_end = |n: i8| if n < 0 { days_in_month + n + 1 } else { n };
    let (begin, end) = (from_end(begin), from_end(end));
    if begin > days_in_month {
        return false;
    }
    let end = end.clamp(-days_in_month, days_in_month);
    begin <= day && day <= end
}

const WEEKDAYS: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// Splits `a:b` (or a single `a`, meaning `a:a`) and reads each end with `member`.
fn range<T: Copy>(
    text: &str,
    member: impl Fn(&str) -> Result<T, String>,
) -> Result<(T, T), String> {
    let text = text.to_lowercase();
    match text.split(':').collect::<Vec<_>>()[..] {
        [one] => member(one).map(|v| (v, v)),
        [begin, end] => Ok((member(begin)?, member(end)?)),
        _ => Err(format!(
            "`{text}` is not a range; write `start:end` or one value"
        )),
    }
}

fn number<T: std::str::FromStr>(text: &str, what: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("`{text}` is not a {what}"))
}

/// `monday:friday`, `saturday` (names only, any case).
pub(crate) fn weekday_range(text: &str) -> Result<(i8, i8), String> {
    let (begin, end) = range(text, |name| {
        WEEKDAYS
            .iter()
            .position(|day| *day == name)
            .map(|i| i as i8)
            .ok_or_else(|| format!("`{name}` is not a weekday; write a name such as `monday`"))
    })?;
    if begin > end {
        return Err(format!(
            "`{text}` ends before it starts; the week runs from sunday to saturday, so write two ranges"
        ));
    }
    Ok((begin, end))
}

/// `1:5`, `-3:-1`, `15` (negative days count from the end of the month).
pub(crate) fn day_of_month_range(text: &str) -> Result<(i8, i8), String> {
    let (begin, end) = range(text, |n| number::<i8>(n, "day of the month"))?;
    for day in [begin, end] {
        if day == 0 || !(-31..=31).contains(&day) {
            return Err(format!(
                "{day} is not a day of the month; use 1 to 31, or -1 (the last day) to -31"
            ));
        }
    }
    if begin < 0 && end > 0 {
        return Err(format!(
            "`{text}` starts from the month's end but ends from its start; make the end negative too"
        ));
    }
    // With negative days the length of the month matters; a 28-day month catches ranges that
    // are empty in every month.
    let in_short_month = |day: i8| if day < 0 { 28 + day } else { day };
    if in_short_month(begin) > in_short_month(end) {
        return Err(format!("`{text}` ends before it starts"));
    }
    Ok((begin, end))
}

/// `1:3`, `may:august`, `december` (names any case, or numbers 1 to 12).
pub(crate) fn month_range(text: &str) -> Result<(i8, i8), String> {
    let (begin, end) = range(text, |month| {
        let number = match MONTHS.iter().position(|m| *m == month) {
            Some(i) => i as i8 + 1,
            None => number::<i8>(month, "month; write a name such as `march` or a number")?,
        };
        if !(1..=12).contains(&number) {
            return Err(format!("{number} is not a month; use 1 to 12"));
        }
        Ok(number)
    })?;
    if begin > end {
        return Err(format!(
            "`{text}` ends before it starts; for a range across the new year write two ranges"
        ));
    }
    Ok((begin, end))
}

/// `2020:2022`, `2030`.
pub(crate) fn year_range(text: &str) -> Result<(i16, i16), String> {
    let (begin, end) = range(text, |year| number::<i16>(year, "year"))?;
    if begin > end {
        return Err(format!("`{text}` ends before it starts"));
    }
    Ok((begin, end))
}

/// `HH:MM` from `00:00` to `24:00`, as minutes of the day.
pub(crate) fn time_of_day(text: &str) -> Result<u16, String> {
    let invalid = || format!("`{text}` is not a time; write HH:MM from 00:00 to 24:00");
    let (hours, minutes) = text.split_once(':').ok_or_else(invalid)?;
    if hours.len() != 2 || minutes.len() != 2 {
        return Err(invalid());
    }
    let hours: u16 = hours.parse().map_err(|_| invalid())?;
    let minutes: u16 = minutes.parse().map_err(|_| invalid())?;
    if hours > 24 || minutes > 59 || (hours == 24 && minutes > 0) {
        return Err(invalid());
    }
    Ok(hours * 60 + minutes)
}

/// An IANA zone name, or `UTC`, or `Local` for the machine's zone.
pub(crate) fn location(name: &str) -> Result<TimeZone, String> {
    match name {
        "" | "UTC" => Ok(TimeZone::UTC),
        "Local" => Ok(TimeZone::system()),
        name => TimeZone::get(name).map_err(|_| {
            format!("`{name}` is not a known time zone; use an IANA name such as `Europe/Paris`, or `UTC` or `Local`")
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn spec() -> TimeSpec {
        TimeSpec::default()
    }

    #[test]
    fn parses_ranges_as_alertmanager_does() {
        assert_eq!(weekday_range("Monday:FRIDAY"), Ok((1, 5)));
        assert_eq!(weekday_range("sunday"), Ok((0, 0)));
        assert_eq!(day_of_month_range("1:5"), Ok((1, 5)));
        assert_eq!(day_of_month_range("-3:-1"), Ok((-3, -1)));
        assert_eq!(day_of_month_range("1:-1"), Ok((1, -1)));
        assert_eq!(month_range("may:august"), Ok((5, 8)));
        assert_eq!(month_range("1:3"), Ok((1, 3)));
        assert_eq!(month_range("December"), Ok((12, 12)));
        assert_eq!(year_range("2020:2022"), Ok((2020, 2022)));
        assert_eq!(time_of_day("00:00"), Ok(0));
        assert_eq!(time_of_day("17:30"), Ok(1050));
        assert_eq!(time_of_day("24:00"), Ok(1440));
    }

    #[test]
    fn rejects_ranges_that_never_match_or_do_not_parse() {
        let errors = [
            weekday_range("friday:monday").unwrap_err(),
            weekday_range("1").unwrap_err(),
            weekday_range("mon:tue:wed").unwrap_err(),
            day_of_month_range("0").unwrap_err(),
            day_of_month_range("32").unwrap_err(),
            day_of_month_range("-1:5").unwrap_err(),
            day_of_month_range("10:5").unwrap_err(),
            day_of_month_range("-1:-3").unwrap_err(),
            month_range("13").unwrap_err(),
            month_range("december:january").unwrap_err(),
            year_range("2022:2020").unwrap_err(),
            time_of_day("9:00").unwrap_err(),
            time_of_day("24:01").unwrap_err(),
            time_of_day("12:60").unwrap_err(),
            location("Mars/Olympus").unwrap_err(),
        ];
        assert!(errors[0].contains("ends before it starts"), "{}", errors[0]);
        assert!(errors[5].contains("make the end negative"), "{}", errors[5]);
        assert!(errors[11].contains("write HH:MM"), "{}", errors[11]);
    }

    #[test]
    fn times_include_the_start_and_exclude_the_end() {
        let office = TimeSpec {
            times: Some(vec![(9 * 60, 17 * 60)]),
            ..spec()
        };
        // (instant, contained)
        let cases = [
            ("2026-03-02T08:59:59Z", false),
            ("2026-03-02T09:00:00Z", true),
            ("2026-03-02T16:59:59Z", true),
            ("2026-03-02T17:00:00Z", false),
        ];
        for (instant, expected) in cases {
            assert_eq!(office.contains(at(instant)), expected, "{instant}");
        }
        let evening = TimeSpec {
            times: Some(vec![(17 * 60, 24 * 60)]),
            ..spec()
        };
        assert!(evening.contains(at("2026-03-02T23:59:59Z")));
        assert!(!evening.contains(at("2026-03-03T00:00:00Z")));
    }

    #[test]
    fn fields_are_anded_and_entries_ored() {
        // weekday evenings in March or in 2030
        let spec = TimeSpec {
            times: Some(vec![(18 * 60, 24 * 60)]),
            weekdays: Some(vec![(1, 5)]),
            months: Some(vec![(3, 3)]),
            years: Some(vec![(2026, 2026), (2030, 2030)]),
            ..spec()
        };
        // 2026-03-02 is a Monday, 2026-03-07 a Saturday.
        let cases = [
            ("2026-03-02T19:00:00Z", true),
            ("2026-03-02T12:00:00Z", false),
            ("2026-03-07T19:00:00Z", false),
            ("2026-04-06T19:00:00Z", false),
            ("2027-03-01T19:00:00Z", false),
            ("2030-03-04T19:00:00Z", true),
        ];
        for (instant, expected) in cases {
            assert_eq!(spec.contains(at(instant)), expected, "{instant}");
        }
        // an explicit empty list matches nothing, as in Alertmanager
        let never = TimeSpec {
            weekdays: Some(vec![]),
            ..TimeSpec::default()
        };
        assert!(!never.contains(at("2026-03-02T19:00:00Z")));
        assert!(TimeSpec::default().contains(at("2026-03-02T19:00:00Z")));
    }

    #[test]
    fn negative_days_count_from_the_end_and_ranges_clamp() {
        let last_three = TimeSpec {
            days_of_month: Some(vec![(-3, -1)]),
            ..spec()
        };
        let first_31 = TimeSpec {
            days_of_month: Some(vec![(1, 31)]),
            ..spec()
        };
        let from_30th = TimeSpec {
            days_of_month: Some(vec![(30, 31)]),
            ..spec()
        };
        // (spec, instant, contained)
        let cases = [
            (&last_three, "2026-01-28T12:00:00Z", false),
            (&last_three, "2026-01-29T12:00:00Z", true),
            (&last_three, "2026-01-31T12:00:00Z", true),
            // February 2026 has 28 days
            (&last_three, "2026-02-25T12:00:00Z", false),
            (&last_three, "2026-02-26T12:00:00Z", true),
            // February 2028 has 29
            (&last_three, "2028-02-26T12:00:00Z", false),
            (&last_three, "2028-02-27T12:00:00Z", true),
            (&first_31, "2026-02-28T12:00:00Z", true),
            // a range that starts after the month's end does not spill into the next month
            (&from_30th, "2026-02-28T12:00:00Z", false),
            (&from_30th, "2026-03-01T12:00:00Z", false),
            (&from_30th, "2026-04-30T12:00:00Z", true),
        ];
        for (spec, instant, expected) in cases {
            assert_eq!(
                spec.contains(at(instant)),
                expected,
                "{instant} in {:?}",
                spec.days_of_month
            );
        }
    }

    #[test]
    fn fields_are_read_in_the_location() {
        // 09:00-17:00 on weekdays in Sydney (UTC+11 in March, daylight saving time).
        let sydney = TimeSpec {
            times: Some(vec![(9 * 60, 17 * 60)]),
            weekdays: Some(vec![(1, 5)]),
            location: location("Australia/Sydney").unwrap(),
            ..spec()
        };
        // Sunday 22:30 UTC is Monday 09:30 in Sydney.
        assert!(sydney.contains(at("2026-03-01T22:30:00Z")));
        // Monday 09:30 UTC is Monday 20:30 in Sydney.
        assert!(!sydney.contains(at("2026-03-02T09:30:00Z")));
        // In UTC the same spec says the opposite.
        let utc = TimeSpec {
            location: TimeZone::UTC,
            ..sydney.clone()
        };
        assert!(!utc.contains(at("2026-03-01T22:30:00Z")));
        assert!(utc.contains(at("2026-03-02T09:30:00Z")));
    }

    #[test]
    fn an_interval_contains_what_any_spec_contains() {
        let interval = TimeInterval {
            name: "offhours".into(),
            specs: vec![
                TimeSpec {
                    weekdays: Some(vec![(0, 0), (6, 6)]),
                    ..spec()
                },
                TimeSpec {
                    times: Some(vec![(0, 9 * 60), (17 * 60, 24 * 60)]),
                    ..spec()
                },
            ],
        };
        assert!(interval.contains(at("2026-03-07T12:00:00Z")), "saturday");
        assert!(
            interval.contains(at("2026-03-02T18:00:00Z")),
            "monday evening"
        );
        assert!(
            !interval.contains(at("2026-03-02T12:00:00Z")),
            "monday noon"
        );
        let empty = TimeInterval {
            name: "never".into(),
            specs: vec![],
        };
        assert!(!empty.contains(at("2026-03-02T12:00:00Z")));
    }
}
