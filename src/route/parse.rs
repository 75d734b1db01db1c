//! The text syntax of matchers, as written in `matchers:` lists and on the `routes test`
//! command line.
//!
//! Alertmanager has two parsers and, by default, uses both (`matcher/compat/parse.go`, the
//! "fallback" mode): it tries the UTF-8 parser (`matcher/parse`) and the classic one
//! (`pkg/labels/parse.go`), and when both succeed but disagree, or only the classic one
//! succeeds, the classic result wins. So the result is the classic parser's whenever it
//! succeeds, else the UTF-8 parser's; [`matchers`] does exactly that.
//!
//! - **classic**: `name op value` with the name `[a-zA-Z_:][a-zA-Z0-9_:]*`, the value optionally
//!   in double quotes with OpenMetrics escapes (`\"`, `\n`, `\\`; any other `\x` stays as
//!   written), matchers split on commas outside quotes, an optional `{`…`}` around them and one
//!   trailing comma allowed.
//! - **UTF-8**: names and values are either unquoted (no whitespace and none of
//!   `` {}!=~,\"'` ``) or double-quoted Go strings (`"\\d+"`, `"\xf0\x9f\x99\x82"`); a value is
//!   required; optional braces and one trailing comma.

use super::matcher::{MatchOp, Matcher, MatcherError, is_reserved};

/// Parses one entry of a `matchers:` list: zero or more comma-separated matchers, with
/// Alertmanager's fallback from the UTF-8 syntax to the classic one.
pub fn matchers(input: &str) -> Result<Vec<Matcher>, MatcherError> {
    let classic = match classic::matchers(input) {
        Ok(found) => return Ok(found),
        Err(err) => err,
    };
    match utf8::matchers(input) {
        Ok(found) => Ok(found),
        Err(utf8) => Err(most_useful(classic, utf8)),
    }
}

/// Parses exactly one matcher, as `amtool` does for each `LABEL=VALUE` argument (braces are
/// refused there).
pub fn matcher(input: &str) -> Result<Matcher, MatcherError> {
    if input.starts_with('{') || input.ends_with('}') {
        return Err(MatcherError::Syntax(
            "unexpected `{` or `}`: give one matcher without braces".into(),
        ));
    }
    let classic = match classic::matcher(input) {
        Ok(found) => return Ok(found),
        Err(err) => err,
    };
    let utf8 = utf8::matchers(input).and_then(|mut found| match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(MatcherError::Syntax("no matcher given".into())),
        n => Err(MatcherError::Syntax(format!(
            "expected one matcher, found {n}"
        ))),
    });
    utf8.map_err(|utf8| most_useful(classic, utf8))
}

/// When both parsers fail: a regex error is the real problem whichever parser saw it; otherwise
/// the UTF-8 parser's message, which says where the input went wrong.
fn most_useful(classic: MatcherError, utf8: MatcherError) -> MatcherError {
    match classic {
        MatcherError::Regex { .. } => classic,
        MatcherError::Syntax(_) => utf8,
    }
}

/// Go's `\s` in RE2, which the classic parser's expression uses.
fn is_go_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{c}' | '\r')
}

fn op_from(text: &str) -> Option<(MatchOp, usize)> {
    // `=~` before `=`, as in the classic parser's alternation.
    [
        ("=~", MatchOp::Regex),
        ("=", MatchOp::Equal),
        ("!=", MatchOp::NotEqual),
        ("!~", MatchOp::NotRegex),
    ]
    .into_iter()
    .find(|(written, _)| text.starts_with(written))
    .map(|(written, op)| (op, written.len()))
}

mod classic {
    use super::*;

    pub fn matchers(input: &str) -> Result<Vec<Matcher>, MatcherError> {
        let input = input.strip_prefix('{').unwrap_or(input);
        let input = input.strip_suffix('}').unwrap_or(input);
        let mut tokens = Vec::new();
        let mut token = String::new();
        let (mut inside_quotes, mut escaped) = (false, false);
        for c in input.chars() {
            match c {
                ',' if !inside_quotes => {
                    tokens.push(std::mem::take(&mut token));
                    continue;
                }
                ',' => {}
                '"' if escaped => escaped = false,
                '"' => inside_quotes = !inside_quotes,
                '\\' => escaped = !escaped,
                _ => escaped = false,
            }
            token.push(c);
        }
        // A trailing comma (and whitespace after it) is allowed; an empty token before is not.
        let last = token.trim();
        if !last.is_empty() {
            tokens.push(last.to_owned());
        }
        tokens.iter().map(|t| matcher(t)).collect()
    }

    pub fn matcher(input: &str) -> Result<Matcher, MatcherError> {
        let bad = || MatcherError::Syntax(format!("bad matcher format: {input}"));
        let rest = input.trim_start_matches(is_go_space);
        let name_len = rest
            .char_indices()
            .find(|&(i, c)| {
                let ok = c.is_ascii_alphabetic() || c == '_' || c == ':';
                !(ok || (i > 0 && c.is_ascii_digit()))
            })
            .map_or(rest.len(), |(i, _)| i);
        if name_len == 0 {
            return Err(bad());
        }
        let name = &rest[..name_len];
        let rest = rest[name_len..].trim_start_matches(is_go_space);
        let (op, op_len) = op_from(rest).ok_or_else(bad)?;
        let raw = rest[op_len..]
            .trim_start_matches(is_go_space)
            .trim_end_matches(is_go_space);
        Matcher::new(op, name, unescape(raw)?)
    }

    /// OpenMetrics unescaping, tolerant as Alertmanager's: `\"`, `\n` and `\\` are escapes, any
    /// other backslash is literal, and a double quote may only open and close the value.
    fn unescape(raw: &str) -> Result<String, MatcherError> {
        let unescaped_quote = || {
            MatcherError::Syntax(format!(
                "matcher value contains unescaped double quote: {raw}"
            ))
        };
        let (body, mut expect_close) = match raw.strip_prefix('"') {
            Some(body) => (body, true),
            None => (raw, false),
        };
        let mut value = String::with_capacity(body.len());
        let mut escaped = false;
        for (i, c) in body.char_indices() {
            let last = i + c.len_utf8() == body.len();
            if escaped {
                escaped = false;
                match c {
                    'n' => value.push('\n'),
                    '"' | '\\' => value.push(c),
                    _ => {
                        value.push('\\');
                        value.push(c);
                    }
                }
                continue;
            }
            match c {
                '\\' if !last => escaped = true,
                '"' if expect_close && last => expect_close = false,
                '"' => return Err(unescaped_quote()),
                _ => value.push(c),
            }
        }
        if expect_close {
            return Err(unescaped_quote());
        }
        Ok(value)
    }
}

mod utf8 {
    use super::*;

    #[derive(Debug, Clone, PartialEq)]
    enum Token {
        Open,
        Close,
        Comma,
        Op(MatchOp),
        Quoted(String),
        Unquoted(String),
    }

    impl Token {
        fn describe(&self) -> String {
            match self {
                Token::Open => "`{`".into(),
                Token::Close => "`}`".into(),
                Token::Comma => "`,`".into(),
                Token::Op(op) => format!("`{}`", op.as_str()),
                Token::Quoted(text) | Token::Unquoted(text) => format!("`{text}`"),
            }
        }
    }

    /// A token and the column (counted in characters from 1) where it starts.
    type Located = (Token, usize);

    fn syntax(column: usize, message: impl std::fmt::Display) -> MatcherError {
        MatcherError::Syntax(format!("at column {column}: {message}"))
    }

    fn lex(input: &str) -> Result<Vec<Located>, MatcherError> {
        let chars: Vec<char> = input.chars().collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let column = i + 1;
            let c = chars[i];
            let token = match c {
                '{' => Token::Open,
                '}' => Token::Close,
                ',' => Token::Comma,
                '=' if chars.get(i + 1) == Some(&'~') => {
                    i += 1;
                    Token::Op(MatchOp::Regex)
                }
                '=' => Token::Op(MatchOp::Equal),
                '!' => {
                    i += 1;
                    match chars.get(i) {
                        Some('=') => Token::Op(MatchOp::NotEqual),
                        Some('~') => Token::Op(MatchOp::NotRegex),
                        _ => return Err(syntax(column, "`!` must be followed by `=` or `~`")),
                    }
                }
                '"' => {
                    let start = i;
                    i += 1;
                    let mut escaped = false;
                    while i < chars.len() && (escaped || chars[i] != '"') {
                        escaped = !escaped && chars[i] == '\\';
                        i += 1;
                    }
                    if i == chars.len() {
                        return Err(syntax(column, "missing closing `\"`"));
                    }
                    Token::Quoted(chars[start..=i].iter().collect())
                }
                c if c.is_whitespace() => {
                    i += 1;
                    continue;
                }
                c if !is_reserved(c) => {
                    let start = i;
                    while i + 1 < chars.len() && !is_reserved(chars[i + 1]) {
                        i += 1;
                    }
                    Token::Unquoted(chars[start..=i].iter().collect())
                }
                '~' => {
                    return Err(syntax(column, "`~` is not an operator; write `=~` or `!~`"));
                }
                c => {
                    return Err(syntax(
                        column,
                        format!("`{c}` is only allowed inside double quotes"),
                    ));
                }
            };
            tokens.push((token, column));
            i += 1;
        }
        Ok(tokens)
    }

    /// The text of a name or value token: unquoted as is, quoted as a Go string literal.
    fn text(token: &Located) -> Result<Option<String>, MatcherError> {
        match &token.0 {
            Token::Unquoted(text) => Ok(Some(text.clone())),
            Token::Quoted(text) => unquote(text)
                .map(Some)
                .map_err(|reason| syntax(token.1, format!("{text}: {reason}"))),
            _ => Ok(None),
        }
    }

    pub fn matchers(input: &str) -> Result<Vec<Matcher>, MatcherError> {
        let tokens = lex(input)?;
        let end = input.chars().count() + 1;
        let mut at = 0;
        let braced = tokens.first().is_some_and(|t| t.0 == Token::Open);
        if braced {
            at = 1;
        }
        let mut found = Vec::new();
        loop {
            match tokens.get(at) {
                Some((Token::Close, column)) if !braced => {
                    return Err(syntax(*column, "`}` without an opening `{`"));
                }
                Some((Token::Close, _)) => {
                    at += 1;
                    break;
                }
                None if braced => return Err(syntax(end, "missing closing `}`")),
                None => break,
                Some(_) => {}
            }
            found.push(one(&tokens, &mut at, end)?);
            match tokens.get(at) {
                Some((Token::Comma, _)) => at += 1,
                Some((Token::Close, _)) | None => {}
                Some((token, column)) => {
                    return Err(syntax(
                        *column,
                        format!("expected `,` or `}}`, found {}", token.describe()),
                    ));
                }
            }
        }
        if let Some((token, column)) = tokens.get(at) {
            return Err(syntax(
                *column,
                format!("expected the end, found {}", token.describe()),
            ));
        }
        Ok(found)
    }

    /// Reads `name op value` at `tokens[*at]`.
    fn one(tokens: &[Located], at: &mut usize, end: usize) -> Result<Matcher, MatcherError> {
        let mut next = |what: &str| -> Result<&Located, MatcherError> {
            let token = tokens
                .get(*at)
                .ok_or_else(|| syntax(end, format!("unexpected end, expected {what}")))?;
            *at += 1;
            Ok(token)
        };
        let unexpected = |(token, column): &Located, what: &str| {
            syntax(
                *column,
                format!("expected {what}, found {}", token.describe()),
            )
        };
        let token = next("a label name")?;
        let name = text(token)?.ok_or_else(|| unexpected(token, "a label name"))?;
        let token = next("an operator (=, !=, =~ or !~)")?;
        let Token::Op(op) = token.0 else {
            return Err(unexpected(token, "an operator (=, !=, =~ or !~)"));
        };
        let token = next("a value (write \"\" for an empty one)")?;
        let value = text(token)?.ok_or_else(|| unexpected(token, "a value"))?;
        Matcher::new(op, name, value)
    }

    /// Go's `strconv.Unquote` for a double-quoted literal, then a UTF-8 check, as the UTF-8
    /// parser does.
    fn unquote(quoted: &str) -> Result<String, String> {
        let body = &quoted[1..quoted.len() - 1];
        let mut bytes = Vec::with_capacity(body.len());
        let mut chars = body.chars();
        while let Some(c) = chars.next() {
            match c {
                '\n' => return Err("a line break must be written `\\n`".into()),
                '\\' => {}
                c => {
                    let mut buf = [0; 4];
                    bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    continue;
                }
            }
            let escape = chars.next().ok_or("unfinished escape")?;
            let simple = match escape {
                'a' => Some(b'\x07'),
                'b' => Some(b'\x08'),
                'f' => Some(b'\x0c'),
                'n' => Some(b'\n'),
                'r' => Some(b'\r'),
                't' => Some(b'\t'),
                'v' => Some(b'\x0b'),
                '\\' => Some(b'\\'),
                '"' => Some(b'"'),
                _ => None,
            };
            if let Some(byte) = simple {
                bytes.push(byte);
                continue;
            }
            let mut digits = |n: usize, radix: u32| -> Result<u32, String> {
                let text: String = chars.by_ref().take(n).collect();
                if text.chars().count() != n {
                    return Err(format!("unfinished escape `\\{escape}{text}`"));
                }
                u32::from_str_radix(&text, radix)
                    .map_err(|_| format!("invalid escape `\\{escape}{text}`"))
            };
            match escape {
                'x' => bytes.push(digits(2, 16)? as u8),
                '0'..='7' => {
                    let rest = digits(2, 8)?;
                    let value = escape.to_digit(8).expect("an octal digit") * 64 + rest;
                    bytes.push(u8::try_from(value).map_err(|_| "octal escape above \\377")?);
                }
                'u' | 'U' => {
                    let code = digits(if escape == 'u' { 4 } else { 8 }, 16)?;
                    let c = char::from_u32(code)
                        .ok_or_else(|| format!("`{code:x}` is not a Unicode character"))?;
                    let mut buf = [0; 4];
                    bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                other => return Err(format!("unknown escape `\\{other}`")),
            }
        }
        String::from_utf8(bytes).map_err(|_| "the escapes do not form valid UTF-8".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses and prints each matcher as `name op value` with the value raw, so that cases
    /// read plainly.
    fn parsed(input: &str) -> Result<Vec<String>, String> {
        matchers(input)
            .map(|found| {
                found
                    .iter()
                    .map(|m| format!("{}{}{}", m.name(), m.op().as_str(), m.value()))
                    .collect()
            })
            .map_err(|err| err.to_string())
    }

    #[test]
    fn parses_what_alertmanager_accepts() {
        let cases: &[(&str, &[&str])] = &[
            // every operator, quoted or not, with spaces around
            ("foo=bar", &["foo=bar"]),
            ("foo!=bar", &["foo!=bar"]),
            ("foo=~bar", &["foo=~bar"]),
            ("foo!~bar", &["foo!~bar"]),
            (r#"foo = "bar""#, &["foo=bar"]),
            (r#"  foo  !~  "b.*"  "#, &["foo!~b.*"]),
            // several per string, braces optional, one trailing comma allowed
            (
                r#"{foo="bar", dings!="bums", }"#,
                &["foo=bar", "dings!=bums"],
            ),
            ("foo=bar,dings!=bums", &["foo=bar", "dings!=bums"]),
            (r#"{owner="team-A"}"#, &["owner=team-A"]),
            // commas and braces inside quotes are text
            (r#"msg="a,b}""#, &["msg=a,b}"]),
            // escapes: OpenMetrics in both parsers
            (
                r#"quote="She said: \"Hi, ladies!\"""#,
                &[r#"quote=She said: "Hi, ladies!""#],
            ),
            (r#"path="C:\\temp""#, &[r"path=C:\temp"]),
            (r#"text="a\nb""#, &["text=a\nb"]),
            // the classic parser wins and keeps an unknown escape as written
            (r#"re=~"\d+""#, &[r"re=~\d+"]),
            (r#"tab="\t""#, &[r"tab=\t"]),
            // the classic parser allows an empty or unquoted value with spaces
            ("foo=", &["foo="]),
            ("foo=bar baz", &["foo=bar baz"]),
            (r#"env=~"prod|staging""#, &["env=~prod|staging"]),
            // UTF-8 only: names outside the classic charset, quoted names, Go escapes
            ("Προμηθεύς=x", &["Προμηθεύς=x"]),
            (r#""my label"="x""#, &["my label=x"]),
            (
                r#""emoji"="\xf0\x9f\x99\x82",bar="\\w""#,
                &["emoji=🙂", r"bar=\w"],
            ),
            // when both parse but disagree, the classic reading wins
            (r#"foo="\xf0""#, &[r"foo=\xf0"]),
            ("foo==bar", &["foo==bar"]),
            ("{foo=bar", &["foo=bar"]),
            (r#"{"a b"=~"x|y", c!=""}"#, &["a b=~x|y", "c!="]),
            // nothing at all is no matcher, in either form
            ("", &[]),
            ("{}", &[]),
        ];
        for (input, expected) in cases {
            let expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
            assert_eq!(parsed(input), Ok(expected), "{input}");
        }
    }

    #[test]
    fn rejects_malformed_matchers_with_a_reason() {
        let cases = [
            ("foo", "expected an operator"),
            ("=bar", "expected a label name"),
            ("foo=bar,,baz=1", "expected a label name"),
            (r#"foo="bar"#, "missing closing `\"`"),
            (r#"foo="b" bar"#, "expected `,` or `}`, found `bar`"),
            (r#"{"a b"=x"#, "missing closing `}`"),
            (r#""a b"=x}"#, "`}` without an opening `{`"),
            ("foo!bar", "`!` must be followed by `=` or `~`"),
            (r#""a b"=~"x\q""#, "unknown escape `\\q`"),
            (r#""a b"="\xff""#, "valid UTF-8"),
        ];
        for (input, reason) in cases {
            let err = parsed(input).unwrap_err();
            assert!(err.contains(reason), "{input}: {err}");
        }
    }

    #[test]
    fn a_bad_regex_is_reported_whichever_parser_saw_it() {
        assert_eq!(
            parsed(r#"owner=~"ORDERS(""#).unwrap_err(),
            "`ORDERS(` is not a valid regular expression: unclosed group"
        );
        assert_eq!(
            parsed(r#""my owner"=~"[z-a]""#).unwrap_err(),
            "`[z-a]` is not a valid regular expression: invalid character class range, the start must be <= the end"
        );
    }

    #[test]
    fn parses_one_label_argument_like_amtool() {
        let one = |input: &str| {
            matcher(input).map(|m| (m.name().to_owned(), m.op(), m.value().to_owned()))
        };
        assert_eq!(
            one("owner=ORDERS"),
            Ok(("owner".into(), MatchOp::Equal, "ORDERS".into()))
        );
        assert_eq!(
            one(r#"msg="a, b""#),
            Ok(("msg".into(), MatchOp::Equal, "a, b".into()))
        );
        // a comma is part of the value, as with amtool's classic parse
        assert_eq!(
            one("msg=a,b"),
            Ok(("msg".into(), MatchOp::Equal, "a,b".into()))
        );
        assert_eq!(
            one("message=ORA-00060: deadlock detected"),
            Ok((
                "message".into(),
                MatchOp::Equal,
                "ORA-00060: deadlock detected".into()
            ))
        );
        assert!(one("{a=b}").is_err());
        assert!(one("nothing").is_err());
    }
}
