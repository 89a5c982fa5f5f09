//! The lexical layer of the Graphviz text: quoted ids, one-line statements, commas at the
//! top level, digits and event names.

/// Splits an event name `PREFIX_INDEX` or `PREFIX_INDEX,FORK` at its first `_` and returns
/// `(INDEX, FORK)` (`FORK` defaults to 0), or `None` if the name has another shape.
///
/// The prefix is only a label and may be longer than one letter (`PublicIdnamef_0`).
pub fn split_event_name(name: &str) -> Option<(u64, u32)> {
    let (prefix, rest) = name.split_once('_')?;
    if prefix.is_empty() {
        return None;
    }
    let (index, fork) = match rest.split_once(',') {
        Some((index, fork)) => (index, Some(fork)),
        None => (rest, None),
    };
    let index = parse_digits::<u64>(index)?;
    let fork = match fork {
        Some(fork) => parse_digits::<u32>(fork)?,
        None => 0,
    };
    Some((index, fork))
}

/// Parses a non-empty run of ASCII digits (no sign, no spaces).
pub(super) fn parse_digits<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A node or edge statement: `"A" [attrs]` or `"A" -> "B" -> … [attrs]`.
pub(super) struct Statement {
    /// The quoted ids, in order: one for a node, two or more for an edge chain.
    pub(super) ids: Vec<String>,
    /// The `key=value` attributes of an edge statement, values unquoted.
    pub(super) attrs: Vec<(String, String)>,
}

/// Parses a one-line statement made of quoted ids. For a node statement (one id) the
/// attributes are not parsed.
pub(super) fn parse_statement(t: &str) -> Option<Statement> {
    let (first, mut rest) = parse_quoted(t)?;
    let mut ids = vec![first];
    loop {
        let trimmed = rest.trim_start();
        let Some(after) = trimmed.strip_prefix("->") else {
            rest = trimmed;
            break;
        };
        let (id, r) = parse_quoted(after.trim_start())?;
        ids.push(id);
        rest = r;
    }
    if ids.len() == 1 {
        return Some(Statement {
            ids,
            attrs: Vec::new(),
        });
    }
    let rest = rest.trim_end().trim_end_matches(';').trim_end();
    let attrs = if rest.is_empty() {
        Vec::new()
    } else {
        let inner = rest.strip_prefix('[')?.strip_suffix(']')?;
        let mut attrs = Vec::new();
        for part in split_top_level(inner) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let (key, value) = part.split_once('=')?;
            let value = value.trim();
            let value = match parse_quoted(value) {
                Some((v, r)) if r.trim().is_empty() => v,
                Some(_) => return None,
                None => value.to_owned(),
            };
            attrs.push((key.trim().to_owned(), value));
        }
        attrs
    };
    Some(Statement { ids, attrs })
}

/// Parses a double-quoted string at the start of `s` (after optional whitespace);
/// returns its unescaped contents and the rest of `s`.
pub(super) fn parse_quoted(s: &str) -> Option<(String, &str)> {
    let body = s.trim_start().strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &body[i + 1..])),
            '\\' => match chars.next() {
                Some((_, '"')) => out.push('"'),
                Some((_, other)) => {
                    out.push('\\');
                    out.push(other);
                }
                None => return None,
            },
            _ => out.push(c),
        }
    }
    None
}

/// Splits `s` at the commas that are outside brackets, braces, parentheses and quotes.
pub(super) fn split_top_level(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut in_quotes = false;
    let mut escaped = false;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        if in_quotes {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_quotes = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_quotes = true,
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_names() {
        assert_eq!(split_event_name("PublicIdnamef_0"), Some((0, 0)));
        assert_eq!(split_event_name("C_2,1"), Some((2, 1)));
        assert_eq!(split_event_name("A_17"), Some((17, 0)));
        assert_eq!(split_event_name("B_3,0"), Some((3, 0)));
        for bad in [
            "A", "A_", "_3", "A_x", "A_1,", "A_1,x", "A_+1", "A_1_2", "A_ 1", "A_1,-1",
        ] {
            assert_eq!(split_event_name(bad), None, "{bad}");
        }
    }
}
