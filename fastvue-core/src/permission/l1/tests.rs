//! Tests of the L1 cache.

use super::*;
use std::sync::mpsc;

use super::memo::NAME_MEMO_BYTES;
use crate::permission::catalog::Catalog;
use crate::permission::set::PermissionSet;

fn set(ids: &[u32]) -> Arc<PermissionSet> {
    Arc::new(PermissionSet::new(ids.iter().copied()))
}

fn fill(cache: &L1Cache, key: CacheKey, ids: &[u32]) -> bool {
    let t = cache.begin_fill(key);
    cache.complete_fill(t, set(ids))
}

fn k(u: i64, c: i64) -> CacheKey {
    CacheKey::new(u, c)
}

/// Checks that every shard's per-user company lists match its entries
/// exactly; returns the number of entries.
fn consistent_total(cache: &L1Cache) -> u64 {
    let mut total = 0u64;
    for shard in cache.store.shards.iter() {
        let data = shard.read();
        let listed: usize = data.users.values().map(|c| c.len()).sum();
        assert_eq!(listed, data.entries.len());
        for (user, companies) in data.users.iter() {
            for c in companies.iter() {
                assert!(data.entries.contains_key(&CacheKey::new(*user, *c)));
            }
        }
        total += data.entries.len() as u64;
    }
    total
}

#[test]
fn subscribers_receive_every_applied_invalidation() {
    let cache = L1Cache::new(1000, Duration::from_secs(60));
    // Without a subscriber nothing is buffered.
    cache.invalidate_user(9);
    let mut rx = cache.subscribe();
    assert!(fill(&cache, k(1, 1), &[1]));
    cache.invalidate_key(k(1, 1));
    cache.invalidate_user(2);
    cache.invalidate_company(3);
    cache.invalidate_all();
    cache.apply(&Invalidation::User(4), "remote");
    let got: Vec<Invalidation> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
    assert_eq!(
        got,
        [
            Invalidation::Keys(vec![k(1, 1)]),
            Invalidation::User(2),
            Invalidation::Company(3),
            Invalidation::All,
            Invalidation::User(4),
        ]
    );
    // The entry was gone when its notification was sent.
    assert!(cache.get(k(1, 1)).is_none());
}

#[test]
fn a_suspended_cache_holds_nothing_stores_nothing_and_no_ticket_is_current() {
    let cache = L1Cache::new(1000, Duration::from_secs(60));
    let mut rx = cache.subscribe();
    assert!(fill(&cache, k(1, 1), &[1]));
    let early = cache.begin_fill(k(2, 1));
    assert!(cache.is_current(&early));
    assert!(cache.suspend());
    assert!(!cache.suspend(), "suspending twice reports it was already");
    assert!(cache.is_suspended());
    assert!(cache.get(k(1, 1)).is_none());
    assert_eq!(rx.try_recv().ok(), Some(Invalidation::All));
    // A fill begun before or during the suspension stores nothing.
    assert!(!cache.is_current(&early));
    assert!(!cache.complete_fill(early, set(&[2])));
    let during = cache.begin_fill(k(3, 1));
    assert!(!cache.complete_fill(during, set(&[3])));
    assert!(!fill(&cache, k(3, 1), &[3]));
    assert_eq!(cache.entry_count(), 0);
    // Resuming drops once more: a ticket taken while suspended stays stale.
    let stale = cache.begin_fill(k(4, 1));
    assert!(cache.resume());
    assert!(!cache.resume());
    assert!(!cache.complete_fill(stale, set(&[4])));
    assert!(fill(&cache, k(4, 1), &[4]));
    assert!(cache.get(k(4, 1)).is_some());
}

#[test]
fn hit_and_miss() {
    let cache = L1Cache::new(1000, Duration::from_secs(60));
    assert!(cache.get(k(1, 1)).is_none());
    assert_eq!(cache.contains(k(1, 1), 3), None);
    assert!(fill(&cache, k(1, 1), &[3, 1, 2]));
    assert!(fill(&cache, k(1, 2), &[9]));
    let got = cache.get(k(1, 1)).unwrap();
    assert_eq!(got.ids(), &[1, 2, 3]);
    assert_eq!(cache.contains(k(1, 1), 3), Some(true));
    assert_eq!(cache.contains(k(1, 1), 9), Some(false));
    assert_eq!(cache.contains(k(1, 2), 9), Some(true));
    assert_eq!(cache.with_set(k(1, 2), |s| s.len()), Some(1));
    assert!(cache.get(k(2, 1)).is_none());
    assert!(cache.get(k(1, 3)).is_none());
    assert_eq!(cache.entry_count(), 2);
    let stats = cache.stats();
    assert_eq!(stats.hits, 5);
    assert_eq!(stats.misses, 4);
    // Refilling a key replaces it.
    assert!(fill(&cache, k(1, 1), &[7]));
    assert_eq!(cache.get(k(1, 1)).unwrap().ids(), &[7]);
    assert_eq!(cache.entry_count(), 2);
}

/// The thread-local hot-key memo never outlives an invalidation, a
/// replacement or the TTL, and never mixes two caches.
#[test]
fn hot_key_memo_is_voided() {
    let a = L1Cache::new(1000, Duration::from_secs(10));
    let b = L1Cache::new(1000, Duration::from_secs(10));
    let key = k(1, 1);
    fill(&a, key, &[1]);
    fill(&b, key, &[2]);
    for _ in 0..3 {
        assert_eq!(a.contains(key, 1), Some(true));
        assert_eq!(b.contains(key, 2), Some(true));
    }
    // Now memoised on this thread (same key twice in a row).
    for _ in 0..3 {
        assert_eq!(a.contains(key, 1), Some(true));
    }
    assert_eq!(b.contains(key, 1), Some(false), "caches mixed");
    for _ in 0..3 {
        assert_eq!(a.contains(key, 1), Some(true));
    }
    // Invalidation from another thread voids this thread's memo.
    std::thread::scope(|s| {
        s.spawn(|| assert_eq!(a.invalidate_user(1), 1));
    });
    assert_eq!(a.contains(key, 1), None);
    assert!(a.get(key).is_none());
    // Refill, memoise, replace by a fill: the new set is seen.
    fill(&a, key, &[1]);
    for _ in 0..3 {
        assert_eq!(a.contains(key, 1), Some(true));
    }
    fill(&a, key, &[5]);
    assert_eq!(a.contains(key, 1), Some(false));
    assert_eq!(a.get(key).unwrap().ids(), &[5]);
    // Expiry applies to the memo too.
    for _ in 0..3 {
        assert!(a.get(key).is_some());
    }
    a.advance_clock_for_testing(10);
    assert!(a.get(key).is_none());
    assert_eq!(a.contains(key, 5), None);
    // Every other scope voids it as well.
    type Inv = fn(&L1Cache) -> u64;
    let scopes: [Inv; 4] = [
        |c| c.invalidate_key(k(1, 1)),
        |c| c.invalidate_keys(&[k(1, 1)]),
        |c| c.invalidate_company(1),
        |c| c.invalidate_all(),
    ];
    for invalidate in scopes {
        fill(&a, key, &[1]);
        for _ in 0..3 {
            assert_eq!(a.contains(key, 1), Some(true));
        }
        assert_eq!(invalidate(&a), 1);
        assert_eq!(a.contains(key, 1), None);
    }
}

/// The codename memo answers exactly what the catalogue would: unknown codenames
/// are misses until learned, each catalogue keeps its own ids, and codenames too
/// long for the memo are still resolved.
#[test]
fn contains_codename_off_the_memo_resolves_after_the_probe_and_counts_hits_and_misses() {
    let cache = L1Cache::new(1000, Duration::from_secs(60));
    let (a, b, absent) = (k(1, 1), k(2, 1), k(3, 1));
    fill(&cache, a, &[1]);
    fill(&cache, b, &[2]);
    let catalog = Catalog::default();
    catalog.learn([(1, "user.read"), (2, "user.delete")]);
    // Alternating keys are never memoised: every check takes the shard probe.
    for _ in 0..3 {
        assert_eq!(
            cache.contains_codename(a, "user.read", &catalog),
            Some(true)
        );
        assert_eq!(
            cache.contains_codename(b, "user.read", &catalog),
            Some(false)
        );
        assert_eq!(
            cache.contains_codename(a, "user.delete", &catalog),
            Some(false)
        );
        assert_eq!(
            cache.contains_codename(b, "user.delete", &catalog),
            Some(true)
        );
        // A codename the catalogue does not know is held by no cached set.
        assert_eq!(cache.contains_codename(a, "nope.nope", &catalog), None);
        assert_eq!(cache.contains_codename(absent, "user.read", &catalog), None);
    }
    let stats = cache.stats();
    // Five lookups found their entry and one missed, three times over.
    assert_eq!((stats.hits, stats.misses), (15, 3));
}

#[test]
fn off_the_memo_the_threads_catalogue_copy_follows_learning_and_switches_catalogues() {
    let cache = L1Cache::new(1000, Duration::from_secs(60));
    let (a, b) = (k(1, 1), k(2, 1));
    fill(&cache, a, &[1, 3]);
    fill(&cache, b, &[2]);
    let catalog = Catalog::default();
    catalog.learn([(1, "user.read")]);
    // Alternating keys: every check resolves its codename through the memo's copy.
    for _ in 0..2 {
        assert_eq!(
            cache.contains_codename(a, "user.read", &catalog),
            Some(true)
        );
        assert_eq!(cache.contains_codename(b, "role.read", &catalog), None);
    }
    // The copy was taken before "role.read" and the long codename were learned: the
    // next checks must see them.
    let long = format!("report_{}.export", "x".repeat(40));
    catalog.learn([(2, "role.read"), (3, long.as_str())]);
    for _ in 0..2 {
        assert_eq!(
            cache.contains_codename(a, "user.read", &catalog),
            Some(true)
        );
        assert_eq!(
            cache.contains_codename(b, "role.read", &catalog),
            Some(true)
        );
        assert_eq!(cache.contains_codename(a, &long, &catalog), Some(true));
        assert_eq!(cache.contains_codename(b, &long, &catalog), Some(false));
    }
    // Another catalogue maps the same codenames to other ids; checks that switch
    // between the two answer from each one's own mapping.
    let other = Catalog::default();
    other.learn([(2, "user.read"), (1, "role.read")]);
    for _ in 0..2 {
        assert_eq!(cache.contains_codename(a, "user.read", &other), Some(false));
        assert_eq!(
            cache.contains_codename(b, "user.read", &catalog),
            Some(false)
        );
        assert_eq!(cache.contains_codename(a, "role.read", &other), Some(true));
        assert_eq!(cache.contains_codename(b, "user.read", &other), Some(true));
    }
}

#[test]
fn contains_codename_answers_what_the_catalogue_maps() {
    let cache = L1Cache::new(1000, Duration::from_secs(60));
    let key = k(1, 1);
    fill(&cache, key, &[1, 2, 7]);
    let catalog = Catalog::default();
    for _ in 0..3 {
        assert_eq!(cache.contains_codename(key, "user.read", &catalog), None);
    }
    catalog.learn([(1, "user.read"), (3, "user.delete")]);
    for _ in 0..3 {
        assert_eq!(
            cache.contains_codename(key, "user.read", &catalog),
            Some(true)
        );
    }
    for _ in 0..3 {
        assert_eq!(
            cache.contains_codename(key, "user.delete", &catalog),
            Some(false)
        );
    }
    let other = Catalog::default();
    other.learn([(5, "user.read"), (2, "user.delete")]);
    for _ in 0..3 {
        assert_eq!(
            cache.contains_codename(key, "user.read", &other),
            Some(false)
        );
        assert_eq!(
            cache.contains_codename(key, "user.read", &catalog),
            Some(true)
        );
    }
    // On the memoised key, an unknown codename is remembered as unknown under the
    // catalogue's stamp; learning it moves the stamp, so the memo does not keep
    // answering "unknown".
    for _ in 0..3 {
        assert_eq!(cache.contains_codename(key, "role.read", &catalog), None);
    }
    catalog.learn([(2, "role.read")]);
    assert_eq!(
        cache.contains_codename(key, "role.read", &catalog),
        Some(true)
    );
    // Codenames shorter than a word, and of exactly one word, are compared byte for
    // byte: a name differing in its last byte from the remembered one is not taken
    // for it. Each is asked twice in a row (the second answer comes from the memo).
    catalog.learn([(4, "a.b"), (5, "abc.defg")]);
    let expected = [
        ("a.b", Some(false)),
        ("a.c", None),
        ("abc.defg", Some(false)),
        ("abc.defh", None),
        ("user.read", Some(true)),
    ];
    for (name, held) in expected.into_iter().cycle().take(15) {
        for _ in 0..2 {
            assert_eq!(cache.contains_codename(key, name, &catalog), held, "{name}");
        }
    }
    let long = format!("{}.{}", "r".repeat(50), "a".repeat(NAME_MEMO_BYTES));
    catalog.learn([(7, long.as_str())]);
    for _ in 0..3 {
        assert_eq!(cache.contains_codename(key, &long, &catalog), Some(true));
    }
    assert_eq!(
        cache.contains_codename(k(2, 1), "user.read", &catalog),
        None
    );
}

#[test]
fn identical_sets_are_shared() {
    let cache = L1Cache::new(1000, Duration::from_secs(60));
    fill(&cache, k(1, 1), &[1, 2, 3]);
    fill(&cache, k(2, 5), &[3, 2, 1]);
    let a = cache.get(k(1, 1)).unwrap();
    let b = cache.get(k(2, 5)).unwrap();
    assert!(Arc::ptr_eq(&a, &b));
}

#[test]
fn many_companies_per_user_sorted_lookup() {
    let cache = L1Cache::new(10_000, Duration::from_secs(60));
    // Insert in a scrambled order, more than LINEAR_SCAN_MAX companies.
    for i in 0..100i64 {
        let c = (i * 37) % 100;
        assert!(fill(&cache, k(7, c), &[c as u32]));
    }
    for c in 0..100i64 {
        assert_eq!(cache.contains(k(7, c), c as u32), Some(true), "company {c}");
    }
    assert!(cache.get(k(7, 100)).is_none());
    assert_eq!(cache.entry_count(), 100);
}

#[test]
fn ttl_expiry_uses_the_coarse_clock() {
    let cache = L1Cache::new(1000, Duration::from_secs(10));
    fill(&cache, k(1, 1), &[1]);
    cache.advance_clock_for_testing(5);
    fill(&cache, k(1, 2), &[2]);
    assert!(cache.get(k(1, 1)).is_some());
    cache.advance_clock_for_testing(5);
    // k(1,1) is 10 s old: expired. k(1,2) is 5 s old.
    assert!(cache.get(k(1, 1)).is_none());
    assert_eq!(cache.contains(k(1, 1), 1), None);
    assert!(cache.get(k(1, 2)).is_some());
    cache.advance_clock_for_testing(5);
    assert!(cache.get(k(1, 2)).is_none());
    // A refill after expiry works, and prunes the expired slots.
    assert!(fill(&cache, k(1, 3), &[3]));
    assert_eq!(cache.entry_count(), 1);
    assert!(cache.get(k(1, 3)).is_some());
}

#[test]
fn capacity_bound_holds() {
    let max = 100;
    let cache = L1Cache::new(max, Duration::from_secs(600));
    for u in 0..150i64 {
        fill(&cache, k(u, 1), &[1]);
        fill(&cache, k(u, 2), &[2]);
    }
    cache.run_pending_tasks();
    cache.run_pending_tasks();
    let n = cache.entry_count();
    assert!(n <= max, "entry_count {n} > {max}");
    assert!(n >= max / 2, "evicted far too much: {n}");
    // The most recently filled users survive (LRU over fills).
    assert!(cache.get(k(149, 1)).is_some());
    assert!(cache.get(k(149, 2)).is_some());
    assert!(cache.get(k(0, 1)).is_none());
    // Fast map and moka agree.
    let slots = consistent_total(&cache);
    assert_eq!(slots, n);
    assert!(cache.index.weighted_size() <= max);
}

#[test]
fn a_user_bigger_than_the_cache_is_not_kept() {
    let cache = L1Cache::new(3, Duration::from_secs(600));
    for c in 0..5 {
        fill(&cache, k(1, c), &[1]);
    }
    cache.run_pending_tasks();
    assert!(cache.entry_count() <= 3);
}

fn populate(cache: &L1Cache) {
    // users 1..=3, companies 10..=12: 9 entries.
    for u in 1..=3 {
        for c in 10..=12 {
            assert!(fill(cache, k(u, c), &[u as u32, c as u32]));
        }
    }
    assert_eq!(cache.entry_count(), 9);
}

fn present(cache: &L1Cache) -> Vec<(i64, i64)> {
    let mut v = Vec::new();
    for u in 1..=3 {
        for c in 10..=12 {
            if cache.get(k(u, c)).is_some() {
                v.push((u, c));
            }
        }
    }
    v
}

#[test]
fn invalidate_key_and_keys() {
    let cache = L1Cache::new(1000, Duration::from_secs(60));
    populate(&cache);
    assert_eq!(cache.invalidate_key(k(1, 10)), 1);
    assert_eq!(cache.invalidate_key(k(1, 10)), 0);
    assert_eq!(cache.invalidate_key(k(9, 9)), 0);
    assert_eq!(
        cache.invalidate_keys(&[k(2, 11), k(3, 12), k(3, 99), k(2, 11)]),
        2
    );
    assert_eq!(cache.entry_count(), 6);
    let p = present(&cache);
    assert!(!p.contains(&(1, 10)) && !p.contains(&(2, 11)) && !p.contains(&(3, 12)));
    assert_eq!(p.len(), 6);
    // Removing a user's last slot drops the user from moka too.
    assert_eq!(cache.invalidate_keys(&[k(1, 11), k(1, 12)]), 2);
    cache.run_pending_tasks();
    assert!(!cache.index.contains_key(&1));
    assert_eq!(cache.index.get(&2), Some(2));
}

#[test]
fn invalidate_user() {
    let cache = L1Cache::new(1000, Duration::from_secs(60));
    populate(&cache);
    assert_eq!(cache.invalidate_user(2), 3);
    assert_eq!(cache.invalidate_user(2), 0);
    let p = present(&cache);
    assert_eq!(p.len(), 6);
    assert!(p.iter().all(|&(u, _)| u != 2));
    assert_eq!(cache.entry_count(), 6);
}

#[test]
fn invalidate_company() {
    let cache = L1Cache::new(1000, Duration::from_secs(60));
    populate(&cache);
    fill(&cache, k(4, 11), &[1]); // a user whose only slot goes
    assert_eq!(cache.invalidate_company(11), 4);
    assert_eq!(cache.invalidate_company(11), 0);
    let p = present(&cache);
    assert_eq!(p.len(), 6);
    assert!(p.iter().all(|&(_, c)| c != 11));
    assert!(cache.get(k(4, 11)).is_none());
    assert_eq!(cache.entry_count(), 6);
    cache.run_pending_tasks();
    assert!(!cache.index.contains_key(&4));
    assert_eq!(cache.index.get(&1), Some(2));
}

#[test]
fn invalidate_all() {
    let cache = L1Cache::new(1000, Duration::from_secs(60));
    populate(&cache);
    assert_eq!(cache.invalidate_all(), 9);
    assert_eq!(cache.invalidate_all(), 0);
    assert!(present(&cache).is_empty());
    assert_eq!(cache.entry_count(), 0);
    // The cache is usable afterwards.
    assert!(fill(&cache, k(1, 10), &[1]));
    cache.run_pending_tasks();
    assert!(cache.get(k(1, 10)).is_some());
    assert_eq!(cache.index.get(&1), Some(1));
}

#[test]
fn invalidate_by_scope_enum() {
    let cache = L1Cache::new(1000, Duration::from_secs(60));
    populate(&cache);
    assert_eq!(cache.invalidate(&Invalidation::Keys(vec![k(1, 10)])), 1);
    assert_eq!(cache.invalidate(&Invalidation::User(2)), 3);
    // users 1 and 3 still have company 12
    assert_eq!(cache.invalidate(&Invalidation::Company(12)), 2);
    assert_eq!(cache.invalidate(&Invalidation::All), 3);
}

/// begin_fill, invalidation, complete_fill: the stale set is refused.
#[test]
fn fill_racing_an_invalidation_is_not_stored() {
    type Inv = fn(&L1Cache) -> u64;
    let scopes: [(&str, Inv); 5] = [
        ("key", |c| c.invalidate_key(k(1, 10))),
        ("keys", |c| c.invalidate_keys(&[k(1, 10)])),
        ("user", |c| c.invalidate_user(1)),
        ("company", |c| c.invalidate_company(10)),
        ("all", |c| c.invalidate_all()),
    ];
    for (name, invalidate) in scopes {
        let cache = L1Cache::new(1000, Duration::from_secs(60));
        let ticket = cache.begin_fill(k(1, 10));
        // ... the slow database read happens here; meanwhile a write
        // commits and invalidates:
        let _ = invalidate(&cache);
        assert!(
            !cache.complete_fill(ticket, set(&[1, 2])),
            "{name}: stale fill stored"
        );
        assert!(cache.get(k(1, 10)).is_none(), "{name}: stale set served");
        assert_eq!(cache.entry_count(), 0, "{name}");
        // A fill that begins after the invalidation is stored.
        assert!(fill(&cache, k(1, 10), &[1]), "{name}: fresh fill refused");
        assert!(cache.get(k(1, 10)).is_some());
    }
}

/// Unrelated invalidations do not block a fill.
#[test]
fn unrelated_invalidation_does_not_block_fill() {
    let cache = L1Cache::new(1000, Duration::from_secs(60));
    let ticket = cache.begin_fill(k(1, 10));
    cache.invalidate_user(2);
    cache.invalidate_company(11);
    cache.invalidate_key(k(2, 10));
    // (a stripe collision would only cause a harmless refusal; these
    // ids do not collide)
    assert!(cache.complete_fill(ticket, set(&[1])));
    assert!(cache.get(k(1, 10)).is_some());
}

/// The interleaving "generation check passed, then an invalidation
/// lands, then the insert": the invalidation bumps its generation while
/// the fill sits between check and insert (held there by a hook); it
/// then blocks on the shard lock and removes the slot right after the
/// insert. Whatever the interleaving, the stale set is never served
/// once the invalidation has returned.
#[test]
fn invalidation_between_check_and_insert_removes_the_stale_set() {
    type Inv = fn(&L1Cache) -> u64;
    let scopes: [(&str, Inv); 4] = [
        ("key", |c| c.invalidate_key(k(1, 10))),
        ("user", |c| c.invalidate_user(1)),
        ("company", |c| c.invalidate_company(10)),
        ("all", |c| c.invalidate_all()),
    ];
    for (name, invalidate) in scopes {
        let cache = L1Cache::new(1000, Duration::from_secs(60));
        let before = cache.begin_fill(k(1, 10));
        let (checked_tx, checked_rx) = mpsc::channel::<()>();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let go_rx = Mutex::new(go_rx);
        cache.set_fill_hook(Some(Box::new(move || {
            checked_tx.send(()).unwrap();
            go_rx.lock().unwrap().recv().unwrap();
        })));
        std::thread::scope(|s| {
            let filler = s.spawn(|| cache.complete_fill(before, set(&[1, 2])));
            checked_rx.recv().unwrap(); // check passed, lock held
            let invalidator = s.spawn(|| invalidate(&cache));
            // Wait until the invalidation has bumped its generation
            // (it then blocks on the shard lock held by the filler).
            while cache.generations.unchanged(&before) {
                std::thread::yield_now();
            }
            go_tx.send(()).unwrap(); // let the insert happen
            assert!(filler.join().unwrap(), "{name}: fill had passed its check");
            let dropped = invalidator.join().unwrap();
            assert_eq!(
                dropped, 1,
                "{name}: invalidation must drop the racing insert"
            );
        });
        cache.set_fill_hook(None);
        assert!(cache.get(k(1, 10)).is_none(), "{name}: stale set served");
        assert_eq!(cache.entry_count(), 0, "{name}");
    }
}

#[test]
fn ticker_stops_when_cache_dropped() {
    let cache = L1Cache::new(10, Duration::from_secs(60));
    let weak = Arc::downgrade(&cache);
    drop(cache);
    assert!(weak.upgrade().is_none());
}

#[test]
fn ticker_advances_clock() {
    let cache = L1Cache::new(10, Duration::from_secs(60));
    let deadline = Instant::now() + Duration::from_secs(5);
    while cache.clock.load(Ordering::Relaxed) == 0 {
        assert!(
            Instant::now() < deadline,
            "ticker did not advance the clock"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn concurrent_fills_and_invalidations_keep_index_consistent() {
    let cache = L1Cache::new(50, Duration::from_secs(600));
    std::thread::scope(|s| {
        for t in 0..4i64 {
            let cache = &cache;
            s.spawn(move || {
                for i in 0..2000i64 {
                    let u = (i * 7 + t) % 40;
                    let c = i % 5;
                    match i % 11 {
                        0 => {
                            cache.invalidate_user(u);
                        }
                        1 if t == 0 => {
                            cache.invalidate_company(c);
                        }
                        _ => {
                            fill(cache, k(u, c), &[c as u32]);
                        }
                    }
                    let _ = cache.get(k(u, c));
                }
            });
        }
    });
    cache.run_pending_tasks();
    cache.run_pending_tasks();
    let slots = consistent_total(&cache);
    assert_eq!(slots, cache.entry_count());
    assert!(cache.entry_count() <= 50, "{}", cache.entry_count());
    // Every user in the shards is indexed by moka with its slot count
    // (no orphan escapes the capacity bound).
    for shard in cache.store.shards.iter() {
        for (user, v) in shard.read().users.iter() {
            assert_eq!(cache.index.get(user), Some(v.len() as u32), "user {user}");
        }
    }
}
