//! Parser for the expected-blocks files (`expected/NAME.txt`): the groups the original
//! decides when a recorded graph is replayed (`ALGORITHM.md` §16.8).
//!
//! A file is a sequence of groups, each introduced by `== group N` (`N` counting from 1),
//! followed by one payload per line in its `Debug` form (`Genesis({Alice, Bob})`,
//! `OpaquePayload(3)`, `Add(Dave)`, `Remove(Bob)`). An empty file means no decision at all.

use super::ParseError;

/// The prefix of a group header line.
const GROUP_PREFIX: &str = "== group";

/// Parses an expected-blocks file into its groups, in order; each payload line is kept
/// verbatim (trimmed). Blank lines are ignored.
///
/// Errors on a payload before the first group header and on a group header whose number
/// is not the next one. A header followed directly by another header gives an empty group
/// (the corpus has none).
pub fn parse_expected(text: &str) -> Result<Vec<Vec<String>>, ParseError> {
    let mut groups: Vec<Vec<String>> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let t = raw.trim();
        if t.is_empty() {
            continue;
        }
        if let Some(number) = t.strip_prefix(GROUP_PREFIX) {
            let expected = groups.len() + 1;
            if number.trim().parse::<usize>().ok() != Some(expected) || !number.starts_with(' ') {
                return Err(ParseError::BadGroupHeader {
                    line,
                    expected,
                    text: t.to_owned(),
                });
            }
            groups.push(Vec::new());
            continue;
        }
        match groups.last_mut() {
            Some(group) => group.push(t.to_owned()),
            None => {
                return Err(ParseError::PayloadOutsideGroup {
                    line,
                    text: t.to_owned(),
                });
            }
        }
    }
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups() {
        let text = "== group 1\nGenesis({Alice, Bob})\n== group 2\n  OpaquePayload(1)  \r\n\
                    Add(Dave)\n\n== group 3\nRemove(Bob)\n";
        assert_eq!(
            parse_expected(text).unwrap(),
            vec![
                vec!["Genesis({Alice, Bob})".to_owned()],
                vec!["OpaquePayload(1)".to_owned(), "Add(Dave)".to_owned()],
                vec!["Remove(Bob)".to_owned()],
            ]
        );
    }

    #[test]
    fn empty_file_has_no_groups() {
        assert_eq!(parse_expected("").unwrap(), Vec::<Vec<String>>::new());
        assert_eq!(parse_expected("\n\n").unwrap(), Vec::<Vec<String>>::new());
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse_expected("Add(Dave)\n"),
            Err(ParseError::PayloadOutsideGroup {
                line: 1,
                text: "Add(Dave)".into()
            })
        );
        assert_eq!(
            parse_expected("== group 1\nAdd(Dave)\n== group 3\n"),
            Err(ParseError::BadGroupHeader {
                line: 3,
                expected: 2,
                text: "== group 3".into()
            })
        );
        for bad in ["== group x", "== group", "== group1", "== group -1"] {
            assert!(parse_expected(bad).is_err(), "{bad}");
        }
    }
}
