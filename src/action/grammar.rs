//! The slash command's argument grammar: `/dbalert NAME ARG…`, where arguments are separated by
//! whitespace, double quotes group (`"two words"`, `\"` for a quote inside), `name=value` names
//! a parameter, and anything else fills the parameters in order. Nothing else is expanded: a
//! `$`, a backslash or Slack's `<@U…>` escape stays as typed.

use std::collections::BTreeMap;

use super::params::Param;

/// One argument as typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// The parameter it names (`name=value` with `name=` outside quotes), if any.
    pub name: Option<String>,
    pub value: String,
}

/// Splits `text` into words. An unclosed quote is an error.
pub fn words(text: &str) -> Result<Vec<Word>, String> {
    let mut words = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(words);
        }
        let mut value = String::new();
        let mut name = None;
        let mut quoted = false;
        let mut any_quote = false;
        while let Some(c) = chars.next() {
            match c {
                '"' => {
                    quoted = !quoted;
                    any_quote = true;
                }
                '\\' if quoted && chars.peek() == Some(&'"') => {
                    value.push('"');
                    chars.next();
                }
                '=' if !quoted && !any_quote && name.is_none() && is_name(&value) => {
                    name = Some(std::mem::take(&mut value));
                }
                c if c.is_whitespace() && !quoted => break,
                c => value.push(c),
            }
        }
        if quoted {
            return Err("a double quote is not closed; write \"two words\" to group".to_owned());
        }
        words.push(Word { name, value });
    }
}

/// One argument as a shell already split it (`dbalert actions test`): `name=value` names a
/// parameter, anything else is positional. Quotes were the shell's and are gone.
pub fn word(arg: &str) -> Word {
    match arg.split_once('=') {
        Some((name, value)) if is_name(name) => Word {
            name: Some(name.to_owned()),
            value: value.to_owned(),
        },
        _ => Word {
            name: None,
            value: arg.to_owned(),
        },
    }
}

fn is_name(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Gives each parameter its value: `name=value` words by name, the others in order. Every
/// parameter must get exactly one value; an unknown name or a value too many is an error.
pub fn assign(params: &[Param], words: &[Word]) -> Result<BTreeMap<String, String>, String> {
    let mut values = BTreeMap::new();
    for word in words.iter().filter(|w| w.name.is_some()) {
        let name = word.name.as_deref().unwrap_or_default();
        if !params.iter().any(|p| p.name == name) {
            return Err(format!("there is no parameter `{name}`"));
        }
        if values.insert(name.to_owned(), word.value.clone()).is_some() {
            return Err(format!("`{name}` is given twice"));
        }
    }
    let open: Vec<&Param> = params
        .iter()
        .filter(|p| !values.contains_key(&p.name))
        .collect();
    let mut open = open.into_iter();
    for word in words.iter().filter(|w| w.name.is_none()) {
        let Some(param) = open.next() else {
            return Err("too many arguments".to_owned());
        };
        values.insert(param.name.clone(), word.value.clone());
    }
    if let Some(missing) = params.iter().find(|p| !values.contains_key(&p.name)) {
        return Err(format!("`{}` is missing", missing.name));
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::params::ParamType;

    fn word(name: Option<&str>, value: &str) -> Word {
        Word {
            name: name.map(str::to_owned),
            value: value.to_owned(),
        }
    }

    #[test]
    fn words_split_on_whitespace_with_quotes_and_names() {
        for (text, want) in [
            ("", vec![]),
            ("  a   b ", vec![word(None, "a"), word(None, "b")]),
            (
                "\"two words\" x",
                vec![word(None, "two words"), word(None, "x")],
            ),
            (
                "say \"a \\\"b\\\"\"",
                vec![word(None, "say"), word(None, "a \"b\"")],
            ),
            ("schema=ORDERS", vec![word(Some("schema"), "ORDERS")]),
            ("note=\"a = b\"", vec![word(Some("note"), "a = b")]),
            ("\"schema=ORDERS\"", vec![word(None, "schema=ORDERS")]),
            ("Schema=X", vec![word(None, "Schema=X")]),
            ("a=b=c", vec![word(Some("a"), "b=c")]),
            ("\"\"", vec![word(None, "")]),
            (
                "<@U123|ann> \\x $1",
                vec![
                    word(None, "<@U123|ann>"),
                    word(None, "\\x"),
                    word(None, "$1"),
                ],
            ),
            (
                "tab\tnew\nline",
                vec![word(None, "tab"), word(None, "new"), word(None, "line")],
            ),
        ] {
            assert_eq!(words(text).unwrap(), want, "{text:?}");
        }
        assert!(words("\"open").is_err());
        assert!(words("a=\"open").is_err());
    }

    #[test]
    fn assign_positional_and_named_and_refuse_the_rest() {
        let params: Vec<Param> = ["schema", "minutes"]
            .iter()
            .map(|name| Param {
                name: (*name).to_owned(),
                kind: ParamType::Int,
                secret: false,
            })
            .collect();
        let both = |a: &str, b: &str| {
            Ok(BTreeMap::from([
                ("minutes".to_owned(), b.to_owned()),
                ("schema".to_owned(), a.to_owned()),
            ]))
        };
        for (text, want) in [
            ("A 5", both("A", "5")),
            ("minutes=5 A", both("A", "5")),
            ("schema=A minutes=5", both("A", "5")),
            ("A minutes=5", both("A", "5")),
            ("A", Err("`minutes` is missing".to_owned())),
            ("A 5 6", Err("too many arguments".to_owned())),
            (
                "A 5 table=x",
                Err("there is no parameter `table`".to_owned()),
            ),
            (
                "schema=A schema=B 5",
                Err("`schema` is given twice".to_owned()),
            ),
            ("A schema=B", both("B", "A")),
        ] {
            assert_eq!(assign(&params, &words(text).unwrap()), want, "{text:?}");
        }
    }
}
