//! Runbook buttons: a Slack app receiver's `buttons:` entry `{action: NAME, params: {PARAM:
//! TEMPLATE}}` puts a button on each of its group messages that runs the action with values
//! made from the group's labels. This file holds the config check against `actions:`, the
//! making of a group's buttons, and the button's value, which a click reads back
//! (`chat::runbook`) and checks again: it is data from a chat client, trusted for nothing.
//!
//! The templates see `labels`: the labels every firing alert of the group has (the route's
//! `group_by` labels and any other label they all share; with one alert, all of its labels).
//! A label that is missing, or a value its parameter's type refuses, leaves that button off
//! the message; it is never shown broken.

use std::collections::BTreeMap;

use minijinja::UndefinedBehavior;
use serde::{Deserialize, Serialize};

use super::config::Action;
use crate::alert::{GroupMessage, Labels};
use crate::config::yaml::Path;
use crate::render::blockkit::{MAX_BUTTON_TEXT, MAX_BUTTON_VALUE};
use crate::render::controls::RunControl;
use crate::render::template::{common, describe, environment};
use crate::sink::config::RunButton;
use crate::source::Bind;

/// What a runbook button carries as its value (JSON): the group's button id (which names the
/// receiver and the group in the state file), the action and its values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunValue {
    pub id: String,
    pub action: String,
    pub params: BTreeMap<String, String>,
}

impl RunValue {
    /// Reads a clicked button's value; anything but a runbook button's value is refused.
    pub fn read(value: &str) -> Result<Self, String> {
        serde_json::from_str(value)
            .map_err(|_| "the button's value is not a runbook button's".to_owned())
    }

    /// The values to bind: exactly the action's parameters, each valid for its type.
    pub fn binds(&self, action: &Action) -> Result<Vec<(String, Bind)>, String> {
        if let Some(unknown) =
            (self.params.keys()).find(|n| !action.params.iter().any(|p| &p.name == *n))
        {
            return Err(format!(
                "there is no parameter `{}`",
                crate::render::text::mrkdwn(unknown, 64)
            ));
        }
        super::run::validate(action, &self.params)
    }
}

/// The problems of runbook button `button` at `at`, each with its key: the action must exist,
/// and its parameters be given exactly, as the slash command demands, by templates that
/// compile. `written` names every action the file has, broken ones included (those have their
/// own problem).
pub fn check(
    button: &RunButton,
    actions: &[Action],
    written: &[String],
    at: &Path,
) -> Vec<(Path, String)> {
    let mut problems = Vec::new();
    if let Some(label) = &button.label
        && (label.trim().is_empty() || label.chars().count() > MAX_BUTTON_TEXT)
    {
        let message = format!(
            "must be 1 to {MAX_BUTTON_TEXT} characters (Slack's limit for a button's text)"
        );
        problems.push((at.key("label"), message));
    }
    let Some(action) = actions.iter().find(|a| a.name == button.action) else {
        if !written.contains(&button.action) {
            let message = format!(
                "no action named `{}` under `actions:` (there: {}); add it, or fix the name",
                button.action,
                written.join(", ")
            );
            problems.push((at.key("action"), message));
        }
        return problems;
    };
    let env = environment(UndefinedBehavior::Strict);
    for (name, template) in &button.params {
        let at = at.key("params").key(name);
        match action.params.iter().find(|p| &p.name == name) {
            None => problems.push((at, format!(
                "action `{}` has no parameter `{name}` (it takes `{}`); remove it, or fix the name",
                action.name,
                action.usage()
            ))),
            Some(param) if param.secret => problems.push((at, format!("`{name}` is a secret parameter: a button's value is in the message for anyone in the channel to read, so its value cannot come from a button"))),
            Some(_) => {
                if let Err(error) = env.template_from_str(template) {
                    problems.push((at, format!("template does not work: {}", describe(&error))));
                }
            }
        }
    }
    for param in &action.params {
        if !button.params.contains_key(&param.name) {
            problems.push((at.key("params"), format!(
                "`{}` is missing: the action takes `{}`, and a button must give every parameter, as the slash command must; add `{}: \"{{{{ labels.NAME }}}}\"`",
                param.name,
                action.usage(),
                param.name
            )));
        }
    }
    problems
}

/// The labels a group's runbook buttons see: those every firing alert of the group has.
pub fn labels_of(message: &GroupMessage) -> Labels {
    common(message.firing.iter().map(|alert| &alert.labels))
}

/// The button that `button` (of `action`) makes on the message of a group with `labels` and
/// button id `id`; or why it is left off. The reason never repeats a label's value.
pub fn make(
    button: &RunButton,
    action: &Action,
    labels: &Labels,
    id: &str,
) -> Result<RunControl, String> {
    let env = environment(UndefinedBehavior::Strict);
    let context = minijinja::context! { labels => labels };
    let mut params = BTreeMap::new();
    for (name, template) in &button.params {
        let value = env
            .render_str(template, &context)
            .map_err(|error| format!("`{name}` cannot be made: {}", describe(&error)))?;
        params.insert(name.clone(), value);
    }
    let value = RunValue {
        id: id.to_owned(),
        action: action.name.clone(),
        params,
    };
    value.binds(action)?;
    let value = serde_json::to_string(&value).expect("strings always serialize");
    if value.chars().count() > MAX_BUTTON_VALUE {
        return Err(format!(
            "its value would be over Slack's {MAX_BUTTON_VALUE} characters"
        ));
    }
    let text = match (&button.label, action.description.trim()) {
        (Some(label), _) => label.clone(),
        (None, "") => action.name.clone(),
        (None, description) => description.to_owned(),
    };
    Ok(RunControl { text, value })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::config::{ActionKind, Response};
    use crate::action::params::{Param, ParamType, anchored};
    use crate::config::duration::Duration;
    use crate::source::SourceName;

    fn action(params: Vec<Param>) -> Action {
        Action {
            name: "sessions".to_owned(),
            description: "Sessions of a schema".to_owned(),
            source: SourceName("prod".to_owned()),
            kind: ActionKind::Query,
            sql: "select 1".to_owned(),
            params,
            allow: vec!["dba".to_owned()],
            confirm: None,
            approval: None,
            timeout: Duration::from_secs(10),
            max_rows: 50,
            response: Response::InChannel,
        }
    }

    fn param(name: &str, kind: ParamType) -> Param {
        Param {
            name: name.to_owned(),
            kind,
            secret: false,
        }
    }

    fn schema() -> Action {
        let kind = ParamType::Identifier {
            upper: true,
            pattern: None,
        };
        action(vec![param("schema", kind)])
    }

    fn button(params: &[(&str, &str)], label: Option<&str>) -> RunButton {
        RunButton {
            action: "sessions".to_owned(),
            params: (params.iter())
                .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
                .collect(),
            label: label.map(str::to_owned),
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        (pairs.iter())
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_button_carries_the_values_rendered_from_the_labels_as_json() {
        let button = button(&[("schema", "{{ labels.owner | lower }}")], None);
        let made = make(&button, &schema(), &labels(&[("owner", "ORDERS")]), "0a1b").unwrap();
        assert_eq!(made.text, "Sessions of a schema");
        let value = RunValue::read(&made.value).unwrap();
        assert_eq!(
            value,
            RunValue {
                id: "0a1b".to_owned(),
                action: "sessions".to_owned(),
                params: [("schema".to_owned(), "orders".to_owned())].into(),
            }
        );
        let mut named = schema();
        named.description = String::new();
        assert_eq!(
            make(&button, &named, &labels(&[("owner", "A")]), "1")
                .unwrap()
                .text,
            "sessions"
        );
        let labelled = super::tests::button(&[("schema", "X")], Some("Who is connected"));
        assert_eq!(
            make(&labelled, &schema(), &Labels::new(), "1")
                .unwrap()
                .text,
            "Who is connected"
        );
    }

    #[test]
    fn a_button_is_left_off_when_a_label_is_missing_or_its_value_is_refused() {
        let button = button(&[("schema", "{{ labels.owner }}")], None);
        let missing = make(&button, &schema(), &labels(&[("other", "X")]), "1").unwrap_err();
        assert!(missing.starts_with("`schema` cannot be made"), "{missing}");
        let hostile = labels(&[("owner", "ORDERS'; drop table x; --")]);
        let refused = make(&button, &schema(), &hostile, "1").unwrap_err();
        assert!(
            refused.starts_with("`schema` must be a database name"),
            "{refused}"
        );
        assert!(!refused.contains("drop"), "{refused}");
    }

    #[test]
    fn database_text_stays_data_in_the_value_and_a_value_over_slacks_limit_is_left_off() {
        let text = ParamType::String {
            pattern: anchored("(?s).*").unwrap(),
            max_chars: 4096,
        };
        let action = action(vec![param("note", text)]);
        let button = button(&[("note", "{{ labels.note }}")], None);
        let hostile = "\", \"action\": \"kill\"} <!channel> & <@U1>";
        let made = make(&button, &action, &labels(&[("note", hostile)]), "1").unwrap();
        let value = RunValue::read(&made.value).unwrap();
        assert_eq!(value.action, "sessions");
        assert_eq!(value.params["note"], hostile);
        let long = "x".repeat(MAX_BUTTON_VALUE);
        let over = make(&button, &action, &labels(&[("note", &long)]), "1").unwrap_err();
        assert!(over.contains("over Slack's 2000"), "{over}");
    }

    #[test]
    fn a_clicked_value_is_checked_again_as_if_typed() {
        let value = |params: &[(&str, &str)]| RunValue {
            id: "1".to_owned(),
            action: "sessions".to_owned(),
            params: (params.iter())
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
        };
        let binds = value(&[("schema", "orders")]).binds(&schema()).unwrap();
        assert_eq!(
            binds,
            [("schema".to_owned(), Bind::Text("ORDERS".to_owned()))]
        );
        for (params, error) in [
            (vec![], "`schema` is missing"),
            (
                vec![("schema", "1; drop")],
                "`schema` must be a database name",
            ),
            (
                vec![("schema", "A"), ("table", "B")],
                "there is no parameter `table`",
            ),
        ] {
            let refused = value(&params).binds(&schema()).unwrap_err();
            assert!(refused.starts_with(error), "{refused}");
        }
        assert!(RunValue::read("0a1b").is_err());
        assert!(RunValue::read(r#"{"id":"1","action":"a","params":{},"sql":"x"}"#).is_err());
    }
}
