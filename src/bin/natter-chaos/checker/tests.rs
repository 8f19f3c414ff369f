//! The checker's unit tests: hand-made histories, one healthy and variations
//! of it that break one property each, judged by `check` as a whole.

use super::{Bounds, check};
use crate::history::{Event, Op, Row};

const BOUNDS: Bounds =
    Bounds { answer_ms: 10_000, staleness_ms: 5_000, max_rss_kib: 1 << 20, presence_back_ms: 6_000 };

fn at(t: u64, op: Op) -> Event {
    Event { t, op }
}

fn row(seq: i64, client_id: &str) -> Row {
    Row {
        seq,
        id: 100 + seq,
        client_id: client_id.into(),
        sender: "c0".into(),
        ts: 1_000 * seq,
        system: false,
    }
}

fn invoke(t: u64, client: usize, node: usize, client_id: &str) -> Event {
    at(t, Op::SendInvoke { client, conn: 0, node, channel: 7, client_id: client_id.into() })
}

fn ok(t: u64, client: usize, client_id: &str, seq: i64) -> Event {
    at(t, Op::SendOk { client, conn: 0, client_id: client_id.into(), channel: 7, id: 100 + seq, seq })
}

fn recv(t: u64, client: usize, client_id: &str, seq: i64) -> Event {
    at(t, Op::Recv { client, conn: 0, channel: 7, seq, id: 100 + seq, client_id: client_id.into() })
}

fn finals(rows: &[Row]) -> Vec<Event> {
    (0..3).map(|node| at(9_000, Op::Final { node, channel: 7, rows: Some(rows.to_vec()) })).collect()
}

/// Two clients on two nodes, two messages, all delivered: valid.
fn healthy() -> Vec<Event> {
    let mut history = vec![
        at(0, Op::Connect { client: 0, conn: 0, node: 0 }),
        at(0, Op::Connect { client: 1, conn: 0, node: 1 }),
        invoke(10, 0, 0, "c0-1"),
        ok(20, 0, "c0-1", 1),
        recv(21, 0, "c0-1", 1),
        recv(25, 1, "c0-1", 1),
        invoke(30, 1, 1, "c1-1"),
        ok(40, 1, "c1-1", 2),
        recv(41, 0, "c1-1", 2),
        recv(42, 1, "c1-1", 2),
    ];
    history.extend(finals(&[row(1, "c0-1"), row(2, "c1-1")]));
    history
}

#[test]
fn a_healthy_history_is_valid() {
    let summary = check(&healthy(), BOUNDS);
    assert!(summary.valid, "{summary:?}");
    assert_eq!((summary.sent, summary.ok, summary.fail, summary.info), (2, 2, 0, 0));
    assert_eq!(summary.staleness_max_ms, 5);
    assert_eq!(summary.answer_max_ms, 10);
}

#[test]
fn an_acked_message_missing_on_one_node_is_lost() {
    let mut history = healthy();
    history.retain(|e| !matches!(e.op, Op::Final { node: 2, .. }));
    history.push(at(9_000, Op::Final { node: 2, channel: 7, rows: Some(vec![row(1, "c0-1")]) }));
    let summary = check(&history, BOUNDS);
    assert!(!summary.valid);
    assert_eq!(summary.lost.count, 1, "{:?}", summary.lost);
    assert!(summary.lost.sample[0].contains("c1-1"), "{:?}", summary.lost);
    assert_eq!(summary.divergent.count, 1);
}

#[test]
fn a_client_id_stored_twice_is_duplicated_and_an_unsent_one_unexpected() {
    let mut history = healthy();
    history.retain(|e| !matches!(e.op, Op::Final { .. }));
    history.extend(finals(&[row(1, "c0-1"), row(2, "c1-1"), row(3, "c0-1"), row(4, "ghost")]));
    let summary = check(&history, BOUNDS);
    assert!(!summary.valid);
    assert_eq!(summary.duplicated.count, 3, "once per node: {:?}", summary.duplicated);
    assert_eq!(summary.unexpected.count, 3, "{:?}", summary.unexpected);
    // Both clients stopped at seq 2 of 4.
    assert_eq!(summary.undelivered.count, 2);
}

#[test]
fn a_system_line_is_the_servers_not_unexpected() {
    let with_last = |last: Row| {
        let mut history = healthy();
        history.retain(|e| !matches!(e.op, Op::Final { .. }));
        history.extend(finals(&[row(1, "c0-1"), row(2, "c1-1"), last]));
        check(&history, BOUNDS)
    };
    let line = Row { system: true, ..row(3, "sys-1") };
    assert_eq!(with_last(line).unexpected.count, 0);
    assert!(with_last(row(3, "sys-1")).unexpected.count > 0, "unmarked, the same row is unexpected");
}

#[test]
fn a_seq_gap_in_the_final_history_is_reported() {
    let mut history = healthy();
    history.retain(|e| !matches!(e.op, Op::Final { .. }));
    let mut second = row(2, "c1-1");
    second.seq = 3;
    history.extend(finals(&[row(1, "c0-1"), second]));
    let summary = check(&history, BOUNDS);
    assert!(!summary.valid);
    assert_eq!(summary.gaps.count, 3);
    assert_eq!(summary.lost.count, 3, "acked at seq 2, stored at 3");
}

#[test]
fn holes_and_repeats_in_a_clients_deliveries_are_reported() {
    let mut history = healthy();
    // Client 1 skips seq 1 on its first connection, then gets it again.
    history.retain(|e| !matches!(e.op, Op::Recv { client: 1, .. }));
    history.push(recv(50, 1, "c1-1", 2));
    history.push(recv(60, 1, "c0-1", 1));
    let summary = check(&history, BOUNDS);
    assert!(!summary.valid);
    assert_eq!(summary.missed.count, 1, "{:?}", summary.missed);
    assert_eq!(summary.redelivered.count, 1, "{:?}", summary.redelivered);
}

#[test]
fn users_back_online_too_late_after_a_presence_wipe_are_a_presence_violation() {
    let mut history = healthy();
    history.push(at(200, Op::PresenceBack { node: 0, ms: Some(1_200), short: 4 }));
    assert!(check(&history, BOUNDS).valid, "within the bound");
    history.push(at(300, Op::PresenceBack { node: 1, ms: Some(6_500), short: 20 }));
    history.push(at(400, Op::PresenceBack { node: 2, ms: None, short: 80 }));
    let summary = check(&history, BOUNDS);
    assert!(!summary.valid);
    assert_eq!(summary.presence.count, 2, "{:?}", summary.presence);
    assert_eq!(summary.presence_back_max_ms, 6_500);
}

#[test]
fn a_send_never_acked_is_unacked() {
    let mut history = healthy();
    history.push(invoke(100, 0, 0, "c0-2"));
    history.push(at(
        10_100,
        Op::SendInfo { client: 0, conn: 0, client_id: "c0-2".into(), reason: "timeout".into() },
    ));
    let summary = check(&history, BOUNDS);
    assert!(!summary.valid);
    assert_eq!(summary.unacked.sample, vec!["c0-2".to_owned()]);
    assert_eq!(summary.silent.count, 1, "no fault excuses the silence");
}

#[test]
fn silence_is_excused_only_for_a_cut_client_or_a_paused_node() {
    let timed_out =
        |client| Op::SendInfo { client, conn: 0, client_id: "c0-2".into(), reason: "timeout".into() };
    let fault = |cut_clients, silent_nodes| Op::FaultStart {
        name: "f".into(),
        cut_clients,
        silent_nodes,
        store_cut_nodes: vec![],
    };
    let base = |op| {
        let mut history = healthy();
        history.push(at(90, op));
        history.push(invoke(100, 0, 0, "c0-2"));
        history.push(at(10_100, timed_out(0)));
        history.push(invoke(10_200, 0, 0, "c0-2"));
        history.push(ok(10_300, 0, "c0-2", 3));
        history.push(at(11_000, Op::FaultStop { name: "f".into() }));
        history
    };
    let cut = check(&base(fault(vec![0], vec![])), BOUNDS);
    assert_eq!(cut.silent.count, 0, "{:?}", cut.silent);
    assert_eq!(cut.recovered, 1);
    let paused = check(&base(fault(vec![], vec![0])), BOUNDS);
    assert_eq!(paused.silent.count, 0, "{:?}", paused.silent);
    let elsewhere = check(&base(fault(vec![1], vec![2])), BOUNDS);
    assert_eq!(elsewhere.silent.count, 1, "{:?}", elsewhere.silent);
}

#[test]
fn late_delivery_is_stale_unless_a_fault_held_it_back() {
    let mut late = healthy();
    late.retain(|e| !matches!(e.op, Op::Recv { client: 1, .. }));
    late.push(recv(25, 1, "c0-1", 1));
    late.push(recv(7_000, 1, "c1-1", 2));
    let summary = check(&late, BOUNDS);
    assert_eq!(summary.stale.count, 1, "{:?}", summary.stale);
    assert!(!summary.valid);

    let mut held = late.clone();
    held.push(at(
        30,
        Op::FaultStart {
            name: "bus".into(),
            cut_clients: vec![],
            silent_nodes: vec![],
            store_cut_nodes: vec![],
        },
    ));
    held.push(at(6_000, Op::FaultStop { name: "bus".into() }));
    held.sort_by_key(|e| e.t);
    let summary = check(&held, BOUNDS);
    assert!(summary.valid, "{summary:?}");
    assert_eq!(summary.staleness_max_ms, 1_000);

    // A node that stays deaf long after the heal is stale again.
    let mut deaf = held.clone();
    deaf.retain(|e| !matches!(e.op, Op::Recv { client: 1, seq: 2, .. }));
    deaf.push(recv(12_000, 1, "c1-1", 2));
    let summary = check(&deaf, BOUNDS);
    assert_eq!(summary.stale.count, 1, "{:?}", summary.stale);
}

#[test]
fn a_node_cut_off_from_postgres_must_answer_503_in_time() {
    let start = Op::FaultStart {
        name: "pg".into(),
        cut_clients: vec![],
        silent_nodes: vec![],
        store_cut_nodes: vec![0],
    };
    let judge = |probes: Vec<Event>| {
        let mut history = healthy();
        history.push(at(1_000, start.clone()));
        history.extend(probes);
        history.push(at(40_000, Op::FaultStop { name: "pg".into() }));
        history.sort_by_key(|e| e.t);
        check(&history, BOUNDS)
    };
    let honest = judge(vec![
        at(2_000, Op::Health { node: 0, status: 200, ms: 5 }),
        at(16_000, Op::Health { node: 0, status: 503, ms: 4_000 }),
        at(30_000, Op::Health { node: 1, status: 200, ms: 3 }),
    ]);
    assert!(honest.valid, "{honest:?}");
    let hung = judge(vec![at(27_000, Op::Health { node: 0, status: 0, ms: 15_000 })]);
    assert_eq!(hung.health.count, 1, "{:?}", hung.health);
    let lying = judge(vec![at(20_000, Op::Health { node: 0, status: 200, ms: 10 })]);
    assert_eq!(lying.health.count, 1, "{:?}", lying.health);
    let healed_meanwhile = judge(vec![at(40_500, Op::Health { node: 0, status: 200, ms: 1_000 })]);
    assert!(healed_meanwhile.valid, "answered after the heal: {:?}", healed_meanwhile.health);
}

#[test]
fn a_connected_user_shown_offline_is_a_presence_violation() {
    let names = |list: &[&str]| list.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
    let mut history = healthy();
    // c2 just left: still shown within the grace period, which is fine.
    history.push(at(
        9_500,
        Op::Online { node: 0, online: names(&["c0", "c1", "c2"]), connected: names(&["c0", "c1"]) },
    ));
    assert!(check(&history, BOUNDS).valid);
    history.push(at(9_500, Op::Online { node: 1, online: names(&["c0"]), connected: names(&["c0", "c1"]) }));
    let summary = check(&history, BOUNDS);
    assert_eq!(summary.presence.count, 1, "{:?}", summary.presence);
    assert!(!summary.valid);
}

#[test]
fn a_crash_an_unreadable_node_and_disagreeing_acks_are_invalid() {
    let mut history = healthy();
    history.push(ok(50, 0, "c0-1", 5));
    history.push(invoke(70, 1, 1, "c1-9"));
    history
        .push(at(80, Op::SendOk { client: 1, conn: 0, client_id: "c1-9".into(), channel: 2, id: 1, seq: 1 }));
    history.push(at(60, Op::NodeDown { node: 1, why: "exited".into() }));
    history.push(at(9_001, Op::Final { node: 0, channel: 8, rows: None }));
    let summary = check(&history, BOUNDS);
    assert!(!summary.valid);
    assert_eq!(summary.inconsistent_acks.count, 2, "{:?}", summary.inconsistent_acks);
    assert_eq!(summary.crashed.count, 1);
    assert_eq!(summary.unreadable.count, 1);
}
