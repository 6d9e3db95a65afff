//! A per-key linearizability checker for STRONG tables (Wing & Gong's
//! search, with the memoisation of Lowe's "Testing for linearizability"
//! as Porcupine runs it).
//!
//! A drill records every operation on one key of a STRONG table: its
//! invocation and completion times (virtual time under simulation) and
//! what the client saw. The key is linearizable when some total order of
//! the operations (i) respects real time: an operation that completed
//! before another was invoked comes first, and (ii) explains every answer
//! when the operations are applied one at a time to a single copy of the
//! item. Keys are independent (a register per key), so each is checked on
//! its own, which is what keeps the search small (Herlihy & Wing's
//! locality).
//!
//! Outcomes:
//! - [`Outcome::Ok`]: the write took effect, once, between invocation and
//!   completion.
//! - [`Outcome::Refused`]: it definitely did not take effect
//!   (`ReplicatedWriteConflictException`, or a majority never reached
//!   with the write never placed): left out of the search.
//! - [`Outcome::ConditionFailed`]: the condition was evaluated against the
//!   latest state and did not hold: an observation, like a read, that the
//!   item was not what the condition expected at some instant inside the
//!   window.
//! - [`Outcome::Unknown`]: the client gave up waiting (a timeout, or a
//!   region that answered "the write may still take effect"): it may have
//!   taken effect at any instant after its invocation, or never. Its
//!   completion is taken as the end of time.
//! - [`Outcome::Returned`]: a strongly consistent read's answer.
//!
//! ## What it costs
//!
//! The search walks the history in time order and, at each step, tries
//! every operation that may go next (one whose invocation precedes every
//! pending completion), backtracking when a completion is reached with its
//! operation not yet placed. Every (set of operations placed, item state)
//! pair is visited at most once: the cache holds each as a bitset of
//! `n / 64` words plus the state, so memory is `O(states × n / 64)` words
//! and time `O(states × n)` for `n` operations on the key. `states` is
//! about `n × c` for a history whose operations overlap at most `c` at a
//! time, and `2^c` in the worst case (many overlapping writes that no read
//! tells apart). Operations of unknown outcome overlap everything after
//! them, so two reductions keep them cheap, both exact:
//!
//! - a write of unknown outcome whose value no read returned and no
//!   condition named is indistinguishable from every other such write:
//!   their values all become one "unobserved" value;
//! - operations of unknown outcome with the same effect (the same written
//!   value after that merge and the same condition) are interchangeable,
//!   so they are placed in the order they were invoked, which turns `2^u`
//!   subsets of them into `u + 1` prefixes.
//!
//! The search stops after `budget` cached states and answers
//! [`Check::Inconclusive`]: a bounded checker says when it could not
//! decide instead of passing the key.

use std::collections::{BTreeMap, HashSet};

/// A written value: the unique tag the drill puts in every item it writes.
pub type Value = u64;

/// What an operation asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Call {
    /// A put (`Some`) or a delete (`None`), conditional on `expect`.
    Write {
        value: Option<Value>,
        expect: Expect,
    },
    /// A strongly consistent read.
    Read,
}

/// A write's condition on the item it replaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Expect {
    /// Unconditional.
    Any,
    /// The key holds no item (`attribute_not_exists`).
    Absent,
    /// The key holds the item written with this value.
    Value(Value),
}

/// What the client saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Refused,
    ConditionFailed,
    Unknown,
    /// A read's answer: the value of the item it found, `None` for none.
    Returned(Option<Value>),
}

/// One operation on one key, times in microseconds of one clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Op {
    pub call: Call,
    pub outcome: Outcome,
    pub invoked: u64,
    pub completed: u64,
    /// Who issued it (a region's index), for messages.
    pub client: u32,
}

/// The checker's answer for one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Check {
    /// An order exists; `ops` operations were in the search.
    Linearizable { ops: usize },
    /// No order explains the history. `stuck` describes the operation whose
    /// completion the deepest attempt could not get past, and `placed` how
    /// many operations that attempt had ordered.
    Violation {
        ops: usize,
        placed: usize,
        stuck: String,
    },
    /// The search reached its budget of cached states without deciding.
    Inconclusive { ops: usize, states: usize },
}

impl Check {
    pub fn is_violation(&self) -> bool {
        matches!(self, Check::Violation { .. })
    }
}

/// The item's state in the search: absent, the one value no operation
/// observes, or an observed value (by its dense number).
type State = u32;
const ABSENT: State = 0;
const UNOBSERVED: State = 1;

/// An operation as the search sees it.
#[derive(Clone, Copy, Debug)]
struct Prepared {
    /// The state a write leaves, or what a read must find.
    value: State,
    expect: Option<State>,
    kind: Kind,
    /// For operations of unknown outcome: the class of interchangeable
    /// ones, and this one's rank in it by invocation.
    class: usize,
    rank: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Write,
    Unknown,
    ConditionFailed,
    Read,
}

/// Checks one key's history, visiting at most `budget` states.
pub fn check(history: &[Op], budget: usize) -> Check {
    let ops: Vec<&Op> = history
        .iter()
        .filter(|o| match (o.call, o.outcome) {
            (_, Outcome::Refused) => false,
            // A read with no answer observed nothing.
            (Call::Read, outcome) => matches!(outcome, Outcome::Returned(_)),
            _ => true,
        })
        .collect();
    let n = ops.len();
    if n == 0 {
        return Check::Linearizable { ops: 0 };
    }
    // Values some operation observes: a read's answer or a condition.
    let mut observed: BTreeMap<Value, State> = BTreeMap::new();
    for o in &ops {
        let seen = match (o.call, o.outcome) {
            (_, Outcome::Returned(Some(v))) => Some(v),
            (
                Call::Write {
                    expect: Expect::Value(v),
                    ..
                },
                _,
            ) => Some(v),
            _ => None,
        };
        if let Some(v) = seen {
            let next = observed.len() as State + 2;
            observed.entry(v).or_insert(next);
        }
    }
    let state_of = |v: Option<Value>| match v {
        None => ABSENT,
        Some(v) => observed.get(&v).copied().unwrap_or(UNOBSERVED),
    };
    let expect_of = |e: Expect| match e {
        Expect::Any => None,
        Expect::Absent => Some(ABSENT),
        Expect::Value(v) => Some(state_of(Some(v))),
    };
    let mut classes: BTreeMap<(State, Option<State>), usize> = BTreeMap::new();
    let mut class_sizes: Vec<usize> = Vec::new();
    // Ranks within a class follow invocation order.
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| (ops[i].invoked, i));
    let mut prepared: Vec<Option<Prepared>> = vec![None; n];
    for &i in &order {
        let o = ops[i];
        let p = match (o.call, o.outcome) {
            (_, Outcome::Returned(v)) => Prepared {
                value: state_of(v),
                expect: None,
                kind: Kind::Read,
                class: 0,
                rank: 0,
            },
            (Call::Read, _) => continue,
            (Call::Write { value, expect }, outcome) => {
                let (value, expect) = (state_of(value), expect_of(expect));
                match outcome {
                    Outcome::Unknown => {
                        let next = class_sizes.len();
                        let class = *classes.entry((value, expect)).or_insert(next);
                        if class == class_sizes.len() {
                            class_sizes.push(0);
                        }
                        let rank = class_sizes[class];
                        class_sizes[class] += 1;
                        Prepared {
                            value,
                            expect,
                            kind: Kind::Unknown,
                            class,
                            rank,
                        }
                    }
                    Outcome::ConditionFailed => Prepared {
                        value,
                        expect,
                        kind: Kind::ConditionFailed,
                        class: 0,
                        rank: 0,
                    },
                    _ => Prepared {
                        value,
                        expect,
                        kind: Kind::Write,
                        class: 0,
                        rank: 0,
                    },
                }
            }
        };
        prepared[i] = Some(p);
    }
    let prepared: Vec<Prepared> = prepared.into_iter().flatten().collect();
    Search::new(&ops, prepared, class_sizes.len()).run(budget)
}

/// One event of the history: an operation's invocation or completion.
#[derive(Clone, Copy, Debug)]
struct Event {
    op: usize,
    call: bool,
}

/// Porcupine's search over a doubly linked list of events.
struct Search<'a> {
    ops: &'a [&'a Op],
    prepared: Vec<Prepared>,
    events: Vec<Event>,
    /// Linked list over `events`, with a head sentinel at `events.len()`.
    next: Vec<usize>,
    prev: Vec<usize>,
    /// Per operation, the index of its completion event.
    ret_of: Vec<usize>,
    /// Per class of unknown operations, how many are placed.
    placed_in_class: Vec<usize>,
}

impl<'a> Search<'a> {
    fn new(ops: &'a [&'a Op], prepared: Vec<Prepared>, classes: usize) -> Self {
        let n = ops.len();
        let mut events: Vec<(u64, u8, usize, Event)> = Vec::with_capacity(2 * n);
        for (i, o) in ops.iter().enumerate() {
            let end = match (o.outcome, o.call) {
                (Outcome::Unknown, _) => u64::MAX,
                _ => o.completed.max(o.invoked),
            };
            // At equal times invocations come first: the two overlap, which
            // is the permissive reading of a tie.
            events.push((o.invoked, 0, i, Event { op: i, call: true }));
            events.push((end, 1, i, Event { op: i, call: false }));
        }
        events.sort_by_key(|e| (e.0, e.1, e.2));
        let events: Vec<Event> = events.into_iter().map(|e| e.3).collect();
        let len = events.len();
        let head = len;
        let mut next = vec![usize::MAX; len + 1];
        let mut prev = vec![usize::MAX; len + 1];
        let mut last = head;
        for (i, p) in prev.iter_mut().enumerate().take(len) {
            next[last] = i;
            *p = last;
            last = i;
        }
        next[last] = usize::MAX;
        let mut ret_of = vec![0; n];
        for (i, e) in events.iter().enumerate() {
            if !e.call {
                ret_of[e.op] = i;
            }
        }
        Search {
            ops,
            prepared,
            events,
            next,
            prev,
            ret_of,
            placed_in_class: vec![0; classes],
        }
    }

    fn head(&self) -> usize {
        self.events.len()
    }

    /// Removes an operation's invocation and completion from the list.
    fn lift(&mut self, call: usize) {
        let ret = self.ret_of[self.events[call].op];
        for e in [call, ret] {
            let (p, n) = (self.prev[e], self.next[e]);
            self.next[p] = n;
            if n != usize::MAX {
                self.prev[n] = p;
            }
        }
    }

    /// Puts them back (in the reverse order of [`Search::lift`]).
    fn unlift(&mut self, call: usize) {
        let ret = self.ret_of[self.events[call].op];
        for e in [ret, call] {
            let (p, n) = (self.prev[e], self.next[e]);
            self.next[p] = e;
            if n != usize::MAX {
                self.prev[n] = e;
            }
        }
    }

    /// The state after `op` runs on `state`, if its answer allows it.
    fn step(&self, op: usize, state: State) -> Option<State> {
        let p = &self.prepared[op];
        let holds = p.expect.is_none_or(|e| e == state);
        match p.kind {
            Kind::Read => (p.value == state).then_some(state),
            Kind::Write => holds.then_some(p.value),
            Kind::ConditionFailed => (!holds).then_some(state),
            // Placed only where it changes the item: refused, or never
            // applied, is the same as placed after everything else, which
            // is where every one still unplaced goes once the operations
            // of known outcome are all placed.
            Kind::Unknown => (holds && p.value != state).then_some(p.value),
        }
    }

    /// Whether `op` may be placed now: an operation of unknown outcome
    /// only after the ones of its class invoked before it.
    fn in_turn(&self, op: usize) -> bool {
        let p = &self.prepared[op];
        p.kind != Kind::Unknown || self.placed_in_class[p.class] == p.rank
    }

    fn run(mut self, budget: usize) -> Check {
        let n = self.ops.len();
        let words = n.div_ceil(64);
        let mut placed = vec![0u64; words];
        let mut count = 0usize;
        let mut state: State = ABSENT;
        let mut cache: HashSet<(Vec<u64>, State)> = HashSet::new();
        let mut stack: Vec<(usize, State)> = Vec::new();
        let mut deepest = (0usize, usize::MAX);
        let head = self.head();
        let mut cur = self.next[head];
        // Operations of known outcome not yet placed: none left is success.
        let mut known = self
            .prepared
            .iter()
            .filter(|p| p.kind != Kind::Unknown)
            .count();
        while known > 0 {
            if cur == usize::MAX {
                // Cannot happen: the list ends with a completion.
                break;
            }
            let e = self.events[cur];
            if e.call {
                let op = e.op;
                let tried = if self.in_turn(op) {
                    self.step(op, state)
                } else {
                    None
                };
                if let Some(after) = tried {
                    placed[op / 64] |= 1 << (op % 64);
                    if cache.insert((placed.clone(), after)) {
                        if cache.len() > budget {
                            return Check::Inconclusive {
                                ops: n,
                                states: cache.len(),
                            };
                        }
                        stack.push((cur, state));
                        state = after;
                        count += 1;
                        let p = self.prepared[op];
                        if p.kind == Kind::Unknown {
                            self.placed_in_class[p.class] += 1;
                        } else {
                            known -= 1;
                        }
                        self.lift(cur);
                        cur = self.next[head];
                        continue;
                    }
                    placed[op / 64] &= !(1 << (op % 64));
                }
                cur = self.next[cur];
            } else {
                // A completion with its operation not placed: back up.
                if count >= deepest.0 || deepest.1 == usize::MAX {
                    deepest = (count, e.op);
                }
                let Some((call, before)) = stack.pop() else {
                    return Check::Violation {
                        ops: n,
                        placed: deepest.0,
                        stuck: self.describe(deepest.1),
                    };
                };
                let op = self.events[call].op;
                self.unlift(call);
                placed[op / 64] &= !(1 << (op % 64));
                count -= 1;
                let p = self.prepared[op];
                if p.kind == Kind::Unknown {
                    self.placed_in_class[p.class] -= 1;
                } else {
                    known += 1;
                }
                state = before;
                cur = self.next[call];
            }
        }
        Check::Linearizable { ops: n }
    }

    fn describe(&self, op: usize) -> String {
        let Some(o) = self.ops.get(op) else {
            return "nothing".into();
        };
        let what = match o.call {
            Call::Read => "read".to_string(),
            Call::Write {
                value: Some(v),
                expect,
            } => format!("put w{v}{}", show_expect(expect)),
            Call::Write {
                value: None,
                expect,
            } => format!("delete{}", show_expect(expect)),
        };
        let outcome = match o.outcome {
            Outcome::Ok => "ok".to_string(),
            Outcome::Refused => "refused".to_string(),
            Outcome::ConditionFailed => "condition failed".to_string(),
            Outcome::Unknown => "unknown".to_string(),
            Outcome::Returned(Some(v)) => format!("returned w{v}"),
            Outcome::Returned(None) => "returned nothing".to_string(),
        };
        format!(
            "{what} from client {} invoked at {} us, completed at {} us: {outcome}",
            o.client, o.invoked, o.completed
        )
    }
}

fn show_expect(e: Expect) -> String {
    match e {
        Expect::Any => String::new(),
        Expect::Absent => " if absent".into(),
        Expect::Value(v) => format!(" if w{v}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUDGET: usize = 100_000;

    fn op(call: Call, outcome: Outcome, invoked: u64, completed: u64) -> Op {
        Op {
            call,
            outcome,
            invoked,
            completed,
            client: 0,
        }
    }
    fn put(v: Value) -> Call {
        Call::Write {
            value: Some(v),
            expect: Expect::Any,
        }
    }
    fn put_if(v: Value, expect: Expect) -> Call {
        Call::Write {
            value: Some(v),
            expect,
        }
    }
    fn read(v: Option<Value>, invoked: u64, completed: u64) -> Op {
        op(Call::Read, Outcome::Returned(v), invoked, completed)
    }

    #[test]
    fn a_read_of_an_overwritten_value_after_the_overwrite_completed_is_rejected() {
        // w1 then w2, strictly one after the other; a read invoked after w2
        // completed returns w1: a stale read, which no order explains.
        let h = [
            op(put(1), Outcome::Ok, 0, 10),
            op(put(2), Outcome::Ok, 20, 30),
            read(Some(1), 40, 50),
        ];
        let c = check(&h, BUDGET);
        assert!(c.is_violation(), "{c:?}");
        let Check::Violation { stuck, .. } = c else {
            unreachable!()
        };
        assert!(stuck.contains("returned w1"), "{stuck}");
    }

    #[test]
    fn two_reads_that_disagree_on_the_order_of_two_writes_are_rejected() {
        // w1 and w2 overlap, so either order is fine, but not both: one
        // reader sees w1 after w2, the other w2 after w1, in windows that
        // do not overlap each other.
        let h = [
            op(put(1), Outcome::Ok, 0, 100),
            op(put(2), Outcome::Ok, 0, 100),
            read(Some(2), 10, 20),
            read(Some(1), 30, 40),
            read(Some(2), 50, 60),
        ];
        assert!(check(&h, BUDGET).is_violation());
    }

    #[test]
    fn concurrent_writes_and_reads_in_some_order_are_accepted() {
        let h = [
            op(put(1), Outcome::Ok, 0, 100),
            op(put(2), Outcome::Ok, 5, 50),
            read(Some(2), 10, 60),
            read(Some(1), 70, 120),
            op(
                Call::Write {
                    value: None,
                    expect: Expect::Any,
                },
                Outcome::Ok,
                130,
                140,
            ),
            read(None, 150, 160),
        ];
        assert_eq!(check(&h, BUDGET), Check::Linearizable { ops: 6 });
    }

    #[test]
    fn a_compare_and_set_must_find_what_it_expected() {
        // Two conditional writes on the same value both succeeding is a
        // lost update: the second cannot have found w1.
        let lost = [
            op(put(1), Outcome::Ok, 0, 10),
            op(put_if(2, Expect::Value(1)), Outcome::Ok, 20, 60),
            op(put_if(3, Expect::Value(1)), Outcome::Ok, 30, 70),
        ];
        assert!(check(&lost, BUDGET).is_violation());
        // One of them failing its condition is fine, whichever.
        let fine = [
            op(put(1), Outcome::Ok, 0, 10),
            op(put_if(2, Expect::Value(1)), Outcome::Ok, 20, 60),
            op(
                put_if(3, Expect::Value(1)),
                Outcome::ConditionFailed,
                30,
                70,
            ),
            read(Some(2), 80, 90),
        ];
        assert!(!check(&fine, BUDGET).is_violation());
        // A condition failing against the item it expected, with nothing
        // else in flight, is a failure from a stale copy.
        let stale = [
            op(put(1), Outcome::Ok, 0, 10),
            op(
                put_if(2, Expect::Value(1)),
                Outcome::ConditionFailed,
                20,
                30,
            ),
        ];
        assert!(check(&stale, BUDGET).is_violation());
    }

    #[test]
    fn unknown_outcomes_count_either_way() {
        // Taken effect: a later read sees it.
        let seen = [
            op(put(1), Outcome::Ok, 0, 10),
            op(put(2), Outcome::Unknown, 20, 30),
            read(Some(2), 1_000, 1_010),
        ];
        assert!(!check(&seen, BUDGET).is_violation());
        // Never taken effect: a later read still sees w1.
        let not = [
            op(put(1), Outcome::Ok, 0, 10),
            op(put(2), Outcome::Unknown, 20, 30),
            read(Some(1), 1_000, 1_010),
        ];
        assert!(!check(&not, BUDGET).is_violation());
        // Taken effect late, after the client gave up: fine too.
        let late = [
            op(put(1), Outcome::Ok, 0, 10),
            op(put(2), Outcome::Unknown, 20, 30),
            read(Some(1), 100, 110),
            read(Some(2), 1_000, 1_010),
        ];
        assert!(!check(&late, BUDGET).is_violation());
        // But not before it was invoked.
        let early = [read(Some(2), 0, 10), op(put(2), Outcome::Unknown, 20, 30)];
        assert!(check(&early, BUDGET).is_violation());
        // And a refused write never takes effect.
        let refused = [
            op(put(1), Outcome::Ok, 0, 10),
            op(put(2), Outcome::Refused, 20, 30),
            read(Some(2), 1_000, 1_010),
        ];
        assert!(check(&refused, BUDGET).is_violation());
        // Taken effect at most once: back to w2 after w3 needs w2 twice.
        let twice = [
            op(put(2), Outcome::Unknown, 0, 10),
            read(Some(2), 20, 30),
            op(put(3), Outcome::Ok, 40, 50),
            read(Some(2), 60, 70),
        ];
        assert!(check(&twice, BUDGET).is_violation());
    }

    #[test]
    fn interchangeable_unknown_writes_can_each_be_used_once() {
        // Two failed conditions need the item to have moved off what they
        // expected; only writes of unknown outcome nobody read can have
        // moved it. Each one can do so once.
        let mut h = vec![
            op(put(1), Outcome::Ok, 0, 10),
            op(put(100), Outcome::Unknown, 20, 25),
            op(
                put_if(7, Expect::Value(1)),
                Outcome::ConditionFailed,
                30,
                40,
            ),
            op(put(3), Outcome::Ok, 50, 60),
            read(Some(3), 70, 80),
            op(
                put_if(8, Expect::Value(3)),
                Outcome::ConditionFailed,
                90,
                100,
            ),
        ];
        assert!(check(&h, BUDGET).is_violation());
        h.push(op(put(101), Outcome::Unknown, 21, 26));
        assert!(!check(&h, BUDGET).is_violation());
    }

    #[test]
    fn many_unknown_writes_stay_cheap() {
        // A region cut off for a while: hundreds of writes of unknown
        // outcome on one key, none ever seen, between reads of the others'
        // writes. Without the reductions this is 2^300 subsets.
        let mut h = Vec::new();
        for i in 0..300u64 {
            h.push(Op {
                client: 2,
                ..op(put(10_000 + i), Outcome::Unknown, i * 10, i * 10 + 5)
            });
            h.push(op(put(i), Outcome::Ok, i * 10, i * 10 + 4));
            h.push(read(Some(i), i * 10 + 6, i * 10 + 8));
            h.push(Op {
                client: 2,
                ..op(
                    put_if(20_000 + i, Expect::Value(i)),
                    Outcome::Unknown,
                    i * 10 + 6,
                    i * 10 + 9,
                )
            });
        }
        assert_eq!(check(&h, 200_000), Check::Linearizable { ops: 1200 });
    }

    #[test]
    fn the_budget_makes_it_inconclusive_rather_than_a_pass() {
        // Twenty overlapping writes no read tells apart, and a final read
        // of a value nobody wrote: the search must try every subset.
        let mut h: Vec<Op> = (0..20).map(|i| op(put(i), Outcome::Ok, 0, 100)).collect();
        h.push(read(Some(999), 200, 210));
        assert!(matches!(check(&h, 1_000), Check::Inconclusive { .. }));
    }
}
