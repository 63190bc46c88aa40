//! `cargo xtask test-all --stress`: the test stage runs beside a CPU hog that keeps every
//! core busy (one spinning thread per core, at normal priority), so a test that depends on
//! timing rather than on events shows up as a failure.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

/// Busy threads, one per core, until dropped.
pub struct Hog {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<u64>>,
}

impl Hog {
    /// Starts one spinning thread per available core.
    pub fn start() -> Hog {
        let n = std::thread::available_parallelism().map_or(2, |n| n.get());
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..n)
            .map(|_| {
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    let mut x: u64 = 1;
                    while !stop.load(Ordering::Relaxed) {
                        for _ in 0..10_000 {
                            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                        }
                    }
                    x
                })
            })
            .collect();
        eprintln!("stress: {n} busy threads beside the tests");
        Hog { stop, threads }
    }
}

impl Drop for Hog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hog_stops_when_dropped() {
        let hog = Hog::start();
        assert!(!hog.threads.is_empty());
        drop(hog);
    }
}
