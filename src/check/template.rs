//! Label and annotation templates: Jinja2 syntax through minijinja, as ops people know it from
//! Ansible. A template sees the row as `row.<column>` (lower case), plus `check` and `source`.
//!
//! Templates are compiled when the config is loaded, so a syntax error is a config error with
//! its position. A value without `{{` or `{%` is plain text and is never run through the engine,
//! which keeps a check that returns 100,000 rows cheap.
//!
//! Rendering is bounded, so that a template cannot hang `dbalert check` (nested loops) or take
//! gigabytes (`indent`, `format`): each render gets [`FUEL`] (minijinja counts instructions and
//! the bytes they make) and its text may be at most [`MAX_RENDERED_BYTES`]. A template over
//! either is a config error when the sample render finds it, and a logged error on a row.
//!
//! NULL renders as nothing, as a NULL column does in labels, rather than Jinja's `none`.

use std::collections::BTreeMap;

use minijinja::{Environment, ErrorKind, UndefinedBehavior};

use crate::render::template::{describe, environment};

use crate::source::Value;

/// The work one render may do, as for message templates; a label or annotation template
/// needs hundreds of steps.
pub use crate::render::template::FUEL;

/// The longest text one template may render; more than any message shows.
pub const MAX_RENDERED_BYTES: usize = 64 << 10;

/// A label or annotation value: plain text, or a compiled template by name.
#[derive(Debug, Clone, PartialEq)]
pub enum Text {
    Plain(String),
    Template { name: String, source: String },
}

/// Every template of a config, compiled once.
#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
}

impl Default for Templates {
    fn default() -> Self {
        // `{{ row.colum }}` (a typo) is an error at render time rather than an empty string
        // that silently changes routing; `{% if row.x %}` on a missing column is still false.
        Self {
            env: environment(UndefinedBehavior::SemiStrict),
        }
    }
}

/// Refuses rendered text over [`MAX_RENDERED_BYTES`].
fn capped(text: String) -> Result<String, String> {
    if text.len() > MAX_RENDERED_BYTES {
        return Err(format!(
            "it renders {} KiB, over the {} KiB a label or annotation may hold; make it shorter",
            text.len() / 1024,
            MAX_RENDERED_BYTES / 1024
        ));
    }
    Ok(text)
}

impl Templates {
    /// Compiles `source` under `name` when it is a template; returns plain text otherwise.
    /// The error carries minijinja's message with the line within the template.
    pub fn add(&mut self, name: &str, source: &str) -> Result<Text, String> {
        if !source.contains("{{") && !source.contains("{%") {
            return Ok(Text::Plain(source.to_owned()));
        }
        self.env
            .add_template_owned(name.to_owned(), source.to_owned())
            .map_err(|e| describe(&e))?;
        sample_render(source)?;
        Ok(Text::Template {
            name: name.to_owned(),
            source: source.to_owned(),
        })
    }

    /// Renders `text` for one row.
    pub fn render(&self, text: &Text, context: &Context) -> Result<String, String> {
        match text {
            Text::Plain(plain) => Ok(plain.clone()),
            Text::Template { name, .. } => self
                .env
                .get_template(name)
                .and_then(|t| t.render(&context.value))
                .map_err(|e| describe(&e))
                .and_then(capped),
        }
    }
}

/// Renders `source` once against a sample alert whose row has no columns, so that a misspelt
/// filter, test or function (`{{ row.x | uper }}`) is a config error, not a surprise on the first
/// row. Columns are unknown until the query runs, so missing ones are allowed here.
fn sample_render(source: &str) -> Result<(), String> {
    let env = environment(UndefinedBehavior::Chainable);
    let row: BTreeMap<String, minijinja::Value> = BTreeMap::new();
    let context = minijinja::context! { row => row, check => "check", source => "source" };
    match env.render_str(source, context) {
        Err(error)
            if matches!(
                error.kind(),
                ErrorKind::UnknownFilter
                    | ErrorKind::UnknownTest
                    | ErrorKind::UnknownFunction
                    | ErrorKind::UnknownMethod
                    | ErrorKind::OutOfFuel
            ) =>
        {
            Err(describe(&error))
        }
        Ok(text) => capped(text).map(drop),
        Err(_) => Ok(()),
    }
}

/// What a template sees.
pub struct Context {
    value: minijinja::Value,
}

impl Context {
    pub fn new(check: &str, source: &str, columns: &[String], row: &[Value]) -> Self {
        let row: BTreeMap<String, minijinja::Value> = columns
            .iter()
            .zip(row)
            .map(|(name, value)| (name.clone(), to_template_value(value)))
            .collect();
        Self {
            value: minijinja::context! { row => row, check => check, source => source },
        }
    }
}

/// Numbers stay numbers and booleans booleans, so `{% if row.pct > 95 %}` works; exact
/// decimals, times and bytes are their text.
fn to_template_value(value: &Value) -> minijinja::Value {
    match value {
        Value::Null => minijinja::Value::from(()),
        Value::Bool(b) => minijinja::Value::from(*b),
        Value::Int(i) => minijinja::Value::from(*i),
        Value::Float(f) => minijinja::Value::from(*f),
        Value::Json(json) => minijinja::Value::from(minijinja::value::Serde(json)),
        other => minijinja::Value::from(other.to_label()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> Context {
        Context::new(
            "tablespace_full",
            "prod",
            &["tablespace_name".into(), "pct".into(), "note".into()],
            &[Value::text("USERS"), Value::Int(97), Value::Null],
        )
    }

    #[test]
    fn renders_row_values_with_their_types() {
        let mut templates = Templates::default();
        let summary = templates
            .add(
                "a",
                "{{ row.tablespace_name }} is {{ row.pct }}% full{% if row.pct > 95 %}!{% endif %}",
            )
            .unwrap();
        assert_eq!(
            templates.render(&summary, &context()).unwrap(),
            "USERS is 97% full!"
        );
        let names = templates
            .add("b", "{{ check }}@{{ source }} {{ row.note or 'none' }}")
            .unwrap();
        assert_eq!(
            templates.render(&names, &context()).unwrap(),
            "tablespace_full@prod none"
        );
    }

    #[test]
    fn null_renders_as_nothing() {
        let mut templates = Templates::default();
        let team = templates
            .add(
                "n",
                "team={{ row.note }};{% if row.note is none %}null{% endif %}",
            )
            .unwrap();
        assert_eq!(templates.render(&team, &context()).unwrap(), "team=;null");
    }

    #[test]
    fn runaway_templates_are_refused_at_load_and_at_render() {
        let mut templates = Templates::default();
        for source in [
            "{% for i in range(10000) %}{% for j in range(10000) %}x{% endfor %}{% endfor %}",
            "{{ 'x' | indent(2000000000) }}",
            "{{ '%2000000000d' | format(1) }}",
        ] {
            let error = templates.add("r", source).unwrap_err();
            assert!(error.contains("too much work"), "{source}: {error}");
        }
        let error = templates.add("big", "{{ 'x' * 70000 }}").unwrap_err();
        assert!(error.contains("over the 64 KiB"), "{error}");
        // Loops that depend on the row are only known when a row comes.
        let by_row = templates
            .add(
                "row",
                "{% for i in range(row.pct * 1000) %}{{ 'y' * 1000 }}{% endfor %}",
            )
            .unwrap();
        let error = templates.render(&by_row, &context()).unwrap_err();
        assert!(
            error.contains("too much work") || error.contains("64 KiB"),
            "{error}"
        );
    }

    #[test]
    fn plain_text_is_not_a_template() {
        let mut templates = Templates::default();
        assert_eq!(
            templates.add("c", "critical").unwrap(),
            Text::Plain("critical".into())
        );
    }

    #[test]
    fn syntax_errors_are_found_at_load_and_typos_at_render() {
        let mut templates = Templates::default();
        let error = templates.add("d", "{{ row.x ").unwrap_err();
        assert!(error.contains("syntax error"), "{error}");
        let filter = templates
            .add(
                "f",
                "{{ row.name | upper }} {{ row.x.y | default('-') }} {{ row.name | uper }}",
            )
            .unwrap_err();
        assert!(filter.contains("unknown filter"), "{filter}");
        let typo = templates.add("e", "{{ row.tablespace }}").unwrap();
        let error = templates.render(&typo, &context()).unwrap_err();
        assert!(error.contains("undefined"), "{error}");
    }
}
