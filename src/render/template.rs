//! Message templates: a receiver's `message:` (`title`, `text`, `fields`), in Jinja2 syntax
//! through minijinja like the checks' label templates, seeing a group notification the way
//! Alertmanager's templates see theirs (`status`, `alerts`, `firing`, `resolved`,
//! `group_labels`, `common_labels`, `common_annotations`, `receiver`, `external_url`).
//!
//! Every string from the alerts is cleaned and escaped for Slack (`&`, `<`, `>`) before it enters
//! the template; the template's own text is not. So a template can bold, link and mention on
//! purpose, while a database value can never open a link or a mention.
//!
//! Templates are compiled and rendered once against a sample group when the config is loaded,
//! so that a syntax error or an unknown filter is a config error with its position. Rendering
//! is bounded like the checks' templates ([`FUEL`]); what a render makes past
//! [`MAX_RENDERED_BYTES`] is cut with a marker, and a render that fails falls back to the
//! default layout for that part, with a warning: a message is never refused at send time.

use std::collections::BTreeMap;

use minijinja::{Environment, ErrorKind, UndefinedBehavior};
use serde::Deserialize;
use serde_json::{Value, json};

use super::text;
use crate::alert::{AlertView, GroupMessage, Labels};

/// The work one render may do: about a hundred thousand template instructions, or a few
/// megabytes of strings made along the way.
pub const FUEL: u64 = 100_000;

/// The most text one message template part keeps; more than any Slack message shows.
pub const MAX_RENDERED_BYTES: usize = 64 << 10;

/// An engine with the bounds and the NULL rendering every template gets, message or label.
pub fn environment(undefined: UndefinedBehavior) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(undefined);
    env.set_fuel(Some(FUEL));
    env.set_formatter(|out, state, value| {
        if value.is_none() {
            return Ok(());
        }
        minijinja::escape_formatter(out, state, value)
    });
    env
}

/// A minijinja error in the config's words: the message with its line in the template, and
/// its causes.
pub fn describe(error: &minijinja::Error) -> String {
    if error.kind() == ErrorKind::OutOfFuel {
        return format!(
            "it does too much work (over {FUEL} steps, or megabytes of text); simplify its loops and filters"
        );
    }
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    message
}

/// An error as [`describe`] says it, with its place as a line of the template rather than
/// minijinja's internal template name.
fn at_line(error: &minijinja::Error) -> String {
    if error.kind() == ErrorKind::OutOfFuel {
        return describe(error);
    }
    let mut message = error.kind().to_string();
    if let Some(detail) = error.detail() {
        message.push_str(&format!(": {detail}"));
    }
    if let Some(line) = error.line() {
        message.push_str(&format!(" (line {line} of the template)"));
    }
    message
}

/// `message:` in a receiver, as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageConfig {
    /// The headline, after the severity emoji (default `[FIRING:n] alertname (group labels)`).
    pub title: Option<String>,
    /// The body, in place of the default list of alerts.
    pub text: Option<String>,
    /// Extra two-column fields, each `{title: …, value: "{{ … }}"}`; empty values are left out.
    #[serde(default)]
    pub fields: Vec<FieldConfig>,
    /// Labels the default layout does not show (say `record_id`).
    #[serde(default)]
    pub hide_labels: Vec<String>,
    /// A link templates may use as `{{ external_url }}` (your runbook index, a dashboard).
    pub external_url: Option<String>,
}

/// One entry of `message.fields`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldConfig {
    /// The field's name, shown in bold.
    pub title: String,
    /// Its value; a template.
    pub value: String,
}

/// A problem in `message:`, with the key it is under (`fields` with its index).
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateProblem {
    pub key: &'static str,
    pub index: Option<usize>,
    pub message: String,
}

/// A receiver's message templates, compiled.
#[derive(Debug)]
pub struct MessageTemplate {
    env: Environment<'static>,
    has_title: bool,
    has_text: bool,
    field_titles: Vec<String>,
    /// Labels the default layout leaves out.
    pub hide_labels: Vec<String>,
    external_url: Option<String>,
}

/// What a message template rendered for one group; `None` where the default layout stands.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RenderedMessage {
    pub title: Option<String>,
    pub text: Option<String>,
    /// Field names and values; fields that rendered empty are left out.
    pub fields: Vec<(String, String)>,
}

impl MessageTemplate {
    /// Compiles `config` and renders it once against a sample group. Every problem is
    /// returned, each with its key.
    pub fn compile(config: MessageConfig) -> Result<Self, Vec<TemplateProblem>> {
        let mut env = environment(UndefinedBehavior::Chainable);
        env.add_filter("slack_date", slack_date_filter);
        let mut problems = Vec::new();
        let mut add = |env: &mut Environment<'static>, name: String, key, index, source: &str| {
            let compiled = env.add_template_owned(name.clone(), source.to_owned());
            let checked = compiled.and_then(|()| sample_render(env, &name));
            if let Err(error) = checked {
                problems.push(TemplateProblem {
                    key,
                    index,
                    message: format!("template does not work: {}", at_line(&error)),
                });
            }
        };
        if let Some(title) = &config.title {
            add(&mut env, "title".into(), "title", None, title);
        }
        if let Some(body) = &config.text {
            add(&mut env, "text".into(), "text", None, body);
        }
        for (i, field) in config.fields.iter().enumerate() {
            add(
                &mut env,
                format!("field{i}"),
                "fields",
                Some(i),
                &field.value,
            );
        }
        if let Some(url) = &config.external_url
            && !matches!(reqwest::Url::parse(url), Ok(u) if matches!(u.scheme(), "http" | "https"))
        {
            problems.push(TemplateProblem {
                key: "external_url",
                index: None,
                message: format!("`{url}` is not an http or https URL"),
            });
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Self {
            env,
            has_title: config.title.is_some(),
            has_text: config.text.is_some(),
            field_titles: config.fields.into_iter().map(|f| f.title).collect(),
            hide_labels: config.hide_labels,
            external_url: config.external_url,
        })
    }

    /// Renders the templates for `group` as sent to `receiver`.
    pub fn render(&self, group: &GroupMessage, receiver: &str) -> RenderedMessage {
        let context = minijinja::Value::from(minijinja::value::Serde(context(
            group,
            receiver,
            self.external_url.as_deref(),
        )));
        let part = |name: &str| self.render_part(name, &context);
        RenderedMessage {
            title: self.has_title.then(|| part("title")).flatten(),
            text: self.has_text.then(|| part("text")).flatten(),
            fields: self
                .field_titles
                .iter()
                .enumerate()
                .filter_map(|(i, title)| {
                    let value = part(&format!("field{i}"))?;
                    (!value.trim().is_empty()).then(|| (title.clone(), value))
                })
                .collect(),
        }
    }

    /// One part, cut to [`MAX_RENDERED_BYTES`]; `None` (and a warning) when it fails.
    fn render_part(&self, name: &str, context: &minijinja::Value) -> Option<String> {
        let rendered = self
            .env
            .get_template(name)
            .and_then(|template| template.render(context));
        match rendered {
            Ok(out) if out.len() > MAX_RENDERED_BYTES => {
                let end = (0..=MAX_RENDERED_BYTES - text::CUT_MARKER.len())
                    .rev()
                    .find(|&i| out.is_char_boundary(i))
                    .unwrap_or(0);
                Some(text::end_cut_markup(&out[..end], end))
            }
            Ok(out) => Some(out),
            Err(error) => {
                tracing::warn!(part = name, error = %describe(&error), "Message template failed; using the default layout for it.");
                None
            }
        }
    }
}

/// Renders template `name` against a sample group: a typo in a filter or function, a runaway
/// loop or an output over the cap is found when the config is loaded. Labels are unknown until
/// the queries run, so missing ones render empty.
fn sample_render(env: &Environment<'static>, name: &str) -> Result<(), minijinja::Error> {
    let sample = sample_group();
    let context = minijinja::Value::from(minijinja::value::Serde(context(
        &sample,
        "receiver",
        Some("https://dbalert.example"),
    )));
    let out = env.get_template(name)?.render(context)?;
    if out.len() > MAX_RENDERED_BYTES {
        return Err(minijinja::Error::new(
            ErrorKind::InvalidOperation,
            format!(
                "the template renders {} KiB for one alert, over the {} KiB a message part keeps; make it shorter",
                out.len() / 1024,
                MAX_RENDERED_BYTES / 1024
            ),
        ));
    }
    Ok(())
}

fn sample_group() -> GroupMessage {
    let labels: Labels = [
        ("alertname", "sample"),
        ("severity", "warning"),
        ("source", "sample"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    GroupMessage {
        group_labels: [("alertname".to_owned(), "sample".to_owned())].into(),
        firing: vec![AlertView {
            fingerprint: crate::alert::Fingerprint(0),
            labels,
            annotations: [("summary".to_owned(), "Sample alert".to_owned())].into(),
            starts_at: jiff::Timestamp::UNIX_EPOCH,
            ends_at: None,
        }],
        resolved: Vec::new(),
    }
}

/// `{{ alert.starts_at | slack_date }}`: a time Slack shows in each reader's time zone.
fn slack_date_filter(value: String) -> Result<String, minijinja::Error> {
    let at: jiff::Timestamp = value.parse().map_err(|e| {
        minijinja::Error::new(
            ErrorKind::InvalidOperation,
            format!("slack_date: `{value}` is not a time ({e})"),
        )
    })?;
    Ok(text::slack_date(at))
}

/// What a template sees, every string from the alerts cleaned and escaped.
pub fn context(group: &GroupMessage, receiver: &str, external_url: Option<&str>) -> Value {
    let firing: Vec<Value> = group.firing.iter().map(|a| alert(a, "firing")).collect();
    let resolved: Vec<Value> = group
        .resolved
        .iter()
        .map(|a| alert(a, "resolved"))
        .collect();
    let all: Vec<&AlertView> = group.firing.iter().chain(&group.resolved).collect();
    json!({
        "status": if group.firing.is_empty() { "resolved" } else { "firing" },
        "alerts": firing.iter().chain(&resolved).collect::<Vec<_>>(),
        "firing": firing,
        "resolved": resolved,
        "group_labels": escaped_map(&group.group_labels),
        "common_labels": escaped_map(&common(all.iter().map(|a| &a.labels))),
        "common_annotations": escaped_map(&common(all.iter().map(|a| &a.annotations))),
        "receiver": escaped(receiver),
        "external_url": external_url.map(escaped),
    })
}

fn alert(alert: &AlertView, status: &str) -> Value {
    json!({
        "status": status,
        "labels": escaped_map(&alert.labels),
        "annotations": escaped_map(&alert.annotations),
        "starts_at": alert.starts_at.to_string(),
        "ends_at": alert.ends_at.map(|t| t.to_string()),
        "fingerprint": alert.fingerprint.to_string(),
        "title": escaped(alert.title()),
    })
}

fn escaped(value: &str) -> String {
    text::escape(&text::clean(value))
}

fn escaped_map(map: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    map.iter().map(|(k, v)| (escaped(k), escaped(v))).collect()
}

/// The pairs every map has.
pub fn common<'a>(mut maps: impl Iterator<Item = &'a Labels>) -> Labels {
    let Some(first) = maps.next() else {
        return Labels::new();
    };
    let mut shared = first.clone();
    for map in maps {
        shared.retain(|key, value| map.get(key) == Some(value));
    }
    shared
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(labels: &[(&str, &str)], summary: &str, ends: Option<&str>) -> AlertView {
        AlertView {
            fingerprint: crate::alert::Fingerprint(0xe6552a7fda19e6f8),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            annotations: [("summary".to_owned(), summary.to_owned())].into(),
            starts_at: "2026-11-23T08:14:02Z".parse().unwrap(),
            ends_at: ends.map(|e| e.parse().unwrap()),
        }
    }

    fn group() -> GroupMessage {
        GroupMessage {
            group_labels: [("alertname".to_owned(), "tablespace_full".to_owned())].into(),
            firing: vec![view(
                &[
                    ("alertname", "tablespace_full"),
                    ("owner", "ORDERS"),
                    ("ts", "USERS"),
                ],
                "USERS is full",
                None,
            )],
            resolved: vec![view(
                &[
                    ("alertname", "tablespace_full"),
                    ("owner", "ORDERS"),
                    ("ts", "DATA"),
                ],
                "DATA is full",
                Some("2026-11-23T09:00:00Z"),
            )],
        }
    }

    fn title(source: &str) -> MessageTemplate {
        MessageTemplate::compile(MessageConfig {
            title: Some(source.to_owned()),
            external_url: Some("https://wiki.example/dbalert".to_owned()),
            ..MessageConfig::default()
        })
        .unwrap_or_else(|e| panic!("{source}: {e:?}"))
    }

    fn rendered(source: &str, group: &GroupMessage) -> String {
        title(source).render(group, "orders-team").title.unwrap()
    }

    #[test]
    fn each_context_variable() {
        let g = group();
        for (source, expected) in [
            ("{{ status }}", "firing"),
            ("{{ alerts | length }} {{ alerts[1].status }}", "2 resolved"),
            (
                "{{ firing[0].labels.ts }} {{ firing[0].title }}",
                "USERS USERS is full",
            ),
            (
                "{{ resolved[0].labels.ts }} {{ resolved[0].ends_at }}",
                "DATA 2026-11-23T09:00:00Z",
            ),
            (
                "{{ firing[0].starts_at }} {{ firing[0].fingerprint }}",
                "2026-11-23T08:14:02Z e6552a7fda19e6f8",
            ),
            ("{{ firing[0].annotations.summary }}", "USERS is full"),
            ("{{ group_labels.alertname }}", "tablespace_full"),
            (
                "{{ common_labels | dictsort | map('first') | join(',') }}",
                "alertname,owner",
            ),
            ("{{ common_annotations | length }}", "0"),
            ("{{ receiver }}", "orders-team"),
            ("{{ external_url }}", "https://wiki.example/dbalert"),
            (
                "{{ firing[0].starts_at | slack_date }}",
                "<!date^1795421642^{date_short_pretty} {time}|2026-11-23 08:14 UTC>",
            ),
            ("{{ common_labels.missing }}-", "-"),
        ] {
            assert_eq!(rendered(source, &g), expected, "{source}");
        }
        let mut all_resolved = group();
        all_resolved.firing.clear();
        assert_eq!(rendered("{{ status }}", &all_resolved), "resolved");
    }

    #[test]
    fn database_text_cannot_mention_but_a_template_can() {
        let mut g = group();
        g.firing[0].labels.insert(
            "owner".into(),
            "<!channel> & <https://evil.example|bank>".into(),
        );
        g.firing[0]
            .labels
            .insert("ts".into(), "A\u{202E}B\u{0}".into());
        assert_eq!(
            rendered(
                "<!here> {{ firing[0].labels.owner }} <https://wiki.example|{{ firing[0].labels.ts }}>",
                &g
            ),
            "<!here> &lt;!channel&gt; &amp; &lt;https://evil.example|bank&gt; <https://wiki.example|AB>"
        );
        // Escaping happens once, as data enters: a template cannot undo it by accident.
        assert_eq!(
            rendered("{{ firing[0].labels.owner | upper }}", &g),
            "&LT;!CHANNEL&GT; &AMP; &LT;HTTPS://EVIL.EXAMPLE|BANK&GT;"
        );
    }

    #[test]
    fn runaway_templates_are_refused_at_load_and_bounded_at_send() {
        for source in [
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
            "{{ 'x' | indent(2000000000) }}",
        ] {
            let problems = MessageTemplate::compile(MessageConfig {
                text: Some(source.into()),
                ..MessageConfig::default()
            })
            .unwrap_err();
            assert!(
                problems[0].message.contains("too much work"),
                "{problems:?}"
            );
        }
        let big = MessageTemplate::compile(MessageConfig {
            text: Some("{{ 'x' * 70000 }}".into()),
            ..MessageConfig::default()
        })
        .unwrap_err();
        assert!(big[0].message.contains("over the 64 KiB"), "{big:?}");

        // What depends on the alerts is known only when they come: cut, never refused.
        let by_alerts = MessageTemplate::compile(MessageConfig {
            text: Some("{% for a in alerts %}{{ 'y' * 40000 }}{% endfor %}".into()),
            ..MessageConfig::default()
        })
        .unwrap();
        let out = by_alerts.render(&group(), "r").text.unwrap();
        assert!(out.len() <= MAX_RENDERED_BYTES, "{}", out.len());
        assert!(out.ends_with(text::CUT_MARKER));
    }

    #[test]
    fn a_template_failing_at_send_leaves_the_default() {
        let template = MessageTemplate::compile(MessageConfig {
            title: Some("{{ firing[0].starts_at | slack_date }}".into()),
            ..MessageConfig::default()
        })
        .unwrap();
        let mut g = group();
        g.firing.clear();
        assert_eq!(template.render(&g, "r").title, None);
    }

    #[test]
    fn sample_render_errors_name_the_key_and_the_line() {
        let problems = MessageTemplate::compile(MessageConfig {
            title: Some("{{ status | uper }}".into()),
            text: Some("line one\n{% for a in alerts %}\n{{ a.title }".into()),
            fields: vec![FieldConfig {
                title: "Owner".into(),
                value: "{{ nope() }}".into(),
            }],
            external_url: Some("javascript:alert(1)".into()),
            ..MessageConfig::default()
        })
        .unwrap_err();
        let found: Vec<(&str, Option<usize>)> = problems.iter().map(|p| (p.key, p.index)).collect();
        assert_eq!(
            found,
            [
                ("title", None),
                ("text", None),
                ("fields", Some(0)),
                ("external_url", None)
            ]
        );
        assert!(
            problems[0].message.contains("unknown filter"),
            "{problems:?}"
        );
        assert!(problems[1].message.contains("syntax error"), "{problems:?}");
        assert_eq!(
            problems[1].message,
            "template does not work: syntax error: unexpected `}`, expected end of variable block (line 3 of the template)"
        );
        assert!(
            problems[2].message.contains("unknown function"),
            "{problems:?}"
        );
        assert!(
            problems[3].message.contains("not an http or https URL"),
            "{problems:?}"
        );
    }
}
