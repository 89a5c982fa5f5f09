//! Readers for the two details lines of an event: `/// cause: …` and
//! `/// last_ancestors: {…}`.

use std::collections::BTreeMap;

use super::model::{DotCause, DotObservation};
use super::syntax::{parse_digits, split_top_level};

/// `HEAD(INNER)` → `INNER` (the text between the first `(` and the last `)`).
fn strip_call<'a>(s: &'a str, head: &str) -> Option<&'a str> {
    s.strip_prefix(head)?
        .trim_start()
        .strip_prefix('(')?
        .strip_suffix(')')
}

/// `HEAD { FIELDS }` → `FIELDS`.
fn strip_struct<'a>(s: &'a str, head: &str) -> Option<&'a str> {
    s.strip_prefix(head)?
        .trim_start()
        .strip_prefix('{')?
        .strip_suffix('}')
}

/// The value of the field `key` in `key: value, …`.
fn struct_field<'a>(fields: &'a str, key: &str) -> Option<&'a str> {
    split_top_level(fields).into_iter().find_map(|part| {
        let (k, v) = part.split_once(':')?;
        (k.trim() == key).then_some(v.trim())
    })
}

/// A non-empty name without surrounding whitespace.
fn name(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

/// A `cause` as recorded (`Initial`, `Requesting(Bob)`, `Observation(…)`, …).
pub(super) fn parse_cause(s: &str) -> Option<DotCause> {
    match s {
        "Initial" => return Some(DotCause::Initial),
        "Request" => return Some(DotCause::Request),
        "Response" => return Some(DotCause::Response),
        _ => {}
    }
    if let Some(peer) = strip_call(s, "Requesting") {
        return name(peer).map(DotCause::Requesting);
    }
    let obs = strip_call(s, "Observation")?.trim();
    parse_observation(obs).map(DotCause::Observation)
}

fn parse_observation(s: &str) -> Option<DotObservation> {
    if let Some(text) = strip_call(s, "OpaquePayload") {
        return Some(DotObservation::OpaquePayload(text.to_owned()));
    }
    if let Some(group) = strip_call(s, "Genesis") {
        return parse_name_set(group).map(DotObservation::Genesis);
    }
    if let Some(fields) = strip_struct(s, "Genesis") {
        return parse_name_set(struct_field(fields, "group")?).map(DotObservation::Genesis);
    }
    for (head, make) in [
        ("Add", DotObservation::Add as fn(String) -> DotObservation),
        ("Remove", DotObservation::Remove),
    ] {
        if let Some(peer) = strip_call(s, head) {
            return name(peer).map(make);
        }
        if let Some(fields) = strip_struct(s, head) {
            return name(struct_field(fields, "peer_id")?).map(make);
        }
    }
    if let Some(fields) = strip_struct(s, "Accusation") {
        let parts = split_top_level(fields);
        let [offender, malice] = <[&str; 2]>::try_from(parts).ok()?;
        let offender = offender.trim();
        let offender = offender.strip_prefix("offender:").unwrap_or(offender);
        let malice = malice.trim();
        let malice = malice.strip_prefix("malice:").unwrap_or(malice);
        return Some(DotObservation::Accusation {
            offender: name(offender)?,
            malice: name(malice)?,
        });
    }
    None
}

/// `{A, B, …}` → the names as written; `{}` → no names.
fn parse_name_set(s: &str) -> Option<Vec<String>> {
    let inner = s.trim().strip_prefix('{')?.strip_suffix('}')?;
    if inner.trim().is_empty() {
        return Some(Vec::new());
    }
    split_top_level(inner).into_iter().map(name).collect()
}

/// `{Alice: 2, Carol: 2}` → the map; `{}` → empty.
pub(super) fn parse_last_ancestors(s: &str) -> Option<BTreeMap<String, u64>> {
    let inner = s.strip_prefix('{')?.strip_suffix('}')?;
    let mut map = BTreeMap::new();
    if inner.trim().is_empty() {
        return Some(map);
    }
    for part in inner.split(',') {
        let (peer, index) = part.rsplit_once(':')?;
        let index = parse_digits::<u64>(index.trim())?;
        if map.insert(name(peer)?, index).is_some() {
            return None;
        }
    }
    Some(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes() {
        use DotObservation::*;
        let obs = |s: &str| match parse_cause(s) {
            Some(DotCause::Observation(o)) => Some(o),
            _ => None,
        };
        assert_eq!(parse_cause("Initial"), Some(DotCause::Initial));
        assert_eq!(parse_cause("Request"), Some(DotCause::Request));
        assert_eq!(parse_cause("Response"), Some(DotCause::Response));
        assert_eq!(
            parse_cause("Requesting(Bob)"),
            Some(DotCause::Requesting("Bob".into()))
        );
        assert_eq!(
            obs("Observation(Genesis({Alice, Bob, 10}))"),
            Some(Genesis(vec!["Alice".into(), "Bob".into(), "10".into()]))
        );
        assert_eq!(obs("Observation(Genesis({}))"), Some(Genesis(vec![])));
        assert_eq!(
            obs("Observation(Genesis{group: {B, A}, related_info: []})"),
            Some(Genesis(vec!["B".into(), "A".into()]))
        );
        assert_eq!(obs("Observation(Add(Dave))"), Some(Add("Dave".into())));
        assert_eq!(
            obs("Observation(Remove(Eric))"),
            Some(Remove("Eric".into()))
        );
        assert_eq!(
            obs("Observation(Add{peer_id: Fred, related_info: []})"),
            Some(Add("Fred".into()))
        );
        assert_eq!(
            obs("Observation(Add { peer_id: Fred, related_info: [1, 2] })"),
            Some(Add("Fred".into()))
        );
        assert_eq!(
            obs("Observation(Remove{related_info: [], peer_id: Eric})"),
            Some(Remove("Eric".into()))
        );
        assert_eq!(
            obs("Observation(OpaquePayload(12))"),
            Some(OpaquePayload("12".into()))
        );
        assert_eq!(
            obs("Observation(Accusation { Bob, Fork(B_3) })"),
            Some(Accusation {
                offender: "Bob".into(),
                malice: "Fork(B_3)".into()
            })
        );
        assert_eq!(
            obs("Observation(Accusation { offender: Bob, malice: InvalidAccusation(B_3) })"),
            Some(Accusation {
                offender: "Bob".into(),
                malice: "InvalidAccusation(B_3)".into()
            })
        );
        for bad in [
            "",
            "Initial(",
            "Requesting()",
            "Requesting(Bob",
            "Observation(Add())",
            "Observation(Add{related_info: []})",
            "Observation(Genesis({A, , B}))",
            "Observation(Genesis(A, B))",
            "Observation(Frobnicate(1))",
            "Observation(Accusation { Bob })",
            "Observation",
        ] {
            assert_eq!(parse_cause(bad), None, "{bad}");
        }
    }

    #[test]
    fn last_ancestors_maps() {
        assert_eq!(parse_last_ancestors("{}"), Some(BTreeMap::new()));
        assert_eq!(
            parse_last_ancestors("{0: 3, Bob: 12}"),
            Some(BTreeMap::from([
                ("0".to_owned(), 3),
                ("Bob".to_owned(), 12)
            ]))
        );
        for bad in [
            "",
            "{",
            "{Bob}",
            "{Bob: x}",
            "{Bob: 1, Bob: 2}",
            "{: 1}",
            "Bob: 1",
        ] {
            assert_eq!(parse_last_ancestors(bad), None, "{bad}");
        }
    }
}
