//! The recorded insertion order of a graph's events (`ALGORITHM.md` §16.5).

use std::collections::{BTreeSet, HashMap};

use super::model::DotGraph;
use crate::conformance::ParseError;

/// The order in which the replay inserts the events (`ALGORITHM.md` §16.5), as indices
/// into `graph.events`.
///
/// Peer order: every creator missing from the `peer_list` header (sorted byte-wise), then
/// `our_id`, then the other header names sorted byte-wise. Each peer's events are taken in
/// `(index, fork)` order. Repeatedly, the first peer (in peer order) whose next event has
/// all its parents placed places that event. Runs in `O(E log P)`.
///
/// Fails if two events share a name, a parent is not an event of the graph, or the events
/// cannot all be placed (a cycle).
pub fn recorded_order(graph: &DotGraph) -> Result<Vec<usize>, ParseError> {
    let n = graph.events.len();
    let mut by_name: HashMap<&str, usize> = HashMap::with_capacity(n);
    for (i, event) in graph.events.iter().enumerate() {
        if by_name.insert(event.name.as_str(), i).is_some() {
            return Err(ParseError::DuplicateEventName {
                name: event.name.clone(),
            });
        }
    }

    // Peer order.
    let header: BTreeSet<&str> = graph.peers.iter().map(String::as_str).collect();
    let missing: BTreeSet<&str> = graph
        .creators
        .iter()
        .map(String::as_str)
        .chain(graph.events.iter().map(|e| e.creator.as_str()))
        .filter(|c| !header.contains(c) && *c != graph.our_id)
        .collect();
    let peer_order: Vec<&str> = missing
        .into_iter()
        .chain(std::iter::once(graph.our_id.as_str()))
        .chain(header.into_iter().filter(|p| *p != graph.our_id))
        .collect();
    let peer_pos: HashMap<&str, usize> = peer_order
        .iter()
        .enumerate()
        .map(|(i, p)| (*p, i))
        .collect();

    // Each peer's events in (index, fork) order.
    let mut queues: Vec<Vec<usize>> = vec![Vec::new(); peer_order.len()];
    let mut peer_of = vec![0; n];
    for (i, event) in graph.events.iter().enumerate() {
        // Every creator is in `peer_order` by construction.
        let p = peer_pos.get(event.creator.as_str()).copied().unwrap_or(0);
        queues[p].push(i);
        peer_of[i] = p;
    }
    for queue in &mut queues {
        queue.sort_by_key(|&i| (graph.events[i].index, graph.events[i].fork));
    }

    // Unplaced-parent counts and the reverse edges.
    let mut unplaced_parents = vec![0usize; n];
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, event) in graph.events.iter().enumerate() {
        for parent in [&event.self_parent, &event.other_parent]
            .into_iter()
            .flatten()
        {
            let &p = by_name
                .get(parent.as_str())
                .ok_or_else(|| ParseError::UnknownParent {
                    child: event.name.clone(),
                    parent: parent.clone(),
                })?;
            unplaced_parents[i] += 1;
            children[p].push(i);
        }
    }

    // `ready` holds exactly the peers whose next event has all its parents placed; the
    // naive scan always picks its smallest member.
    let mut next = vec![0usize; queues.len()];
    let mut ready: BTreeSet<usize> = queues
        .iter()
        .enumerate()
        .filter(|(_, q)| q.first().is_some_and(|&e| unplaced_parents[e] == 0))
        .map(|(p, _)| p)
        .collect();
    let mut order = Vec::with_capacity(n);
    while let Some(p) = ready.pop_first() {
        let e = queues[p][next[p]];
        order.push(e);
        next[p] += 1;
        for &c in &children[e] {
            unplaced_parents[c] -= 1;
            let q = peer_of[c];
            if unplaced_parents[c] == 0 && queues[q].get(next[q]) == Some(&c) {
                ready.insert(q);
            }
        }
        if let Some(&e) = queues[p].get(next[p])
            && unplaced_parents[e] == 0
        {
            ready.insert(p);
        }
    }

    if order.len() < n {
        let blocked = queues
            .iter()
            .zip(&next)
            .filter_map(|(q, &i)| q.get(i))
            .map(|&e| graph.events[e].name.clone())
            .collect();
        return Err(ParseError::OrderStuck {
            placed: order.len(),
            total: n,
            blocked,
        });
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::dot::{SMALL, parse_dot};

    #[test]
    fn recorded_order_errors() {
        let mut g = parse_dot(SMALL).unwrap();
        g.events[0].other_parent = Some("A_2".into());
        assert!(matches!(
            recorded_order(&g),
            Err(ParseError::OrderStuck {
                placed: 1,
                total: 4,
                ..
            })
        ));
        g.events[0].other_parent = Some("Z_0".into());
        assert!(matches!(
            recorded_order(&g),
            Err(ParseError::UnknownParent { .. })
        ));
    }

    #[test]
    fn creators_missing_from_header_come_first() {
        let mut g = parse_dot(SMALL).unwrap();
        g.peers.retain(|p| p != "Bob");
        // Bob is now missing from the header, so B_0 is placed first.
        assert_eq!(recorded_order(&g).unwrap(), [3, 0, 1, 2]);
    }
}
