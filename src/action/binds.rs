//! Finding the binds an action's SQL uses, without a database, so that `dbalert check` can say
//! which one has no parameter: `:name` on SQLite and Oracle, `$n` on PostgreSQL. String
//! literals, quoted identifiers, comments, PostgreSQL's `::` casts and dollar quoting, and
//! PL/SQL's `:=` are skipped, as the databases' own parsers skip them.

/// One bind as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// `:name`, lower-cased (SQLite and Oracle).
    Named(String),
    /// `$n` (PostgreSQL).
    Position(usize),
}

/// The binds `sql` uses, in order of appearance, each once.
pub fn binds(sql: &str) -> Vec<Found> {
    let chars: Vec<char> = sql.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    let mut add = |bind: Found| {
        if !found.contains(&bind) {
            found.push(bind);
        }
    };
    while i < chars.len() {
        let rest = &chars[i..];
        i += match rest {
            ['\'', ..] => skip_quoted(rest, '\''),
            ['"', ..] => skip_quoted(rest, '"'),
            ['-', '-', ..] => rest.iter().position(|c| *c == '\n').unwrap_or(rest.len()),
            ['/', '*', ..] => find(&rest[2..], &['*', '/']).map_or(rest.len(), |end| end + 4),
            [':', ':', ..] | [':', '=', ..] => 2,
            [':', first, ..] if first.is_alphanumeric() || *first == '_' => {
                let len = word_len(&rest[1..]);
                add(Found::Named(
                    rest[1..=len].iter().collect::<String>().to_lowercase(),
                ));
                len + 1
            }
            ['$', digit, ..] if digit.is_ascii_digit() => {
                let len = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
                let text: String = rest[1..=len].iter().collect();
                add(Found::Position(text.parse().unwrap_or(usize::MAX)));
                len + 1
            }
            ['$', ..] => skip_dollar_quoted(rest),
            _ => 1,
        };
    }
    found
}

fn word_len(chars: &[char]) -> usize {
    chars
        .iter()
        .take_while(|c| c.is_alphanumeric() || matches!(c, '_' | '$' | '#'))
        .count()
}

/// The length of a literal opened by `quote`, a doubled quote standing for one.
fn skip_quoted(chars: &[char], quote: char) -> usize {
    let mut i = 1;
    while i < chars.len() {
        if chars[i] == quote {
            if chars.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    chars.len()
}

/// PostgreSQL's `$tag$ … $tag$` (or `$$ … $$`); a lone `$` is one character.
fn skip_dollar_quoted(chars: &[char]) -> usize {
    let tag_len = chars[1..]
        .iter()
        .take_while(|c| c.is_alphanumeric() || **c == '_')
        .count();
    if chars.get(tag_len + 1) != Some(&'$') {
        return 1;
    }
    let tag = &chars[..tag_len + 2];
    let body = &chars[tag.len()..];
    find(body, tag).map_or(chars.len(), |end| tag.len() + end + tag.len())
}

fn find(haystack: &[char], needle: &[char]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(names: &[&str]) -> Vec<Found> {
        names
            .iter()
            .map(|n| Found::Named((*n).to_owned()))
            .collect()
    }

    #[test]
    fn finds_binds_and_skips_what_is_not_one() {
        for (sql, want) in [
            (
                "select * from t where a = :a and b = :B",
                named(&["a", "b"]),
            ),
            ("select ':no', \":no\" from t where x = :x", named(&["x"])),
            (
                "select 'it''s :no' from t -- :no\n where y = :y",
                named(&["y"]),
            ),
            ("/* :no */ begin v := :v; end;", named(&["v"])),
            (
                "select x::text from t where a = :a and a = :a",
                named(&["a"]),
            ),
            ("select 1 where 'x' = 'y", vec![]),
        ] {
            assert_eq!(binds(sql), want, "{sql}");
        }
    }

    #[test]
    fn finds_positions_and_skips_dollar_quotes() {
        assert_eq!(
            binds("select $1, $$ $9 $$, $x$ $8 $x$ where a = $2 and b = $1"),
            vec![Found::Position(1), Found::Position(2)]
        );
    }
}
