//! Tests of [`super::Slots`]: who is closed for a new connection, and what is refused at once.

use super::*;
use std::sync::atomic::Ordering;

const LIMIT: Duration = Duration::from_secs(60);

/// A request of `head` bytes with `behind` more bytes already received behind it.
fn request(slot: &Slot, head: u64, behind: u64) -> Result<Busy, Beyond> {
    slot.traffic.received(head + behind);
    slot.begin(head)
}

#[tokio::test]
async fn closes_the_longest_idle_connection_to_admit_a_new_one() {
    let slots = Slots::new(2, LIMIT);
    let first = slots.admit().unwrap();
    let second = slots.admit().unwrap();
    drop(request(&first, 40, 0).unwrap());
    let _busy = request(&second, 40, 0).unwrap();
    let evicted_before = EVICTED.load(Ordering::Relaxed);
    let third = slots.admit().expect("the idle one makes room");
    assert!(EVICTED.load(Ordering::Relaxed) > evicted_before);
    first.close.notified().await;
    assert!(!first.close_now(), "an idle connection closes gracefully");
    drop((first, third));
}

#[tokio::test]
async fn refuses_at_once_when_every_connection_waits_for_one_answer_in_time() {
    let slots = Slots::new(1, LIMIT);
    let only = slots.admit().unwrap();
    let busy = request(&only, 40, 0).unwrap();
    let refused_before = REFUSED.load(Ordering::Relaxed);
    assert!(slots.admit().is_none(), "no wait, no queue");
    assert!(REFUSED.load(Ordering::Relaxed) > refused_before);
    drop(busy);
    drop(only);
    assert!(slots.wait_empty(Instant::now()).await);
}

#[tokio::test]
async fn a_new_connection_is_not_closed_before_its_first_request() {
    let slots = Slots::new(1, LIMIT);
    let _fresh = slots.admit().unwrap();
    assert!(slots.admit().is_none());
}

#[tokio::test]
async fn a_busy_connection_with_requests_queued_is_closed_now_for_a_new_one() {
    let slots = Slots::new(2, LIMIT);
    let scraper = slots.admit().unwrap();
    let pipeliner = slots.admit().unwrap();
    let _scrape = request(&scraper, 40, 0).unwrap();
    let _held = request(&pipeliner, 40, 80).unwrap();
    let fresh = slots.admit().expect("the pipelining connection makes room");
    pipeliner.close.notified().await;
    assert!(pipeliner.close_now(), "closed without finishing its answer");
    assert!(!scraper.close_now());
    // The scraper, one request at a time, is never the one closed.
    drop(pipeliner);
    let _fresh_busy = request(&fresh, 40, 0).unwrap();
    assert!(slots.admit().is_none());
}

#[tokio::test]
async fn pipelining_beyond_its_bound_is_refused_at_once() {
    let slots = Slots::new(4, LIMIT);
    let slot = slots.admit().unwrap();
    slot.traffic.received(40 * u64::from(MAX_PIPELINED + 5));
    for _ in 0..MAX_PIPELINED {
        drop(slot.begin(40).expect("within the bound"));
    }
    assert_eq!(slot.begin(40).err(), Some(Beyond::Pipelining));
    // One request at a time never reaches it.
    let polite = slots.admit().unwrap();
    for _ in 0..3 * MAX_PIPELINED {
        drop(request(&polite, 40, 0).unwrap());
    }
}

#[tokio::test]
async fn a_connection_busy_beyond_the_limit_is_closed_for_a_new_one() {
    let slots = Slots::new(1, Duration::ZERO);
    let stuck = slots.admit().unwrap();
    let _busy = request(&stuck, 40, 0).unwrap();
    assert!(slots.admit().is_some());
    assert!(stuck.close_now());
}

#[tokio::test]
async fn a_connection_busy_nearly_all_its_life_is_closed_when_nothing_else_can_be() {
    let slots = Slots::new(1, LIMIT);
    let hog = slots.admit().unwrap();
    let _busy = request(&hog, 40, 0).unwrap();
    assert!(slots.admit().is_none(), "a first request is within bounds");
    {
        // Its history: three requests back to back over ten seconds.
        let mut state = slots.lock();
        let entry = state.open.get_mut(&hog.id).unwrap();
        let now = Instant::now();
        entry.admitted = now - Duration::from_secs(10);
        entry.request_began = now - Duration::from_millis(100);
        entry.busy_time = Duration::from_millis(9_700);
        entry.served = 3;
    }
    assert!(slots.admit().is_some());
    assert!(hog.close_now());
}
