//! The click limit's rules, one at a time, at chosen instants.

use super::*;

fn address(n: u8) -> Option<IpAddr> {
    Some(IpAddr::from([10, 0, 0, n]))
}

impl Limiter {
    /// [`admit`](Limiter::admit) as a skip: `None` for a click to send, `Repeated` for a
    /// repeat (answered or not).
    fn check(
        &self,
        limit: &ClickLimit,
        address: Option<IpAddr>,
        code: &str,
        now: Instant,
    ) -> Option<Skip> {
        match self.admit(limit, address, code, now) {
            Admission::Send(_) => None,
            Admission::Repeat(_) => Some(Skip::Repeated),
            Admission::Held(skip) => Some(skip),
        }
    }
}

#[test]
fn an_address_gets_its_burst_then_one_click_per_refill() {
    let limiter = Limiter::default();
    let limit = ClickLimit::default()
        .burst(3)
        .refill(Duration::from_secs(10));
    let start = Instant::now();
    let codes = ["a", "b", "c", "d"];
    let admitted: Vec<_> = codes
        .iter()
        .map(|code| limiter.check(&limit, address(1), code, start))
        .collect();
    assert_eq!(admitted, [None, None, None, Some(Skip::RateLimited)]);
    // Another address has its own bucket.
    assert_eq!(limiter.check(&limit, address(2), "a", start), None);
    // Ten seconds later, one more.
    let later = start + Duration::from_secs(10);
    assert_eq!(limiter.check(&limit, address(1), "e", later), None);
    assert_eq!(
        limiter.check(&limit, address(1), "f", later),
        Some(Skip::RateLimited)
    );
    assert_eq!(limiter.counts.rate_limited.load(Ordering::Relaxed), 2);
    assert_eq!(limiter.counts.recorded.load(Ordering::Relaxed), 5);
}

#[test]
fn a_repeat_is_the_same_click_until_its_window_passes() {
    let limiter = Limiter::default();
    let limit = ClickLimit::default().repeat_window(Duration::from_secs(30));
    let start = Instant::now();
    assert_eq!(limiter.check(&limit, address(1), "p", start), None);
    let soon = start + Duration::from_secs(5);
    assert_eq!(
        limiter.check(&limit, address(1), "p", soon),
        Some(Skip::Repeated)
    );
    // Another partner, or another address, is another click.
    assert_eq!(limiter.check(&limit, address(1), "q", soon), None);
    assert_eq!(limiter.check(&limit, address(2), "p", soon), None);
    // Unknown addresses are never taken for one another.
    assert_eq!(limiter.check(&limit, None, "p", soon), None);
    assert_eq!(limiter.check(&limit, None, "p", soon), None);
    let later = start + Duration::from_secs(31);
    assert_eq!(limiter.check(&limit, address(1), "p", later), None);
}

#[test]
fn memory_stays_bounded_whatever_the_addresses() {
    let limiter = Limiter::default();
    let limit = ClickLimit::default();
    let now = Instant::now();
    for n in 0..(3 * MAX_ENTRIES as u32) {
        let address = Some(IpAddr::from(n.to_be_bytes()));
        limiter.check(&limit, address, "p", now);
    }
    let state = limiter.state.lock().unwrap();
    assert!(
        state.buckets.len() <= MAX_ENTRIES,
        "{}",
        state.buckets.len()
    );
    assert!(state.recent.len() <= MAX_ENTRIES, "{}", state.recent.len());
}

/// Visits from ever new addresses (a spoofed proxy header, an IPv6 network's addresses)
/// each find a full bucket: every click still shares the total.
#[test]
fn a_flood_from_many_addresses_meets_the_total() {
    let limiter = Limiter::default();
    let limit = ClickLimit::default().total(50, Duration::from_secs(1));
    let now = Instant::now();
    limiter.learn("p", Verdict::Recorded, now);
    let admitted = (0..1_000u32)
        .filter(|n| {
            let address = Some(IpAddr::from(n.to_be_bytes()));
            limiter.check(&limit, address, "p", now).is_none()
        })
        .count();
    assert_eq!(admitted, 50);
    // Refilled past the half kept for real codes: a code of unknown worth may spend again.
    let later = now + Duration::from_secs(30);
    assert_eq!(limiter.check(&limit, address(1), "q", later), None);
}

/// A flood of invented codes from many addresses (each visit a new address and a new code:
/// neither bound of its own ever sees one twice) spends only the half of the total not kept
/// for the codes the API recorded: the real partners' visitors still get clicks, through the
/// flood, at the total's refill.
#[test]
fn a_flood_of_invented_codes_leaves_half_the_total_to_real_partners() {
    let limiter = Limiter::default();
    let limit = ClickLimit::default().total(101, Duration::from_millis(10));
    let start = Instant::now();
    limiter.learn("real", Verdict::Recorded, start);
    let mut invented = 0u32;
    let mut flood = |limiter: &Limiter, now: Instant, visits: u32| {
        (0..visits)
            .filter(|_| {
                invented += 1;
                let address = Some(IpAddr::from((0x0a00_0000 + invented).to_be_bytes()));
                limiter
                    .check(&limit, address, &format!("inv{invented}"), now)
                    .is_none()
            })
            .count()
    };
    // Of 101 clicks at once, the invented codes get 51 and leave 50.
    assert_eq!(flood(&limiter, start, 1_000), 51);
    let real = |limiter: &Limiter, n: u8, now: Instant| {
        limiter.check(&limit, Some(IpAddr::from([192, 0, 2, n])), "real", now)
    };
    for n in 0..50 {
        assert_eq!(
            real(&limiter, n, start),
            None,
            "visitor {n} of the real partner"
        );
    }
    assert_eq!(real(&limiter, 50, start), Some(Skip::RateLimited));
    // A second on, with the flood going on: the 100 clicks refilled go to the real partner
    // first, up to the half kept; the flood gets what is above it.
    let later = start + Duration::from_secs(1);
    assert_eq!(flood(&limiter, later, 1_000), 50);
    assert_eq!(real(&limiter, 51, later), None);
    // A new partner's first visitors compete with the flood; once the API has recorded one of
    // their clicks, the code is real.
    assert_eq!(
        limiter.check(&limit, address(1), "newcomer", later),
        Some(Skip::RateLimited)
    );
    limiter.learn("newcomer", Verdict::Recorded, later);
    assert_eq!(limiter.check(&limit, address(1), "newcomer", later), None);
    assert!(limiter.counts.total_limited.load(Ordering::Relaxed) >= 1_900);
}

/// A code the API refused makes no click call for 10 minutes, whatever the address.
#[test]
fn a_refused_code_makes_no_call_for_ten_minutes() {
    let limiter = Limiter::default();
    let limit = ClickLimit::default();
    let start = Instant::now();
    assert_eq!(limiter.check(&limit, address(1), "gone", start), None);
    limiter.learn("gone", Verdict::Refused, start);
    let soon = start + Duration::from_secs(60);
    for n in 2..20 {
        assert_eq!(
            limiter.check(&limit, address(n), "gone", soon),
            Some(Skip::RefusedPartner)
        );
    }
    assert_eq!(limiter.counts.refused_partner.load(Ordering::Relaxed), 18);
    assert_eq!(limiter.counts.rate_limited.load(Ordering::Relaxed), 0);
    // Forgotten after 10 minutes: the link may have been made since.
    let later = start + REFUSED_FOR;
    assert_eq!(limiter.check(&limit, address(20), "gone", later), None);
    // A code recorded again is real again.
    limiter.learn("gone", Verdict::Refused, later);
    limiter.learn("gone", Verdict::Recorded, later);
    assert_eq!(limiter.check(&limit, address(21), "gone", later), None);
}

/// A total of one click keeps none for the real codes: every code may spend it.
#[test]
fn a_total_of_one_keeps_nothing_back() {
    let limiter = Limiter::default();
    let limit = ClickLimit::default().total(1, Duration::from_secs(3600));
    assert_eq!(
        limiter.check(&limit, address(1), "new", Instant::now()),
        None
    );
}

/// What the limit learns of the codes stays bounded, whatever codes visitors invent and the
/// API refuses.
#[test]
fn the_verdicts_stay_bounded() {
    let limiter = Limiter::default();
    let now = Instant::now();
    limiter.learn("real", Verdict::Recorded, now);
    for n in 0..(3 * MAX_ENTRIES as u32) {
        limiter.learn(&format!("inv{n}"), Verdict::Refused, now);
    }
    let state = limiter.state.lock().unwrap();
    assert!(
        state.verdicts.len() <= MAX_ENTRIES,
        "{}",
        state.verdicts.len()
    );
    assert_eq!(state.verdict("real", now), Some(Verdict::Recorded));
}

/// The addresses of one IPv6 /64 are one client; an IPv4-mapped address is its IPv4 one.
#[test]
fn an_ipv6_network_is_one_client() {
    let limiter = Limiter::default();
    let limit = ClickLimit::default().burst(2);
    let now = Instant::now();
    let in_net = |host: u16| Some(IpAddr::from([0x2001, 0xdb8, 0, 1, host, host, host, host]));
    assert_eq!(limiter.check(&limit, in_net(1), "a", now), None);
    assert_eq!(limiter.check(&limit, in_net(2), "b", now), None);
    assert_eq!(
        limiter.check(&limit, in_net(3), "c", now),
        Some(Skip::RateLimited)
    );
    let other_net = Some(IpAddr::from([0x2001, 0xdb8, 0, 2, 0, 0, 0, 1]));
    assert_eq!(limiter.check(&limit, other_net, "a", now), None);
    let mapped: IpAddr = "::ffff:10.0.0.9".parse().unwrap();
    assert_eq!(client_of(mapped), IpAddr::from([10, 0, 0, 9]));
}

#[test]
fn none_admits_everything() {
    let limiter = Limiter::default();
    let limit = ClickLimit::none();
    let now = Instant::now();
    for _ in 0..100 {
        assert_eq!(limiter.check(&limit, address(1), "p", now), None);
    }
}

/// A repeat gets the memo of the click it repeats, to read that click's id from; once that
/// click is known to have none, a repeat is skipped; a click whose call never ran has no
/// repeats: the next visit makes its own.
#[test]
fn a_repeat_reads_the_click_it_repeats() {
    let limiter = Limiter::default();
    let limit = ClickLimit::default();
    let now = Instant::now();
    let Admission::Send(Some(first)) = limiter.admit(&limit, address(1), "p", now) else {
        panic!("the first visit is sent, with a memo")
    };
    let Admission::Repeat(repeat) = limiter.admit(&limit, address(1), "p", now) else {
        panic!("the second is a repeat")
    };
    assert!(Arc::ptr_eq(&first, &repeat));
    // An unknown address keeps no memo: its visits are never repeats.
    assert!(matches!(
        limiter.admit(&limit, None, "p", now),
        Admission::Send(None)
    ));
    first.came_to_no_click_id();
    assert!(matches!(
        limiter.admit(&limit, address(1), "p", now),
        Admission::Held(Skip::Repeated)
    ));
    assert_eq!(limiter.counts.repeated.load(Ordering::Relaxed), 2);
    assert_eq!(limiter.counts.recorded.load(Ordering::Relaxed), 2);

    let Admission::Send(Some(never_sent)) = limiter.admit(&limit, address(2), "p", now) else {
        panic!("another address's first visit is sent")
    };
    never_sent.abandon();
    let Admission::Send(Some(next)) = limiter.admit(&limit, address(2), "p", now) else {
        panic!("the next visit makes its own call")
    };
    assert!(!Arc::ptr_eq(&never_sent, &next));
    assert_eq!(limiter.counts.recorded.load(Ordering::Relaxed), 4);
}

/// A visit held back is not remembered: once its address has clicks again, the same visit
/// is sent, not taken for the repeat of a click that was never sent.
#[test]
fn a_visit_held_back_may_try_again() {
    let limiter = Limiter::default();
    let limit = ClickLimit::default()
        .burst(1)
        .refill(Duration::from_secs(10));
    let start = Instant::now();
    assert_eq!(limiter.check(&limit, address(1), "a", start), None);
    assert_eq!(
        limiter.check(&limit, address(1), "b", start),
        Some(Skip::RateLimited)
    );
    let later = start + Duration::from_secs(10);
    assert_eq!(limiter.check(&limit, address(1), "b", later), None);
}

/// A flood on one partner's link from ever new addresses spends that partner's bound, not
/// the total: the other partners' visitors still get their clicks. Counted.
#[test]
fn a_flood_on_one_partner_leaves_the_total_to_the_others() {
    let limiter = Limiter::default();
    let limit = ClickLimit::default()
        .per_partner(100, Duration::from_secs(3600))
        .total(300, Duration::from_secs(3600));
    let now = Instant::now();
    // Real partners' codes, which may spend the whole total.
    for code in ["a", "b", "c", "d", "e"] {
        limiter.learn(code, Verdict::Recorded, now);
    }
    let flooded = (0..1_000u32)
        .filter(|n| {
            let address = Some(IpAddr::from((0x0a00_0000 + n).to_be_bytes()));
            limiter.check(&limit, address, "a", now).is_none()
        })
        .count();
    assert_eq!(flooded, 100);
    let others = (0..150u32)
        .filter(|n| {
            let address = Some(IpAddr::from((0x0b00_0000 + n).to_be_bytes()));
            let code = ["b", "c"][*n as usize % 2];
            limiter.check(&limit, address, code, now).is_none()
        })
        .count();
    assert_eq!(others, 150);
    // Then the total, for every partner.
    let more = (0..200u32)
        .filter(|n| {
            let address = Some(IpAddr::from((0x0c00_0000 + n).to_be_bytes()));
            let code = ["d", "e"][*n as usize % 2];
            limiter.check(&limit, address, code, now).is_none()
        })
        .count();
    assert_eq!(more, 50);
    let counts = &limiter.counts;
    assert_eq!(counts.recorded.load(Ordering::Relaxed), 300);
    assert_eq!(counts.rate_limited.load(Ordering::Relaxed), 1_050);
    assert_eq!(counts.partner_limited.load(Ordering::Relaxed), 900);
    assert_eq!(counts.total_limited.load(Ordering::Relaxed), 150);
}

/// Partner codes are the visitor's to write: their buckets stay bounded too.
#[test]
fn the_partner_buckets_stay_bounded_whatever_the_codes() {
    let limiter = Limiter::default();
    let limit = ClickLimit::default().total(u32::MAX, Duration::ZERO);
    let now = Instant::now();
    for n in 0..(3 * MAX_ENTRIES as u32) {
        let address = Some(IpAddr::from(n.to_be_bytes()));
        limiter.admit(&limit, address, &format!("code{n}"), now);
    }
    let state = limiter.state.lock().unwrap();
    assert!(
        state.partners.len() <= MAX_ENTRIES,
        "{}",
        state.partners.len()
    );
    assert!(state.recent.len() <= MAX_ENTRIES, "{}", state.recent.len());
}

/// A probe of a refused code spends what a visit's call does of the shared bounds (the
/// partner's bucket and the total, not the share kept for real codes), never an address's:
/// a flood of invented codes cannot double the calls the limit lets through.
#[test]
fn a_probe_spends_the_partners_and_the_totals_clicks() {
    let limiter = Limiter::default();
    let limit = ClickLimit::default()
        .per_partner(2, Duration::from_secs(3600))
        .total(100, Duration::from_secs(3600));
    let start = Instant::now();
    assert!(limiter.admit_probe(&limit, "ghost", start));
    assert!(limiter.admit_probe(&limit, "ghost", start));
    assert!(
        !limiter.admit_probe(&limit, "ghost", start),
        "the partner's bucket is spent"
    );
    // The visits of that code meet the same empty bucket; an address's own is untouched.
    assert_eq!(
        limiter.check(&limit, address(1), "ghost", start),
        Some(Skip::RateLimited)
    );
    assert_eq!(limiter.check(&limit, address(1), "other", start), None);
    // The total's half kept for real codes is not the probes' to spend.
    let small = ClickLimit::default().total(3, Duration::from_secs(3600));
    let limiter = Limiter::default();
    assert!(limiter.admit_probe(&small, "a", start));
    assert!(limiter.admit_probe(&small, "b", start));
    assert!(
        !limiter.admit_probe(&small, "c", start),
        "the last click is kept"
    );
}
