//! Crash points: the client dies just before and just after each of its write batches in a
//! scenario (create a group, chat, rotate, an invite by another admin, a removal, a commit
//! race, a leave committed, more chat, and the host's acknowledgements of its inbox); it is
//! reloaded from storage, its host hands the app what the inbox still holds, and the
//! scenario finishes. Every point must end with no message lost or duplicated in the app,
//! no fork, no commit left pending and nothing left in the inbox.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nipee_test_support::crash::{Point, run_point};

#[test]
fn the_client_survives_a_crash_before_and_after_every_write_batch() {
    let clean = run_point(None).unwrap();
    assert_eq!(clean.crashes, 0);
    assert_eq!(clean.redelivered, 0);
    let mut failed = Vec::new();
    let mut survived = 0;
    let mut redelivered = 0;
    let mut recovered = 0;
    for k in 0..clean.batches {
        for point in [Point::Before, Point::After] {
            match run_point(Some((k, point))) {
                Ok(run) => {
                    assert_eq!(run.crashes, 1, "batch {k} {point:?} did not crash");
                    survived += 1;
                    redelivered += run.redelivered;
                    recovered += run.recovered;
                }
                Err(e) => failed.push(format!("batch {k} {point:?}: {e}")),
            }
        }
    }
    eprintln!(
        "crash points: {survived} survived of {} ({} write batches, before and after each); \
         {recovered} messages reached the app from the inbox after a restart, {redelivered} \
         were handed to it again (recognised by their inner event id)",
        2 * clean.batches,
        clean.batches
    );
    assert!(failed.is_empty(), "{}", failed.join("\n"));
    assert_eq!(survived, 2 * clean.batches);
    // The gap the inbox closes: a crash right after the batch that processed a message
    // leaves it to the inbox; a crash before an acknowledgement hands it over twice.
    assert!(recovered > 0, "no crash point left a message to the inbox");
    assert!(
        redelivered > 0,
        "no crash point came between delivery and acknowledgement"
    );
}
