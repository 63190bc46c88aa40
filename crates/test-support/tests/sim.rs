//! The convergence simulation over many seeds (`NIPEE_SIM_SEEDS`, default 12 in a plain
//! `cargo test`; `cargo xtask sim` runs 1000, `cargo xtask test-all` 100). The seeds that
//! once failed are kept as scenarios of their own in `sim_found.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nipee_test_support::sim;

fn seeds() -> (u64, u64) {
    let count = std::env::var("NIPEE_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12);
    let first = std::env::var("NIPEE_SIM_FIRST")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (first, count)
}

#[test]
fn every_seed_converges_delivers_exactly_once_and_keeps_removals() {
    let (first, count) = seeds();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(4) as u64;
    let failures: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let mut failed = Vec::new();
                    let mut seed = first + t;
                    while seed < first + count {
                        match sim::run(seed) {
                            Ok(r) => eprintln!("{r}"),
                            Err(e) => {
                                eprintln!("FAILED {e}");
                                failed.push(e);
                            }
                        }
                        seed += threads;
                    }
                    failed
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    eprintln!(
        "simulation: {} passed, {} failed",
        count - failures.len() as u64,
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// `NIPEE_SIM_SEED=N cargo test -p nipee-test-support --test sim one_seed -- --nocapture`
/// prints the whole run of one seed.
#[test]
fn one_seed() {
    let Some(seed) = std::env::var("NIPEE_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    else {
        return;
    };
    let mut s = sim::Sim::new(seed);
    let r = s.run_all();
    for t in &s.trace {
        eprintln!("  {t}");
    }
    for n in &s.nodes {
        eprintln!("{} errors: {:#?}", n.name, n.errors);
        let short: Vec<String> = n.outcomes.iter().filter_map(|o| compact(&s, o)).collect();
        eprintln!("{}: {}", n.name, short.join(" "));
    }
    r.unwrap();
}

fn compact(s: &sim::Sim, o: &nipee::Outcome) -> Option<String> {
    use nipee::Outcome;
    let who = |pk: &Option<nipee_nostr::PublicKey>| {
        pk.and_then(|p| s.node_of(&p))
            .map_or("?".to_owned(), |i| format!("n{i}"))
    };
    Some(match o {
        Outcome::Commit(i) => format!(
            "C{}:{}{}{}",
            i.epoch,
            who(&i.committer),
            if i.rolled_back_from.is_some() {
                "(rollback)"
            } else {
                ""
            },
            if i.removed.is_empty() {
                String::new()
            } else {
                format!(
                    "-{:?}",
                    i.removed.iter().map(|p| who(&Some(*p))).collect::<Vec<_>>()
                )
            }
        ),
        Outcome::OwnCommitConfirmed(i) => format!("OWN{}", i.epoch),
        Outcome::OwnCommitDiscarded { epoch, reason, .. } => format!("DISCARD{epoch}({reason})"),
        Outcome::Joined { epoch, .. } => format!("JOIN{epoch}"),
        Outcome::Removed { by, .. } => format!("REMOVED(by {})", who(by)),
        Outcome::Ignored(r) => match r {
            nipee::IgnoreReason::Duplicate
            | nipee::IgnoreReason::Buffered
            | nipee::IgnoreReason::NotAMember => return None,
            r => format!("{r:?}"),
        },
        _ => return None,
    })
}
