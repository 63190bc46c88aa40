//! Single-run timings of the main group operations at a configurable size, for groups too
//! large for criterion runs of the baselines: `N=10000 cargo test --release -p nipee-mls
//! --test group_perf -- --ignored --nocapture`. Ignored by default.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use nipee_keypackage::{KeyPackageBundle, KeyPackageOptions};
use nipee_mls::{
    CommitOptions, Group, GroupConfig, GroupId, MlsMessageIn, Proposal, RustCryptoSuite1,
};
use std::time::Instant;

#[test]
#[ignore]
fn timings_of_the_main_operations_at_size_n() {
    let now = 1_750_000_000;
    let n: usize = std::env::var("N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1024);
    let mut rng = rand::rng();
    let t = Instant::now();
    let bundles: Vec<KeyPackageBundle> = (0..n)
        .map(|i| {
            KeyPackageBundle::generate(
                format!("m{i}").as_bytes(),
                &KeyPackageOptions::new(now),
                &mut rng,
            )
            .unwrap()
        })
        .collect();
    println!("kp gen x{n}: {:?}", t.elapsed());
    let mut bundles = bundles.into_iter();
    let mut g = Group::create(
        RustCryptoSuite1::new(),
        GroupConfig::new(now),
        GroupId::new(b"g".to_vec()),
        bundles.next().unwrap(),
        vec![],
    )
    .unwrap();
    let rest: Vec<KeyPackageBundle> = bundles.collect();
    let t = Instant::now();
    let out = g
        .commit(CommitOptions {
            proposals: rest
                .iter()
                .map(|b| Proposal::Add(Box::new(b.key_package().clone())))
                .collect(),
            force_path: true,
            ..Default::default()
        })
        .unwrap();
    println!("add {} (commit): {:?}", n - 1, t.elapsed());
    let t2 = Instant::now();
    g.merge_pending_commit().unwrap();
    println!("add {} (merge): {:?}", n - 1, t2.elapsed());
    println!("add {}: {:?}", n - 1, t.elapsed());
    let w = out.welcome.unwrap();
    let last = rest.into_iter().last().unwrap();
    let t = Instant::now();
    let mut j = Group::join(
        RustCryptoSuite1::new(),
        GroupConfig::new(now),
        &w,
        last.into(),
        None,
        vec![],
    )
    .unwrap();
    println!("join: {:?}", t.elapsed());
    let t = Instant::now();
    let out = g.self_update().unwrap();
    println!("update create: {:?}", t.elapsed());
    let t = Instant::now();
    let tr = j.tree().clone();
    println!("tree clone: {:?}", t.elapsed());
    drop(tr);
    let t = Instant::now();
    let m = MlsMessageIn::parse(&out.commit).unwrap();
    println!("decode ({} bytes): {:?}", out.commit.len(), t.elapsed());
    drop(m);
    let st = j.to_bytes().unwrap();
    let t = Instant::now();
    let mut j2 = Group::from_bytes(RustCryptoSuite1::new(), &st).unwrap();
    println!("state load ({} bytes): {:?}", st.len(), t.elapsed());
    let t = Instant::now();
    j2.process_message(&out.commit).unwrap();
    println!("update process (copy): {:?}", t.elapsed());
    let loops: usize = std::env::var("LOOPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    for _ in 0..loops {
        let mut j3 = Group::from_bytes(RustCryptoSuite1::new(), &st).unwrap();
        let t = Instant::now();
        j3.process_message(&out.commit).unwrap();
        println!("update process (copy again): {:?}", t.elapsed());
        let t = Instant::now();
        drop(j3);
        println!("drop: {:?}", t.elapsed());
    }
    let t = Instant::now();
    j.process_message(&out.commit).unwrap();
    println!("update process: {:?}", t.elapsed());

    // Application messages in the new epoch, each parsed, staged and merged.
    g.merge_pending_commit().unwrap();
    let messages: Vec<Vec<u8>> = (0..100)
        .map(|_| g.create_message(&[7u8; 100], b"").unwrap())
        .collect();
    let t = Instant::now();
    for m in &messages {
        j.process_message(m).unwrap();
    }
    println!("application process (100 B): {:?} each", t.elapsed() / 100);
}
