//! The schedule's timing and its reproducibility: the same seed and options give the same
//! schedule, step for step (what `faultline test --replay` relies on).

use std::collections::BTreeSet;

use super::*;
use crate::nemesis::clock::ClockChange;

fn nodes() -> Vec<String> {
    (1..=5).map(|i| format!("n{i}")).collect()
}

const S: fn(u64) -> Duration = Duration::from_secs;

fn spec<'a>(
    kind: ScheduleKind,
    faults: &'a [Fault],
    at_once: AtOnce,
    clock: &'a ClockParams,
) -> ScheduleSpec<'a> {
    ScheduleSpec {
        kind,
        faults,
        at_once,
        targets: Targets::One,
        clock,
        interval: S(4),
        time_limit: S(120),
    }
}

/// The periods of a schedule: (start, stop, kinds started), checking that each period's stops
/// undo its starts in the reverse order.
fn periods(steps: &[Step]) -> Vec<(Duration, Duration, Vec<Fault>)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < steps.len() {
        let start = steps[i].at;
        let starts: Vec<&Step> = steps[i..]
            .iter()
            .take_while(|s| s.phase == Phase::Start && s.at == start)
            .collect();
        let n = starts.len();
        assert!(n > 0, "a period begins with a start: {:?}", steps[i]);
        let stops = &steps[i + n..i + 2 * n];
        let stop = stops[0].at;
        for (a, b) in starts.iter().zip(stops.iter().rev()) {
            assert_eq!(b.phase, Phase::Stop);
            assert_eq!(b.at, stop, "a period's faults stop together");
            assert_eq!(
                (a.fault, &a.target),
                (b.fault, &b.target),
                "stops in reverse"
            );
        }
        assert!(stop >= start);
        out.push((start, stop, starts.iter().map(|s| s.fault).collect()));
        i += 2 * n;
    }
    for w in out.windows(2) {
        assert!(w[0].1 < w[1].0, "periods never overlap: {w:?}");
    }
    out
}

#[test]
fn faults_alternate_with_quiet_intervals_and_stop_by_the_time_limit() {
    let steps = schedule(&Fault::ALL, Targets::One, &nodes(), S(10), S(45), 1);
    let times: Vec<(u64, Phase)> = steps.iter().map(|s| (s.at.as_secs(), s.phase)).collect();
    assert_eq!(
        times,
        vec![
            (10, Phase::Start),
            (20, Phase::Stop),
            (30, Phase::Start),
            (40, Phase::Stop),
        ]
    );
    let steps = schedule(&Fault::ALL, Targets::One, &nodes(), S(10), S(35), 1);
    assert_eq!(steps.last().unwrap().at, S(35), "the last stop is clamped");
    periods(&steps);
}

#[test]
fn only_enabled_faults_are_scheduled_and_the_seed_decides() {
    let enabled = [Fault::Kill, Fault::PartitionRandomNode];
    let steps = schedule(&enabled, Targets::One, &nodes(), S(1), S(200), 42);
    assert!(steps.iter().all(|s| enabled.contains(&s.fault)));
    let kinds: BTreeSet<Fault> = steps.iter().map(|s| s.fault).collect();
    assert_eq!(kinds.len(), 2, "both faults appear in 100 draws");
    assert_eq!(
        steps,
        schedule(&enabled, Targets::One, &nodes(), S(1), S(200), 42)
    );
    assert_ne!(
        steps,
        schedule(&enabled, Targets::One, &nodes(), S(1), S(200), 43)
    );
}

/// The draws of one fault per period are those of the first schedules, so a seed recorded
/// before schedules had kinds still gives the same faults on the same nodes.
#[test]
fn a_periodic_schedule_of_one_fault_at_a_time_is_drawn_as_before() {
    let steps = schedule(
        &[Fault::Kill, Fault::Pause, Fault::PartitionRandomNode],
        Targets::One,
        &nodes(),
        S(5),
        S(40),
        7,
    );
    let text: Vec<String> = steps
        .iter()
        .filter(|s| s.phase == Phase::Start)
        .map(|s| {
            format!(
                "{} {} {}",
                s.at.as_secs(),
                s.fault.name(),
                s.to_json()["value"]
            )
        })
        .collect();
    assert_eq!(text, PINNED_PERIODIC, "{text:#?}");
}

/// Printed by the schedule of faultline before fault kinds could be combined.
const PINNED_PERIODIC: [&str; 4] = [
    "5 kill \"n2\"",
    "15 kill \"n1\"",
    "25 pause \"n4\"",
    "35 kill \"n2\"",
];

#[test]
fn targets_match_their_fault() {
    for s in schedule(&Fault::ALL, Targets::One, &nodes(), S(1), S(300), 9) {
        match (s.fault, &s.target) {
            (Fault::Kill, FaultTarget::Kill(n)) | (Fault::Pause, FaultTarget::Pause(n)) => {
                assert_eq!(n.len(), 1);
                assert!(nodes().contains(&n[0]))
            }
            (
                Fault::PartitionPrimary,
                FaultTarget::Primary {
                    action: PrimaryAction::IsolateWithMinority,
                    ..
                },
            ) => {}
            (Fault::Latency, FaultTarget::Latency { node, delay }) => {
                assert!(nodes().contains(node));
                assert_eq!(*delay, LATENCY_DELAY);
            }
            (Fault::PacketLoss, FaultTarget::PacketLoss { node, peers, .. }) => {
                assert_eq!(peers.len(), 4);
                assert!(!peers.contains(node));
            }
            (
                Fault::PartitionRandomHalves
                | Fault::PartitionMajoritiesRing
                | Fault::PartitionRandomNode
                | Fault::Bridge,
                FaultTarget::Partition(g),
            ) => assert_eq!(g.nodes().count(), 5),
            (
                Fault::ClockBump | Fault::ClockStrobe | Fault::ClockSkew,
                FaultTarget::Clock { nodes: n, change },
            ) => {
                assert_eq!(n.len(), 1);
                assert_eq!(change.name(), s.fault.name());
            }
            other => panic!("mismatched step {other:?}"),
        }
    }
}

#[test]
fn nothing_to_do_gives_an_empty_schedule() {
    assert!(schedule(&[], Targets::One, &nodes(), S(1), S(10), 0).is_empty());
    assert!(schedule(&Fault::ALL, Targets::One, &[], S(1), S(10), 0).is_empty());
    assert!(schedule(&Fault::ALL, Targets::One, &nodes(), S(0), S(10), 0).is_empty());
    assert!(schedule(&Fault::ALL, Targets::One, &nodes(), S(10), S(10), 0).is_empty());
}

/// Every kind, with every way of combining faults, gives the same schedule from the same
/// seed, a different one from another, and never a step past the time limit.
#[test]
fn every_schedule_is_reproduced_by_its_seed() {
    let clock = ClockParams::default();
    let faults = [Fault::PartitionRandomHalves, Fault::Kill, Fault::ClockBump];
    for kind in ScheduleKind::ALL {
        for at_once in [AtOnce::Count(1), AtOnce::Count(2), AtOnce::All] {
            let s = spec(kind, &faults, at_once, &clock);
            let a = plan(&s, &nodes(), 11);
            assert!(!a.is_empty(), "{kind:?} {at_once:?}");
            assert_eq!(a, plan(&s, &nodes(), 11), "{kind:?} {at_once:?}");
            assert_ne!(a, plan(&s, &nodes(), 12), "{kind:?} {at_once:?}");
            assert!(a.iter().all(|st| st.at <= s.time_limit));
            let json: Vec<_> = a.iter().map(Step::to_json).collect();
            let again: Vec<_> = plan(&s, &nodes(), 11).iter().map(Step::to_json).collect();
            assert_eq!(json, again, "what test.json records is reproduced too");
        }
    }
}

#[test]
fn several_kinds_start_together_network_first_and_stop_in_reverse() {
    let clock = ClockParams::default();
    let faults = [Fault::Kill, Fault::PartitionRandomHalves, Fault::Pause];
    let steps = plan(
        &spec(ScheduleKind::Periodic, &faults, AtOnce::All, &clock),
        &nodes(),
        3,
    );
    for (_, _, kinds) in periods(&steps) {
        assert_eq!(
            kinds,
            vec![Fault::PartitionRandomHalves, Fault::Pause, Fault::Kill]
        );
    }
    let two = plan(
        &spec(ScheduleKind::Periodic, &faults, AtOnce::Count(2), &clock),
        &nodes(),
        3,
    );
    let mut pairs = BTreeSet::new();
    for (_, _, kinds) in periods(&two) {
        assert_eq!(kinds.len(), 2);
        assert_ne!(kinds[0], kinds[1], "two different kinds");
        pairs.insert(kinds);
    }
    assert!(pairs.len() > 1, "the seed varies the pairs: {pairs:?}");
    let more_than_enabled = plan(
        &spec(ScheduleKind::Periodic, &faults, AtOnce::Count(7), &clock),
        &nodes(),
        3,
    );
    assert!(periods(&more_than_enabled).iter().all(|p| p.2.len() == 3));
}

#[test]
fn random_periods_vary_around_the_interval() {
    let clock = ClockParams::default();
    let steps = plan(
        &spec(
            ScheduleKind::Random,
            &[Fault::Kill],
            AtOnce::Count(1),
            &clock,
        ),
        &nodes(),
        5,
    );
    let ps = periods(&steps);
    let lengths: BTreeSet<u128> = ps.iter().map(|p| (p.1 - p.0).as_millis()).collect();
    assert!(lengths.len() > 5, "irregular: {lengths:?}");
    for (start, stop, _) in &ps[..ps.len() - 1] {
        let len = *stop - *start;
        assert!(
            len >= S(1) && len <= S(7),
            "between 1/4 and 7/4 of 4 s: {len:?}"
        );
    }
    // 120 s at one period per 8 s on average: about 15.
    assert!((8..=25).contains(&ps.len()), "{} periods", ps.len());
}

#[test]
fn bursts_are_runs_of_short_periods_between_long_quiet_stretches() {
    let clock = ClockParams::default();
    let steps = plan(
        &spec(
            ScheduleKind::Burst,
            &[Fault::Pause],
            AtOnce::Count(1),
            &clock,
        ),
        &nodes(),
        8,
    );
    let ps = periods(&steps);
    for (start, stop, _) in &ps {
        assert!(
            *stop - *start <= Duration::from_millis(1200),
            "short: {:?}",
            *stop - *start
        );
    }
    let gaps: Vec<Duration> = ps.windows(2).map(|w| w[1].0 - w[0].1).collect();
    let long = gaps.iter().filter(|g| **g >= S(8)).count();
    let short = gaps
        .iter()
        .filter(|g| **g <= Duration::from_millis(800))
        .count();
    assert!(long >= 3, "quiet stretches of two intervals: {gaps:?}");
    assert!(short >= 2 * long, "3 to 6 periods per burst: {gaps:?}");
    assert_eq!(long + short, gaps.len(), "{gaps:?}");
    assert_eq!(ps[0].0, S(4), "a quiet interval first");
}

#[test]
fn a_clock_faults_duration_is_its_period() {
    let clock = ClockParams::default();
    let steps = plan(
        &spec(
            ScheduleKind::Random,
            &[Fault::ClockStrobe],
            AtOnce::Count(1),
            &clock,
        ),
        &nodes(),
        2,
    );
    for (start, stop, _) in periods(&steps) {
        let step = steps.iter().find(|s| s.at == start).unwrap();
        match &step.target {
            FaultTarget::Clock {
                change: ClockChange::Strobe { duration_ms, .. },
                ..
            } => assert_eq!(*duration_ms, (stop - start).as_millis() as u64),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn kinds_and_counts_parse() {
    for k in ScheduleKind::ALL {
        assert_eq!(ScheduleKind::parse(k.name()), Some(k));
    }
    assert_eq!(ScheduleKind::parse("sometimes"), None);
    assert_eq!(AtOnce::parse("all"), Ok(AtOnce::All));
    assert_eq!(AtOnce::parse(" 2"), Ok(AtOnce::Count(2)));
    assert!(AtOnce::parse("0").is_err());
    assert!(AtOnce::parse("two").is_err());
    assert_eq!(AtOnce::Count(3).name(), "3");
}
