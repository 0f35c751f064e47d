//! The wire decoder against the prost path (the reference): random requests written field by
//! field (shuffled, repeated, unknown fields of every wire type, odd map entries), random byte
//! mutations, and recursion-limit edges. Both must give the same table, the same violations in the
//! same order, the same response bytes, or both fail as malformed.

use prost::Message;

use super::*;
use crate::compile::compile;
use crate::fuzzing::*;
use crate::proto::predicate::Operand;
use crate::proto::{self, Criterion, HealthModel, Operator as Op, Ruleset};
use crate::table::Column;

#[test]
fn random_requests_match_prost() {
    let rules = [rules(false), rules(true)];
    let mut g = Lcg(0x5eed);
    let (mut ok, mut mutated_ok) = (0, 0);
    for i in 0..20_000 {
        let r = &rules[i % 2];
        let bytes = request(&mut g);
        ok += usize::from(check(r, &bytes));
        let mut m = bytes.clone();
        mutate(&mut g, &mut m);
        mutated_ok += usize::from(check(r, &m));
    }
    // The generator must exercise both outcomes.
    assert!(ok > 5_000, "{ok}");
    assert!(mutated_ok > 1_000, "{mutated_ok}");
}

#[test]
fn canonical_prost_encodings_match() {
    // Requests that prost itself wrote, maps and all.
    let rules = rules(false);
    let mut g = Lcg(11);
    for _ in 0..300 {
        let bytes = request(&mut g);
        if let Ok(req) = proto::ScoreAccountsRequest::decode(bytes.as_slice()) {
            assert!(check(&rules, &req.encode_to_vec()));
        }
    }
}

/// `levels` groups nested in one another.
fn groups(levels: u32) -> Vec<u8> {
    let mut b = Vec::new();
    for _ in 0..levels {
        put_key(&mut b, 9, START_GROUP);
    }
    put_uint(&mut b, 10, 1);
    for _ in 0..levels {
        put_key(&mut b, 9, END_GROUP);
    }
    b
}

#[test]
fn recursion_limit_matches_prost_at_every_level() {
    let rules = rules(false);
    let mut accepted = Vec::new();
    for levels in 90..=101 {
        let deep = groups(levels);
        let mut ts = Vec::new();
        put_uint(&mut ts, 1, 1_700_000_000);
        ts.extend(&deep);
        let mut point = Vec::new();
        put_len(&mut point, 1, &ts);
        put_f64(&mut point, 2, 1.0);
        let point_deep = [point.clone(), deep.clone()].concat();
        let mut hist = Vec::new();
        put_len(&mut hist, 1, &point);
        let hist_deep = [hist.clone(), deep.clone()].concat();
        let mut hist_point_deep = Vec::new();
        put_len(&mut hist_point_deep, 1, &point_deep);
        let mut value_time = Vec::new();
        put_len(&mut value_time, 4, &ts);
        let value_deep = [value_time.clone(), deep.clone()].concat();
        let entry = |key: &str, val: &[u8], extra: &[u8]| {
            let mut e = Vec::new();
            put_len(&mut e, 1, key.as_bytes());
            put_len(&mut e, 2, val);
            e.extend_from_slice(extra);
            e
        };
        let accounts: Vec<Vec<u8>> = vec![
            entry("last_login", &value_time, &deep),
            entry("last_login", &value_deep, &[]),
            entry("unknown", &value_deep, &[]),
            entry("logins", &hist_deep, &[]),
            entry("logins", &hist_point_deep, &[]),
            entry("logins", &hist, &deep),
        ]
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let mut a = Vec::new();
            put_len(&mut a, 1, b"a");
            put_len(&mut a, if i < 3 { 5 } else { 6 }, &e);
            a
        })
        .chain([[b"\x0a\x01a".as_slice(), &deep].concat()])
        .collect();
        let mut row = Vec::new();
        for a in &accounts {
            let mut req = Vec::new();
            put_len(&mut req, 1, a);
            row.push(check(&rules, &req));
        }
        let mut req = deep.clone();
        let mut as_of = Vec::new();
        put_len(&mut as_of, 3, &ts);
        req.extend(&as_of);
        row.push(check(&rules, &req));
        accepted.push(row);
    }
    // Every placement is accepted at 90 levels and refused at 101, each at its own threshold.
    assert!(accepted[0].iter().all(|&a| a));
    assert!(accepted[11].iter().all(|&a| !a));
    let thresholds: Vec<usize> = (0..accepted[0].len())
        .map(|k| accepted.iter().take_while(|r| r[k]).count())
        .collect();
    assert!(
        thresholds.iter().any(|&t| t != thresholds[0]),
        "{thresholds:?}"
    );
}

#[test]
fn duplicate_keys_last_wins_and_status_last_wins() {
    let rules = rules(false);
    let mut a = Vec::new();
    put_len(&mut a, 1, b"x");
    put_uint(&mut a, 3, 2);
    put_uint(&mut a, 3, 1);
    let mut v1 = Vec::new();
    put_f64(&mut v1, 1, f64::INFINITY);
    let mut e1 = Vec::new();
    put_len(&mut e1, 1, b"logins");
    put_len(&mut e1, 2, &v1);
    put_len(&mut a, 5, &e1);
    let mut e2 = Vec::new();
    put_len(&mut e2, 1, b"logins");
    put_len(&mut a, 5, &e2);
    let mut req = Vec::new();
    put_len(&mut req, 1, &a);
    assert!(check(&rules, &req));
    let names = Names::new(&rules);
    let d = decode_request(&names, &req, 0).unwrap().unwrap();
    assert!(d.violations.is_empty(), "{:?}", d.violations);
    assert!(!d.table.is_cancelled(0));
    assert!(d.table.columns[0].is_missing(0));
}

// ---------- timing (run: cargo test --release -p health-core --lib timing -- --ignored --nocapture) ----------

/// benchmarks/workload.py: 20 NUMBER metrics m00..m19 in 5 dimensions, a TEXT `segment`, an
/// "enterprise" profile and a default one, ignore-missing on.
fn bench_rules() -> CompiledRuleset {
    use proto::AttributeType as T;
    let names: Vec<String> = (0..20).map(|i| format!("m{i:02}")).collect();
    let mut attributes: Vec<proto::Attribute> = names
        .iter()
        .enumerate()
        .map(|(i, n)| proto::Attribute {
            name: n.clone(),
            r#type: T::Number as i32,
            dimension: format!("d{}", i / 4),
            ..Default::default()
        })
        .collect();
    attributes.push(proto::Attribute {
        name: "segment".into(),
        r#type: T::Text as i32,
        ..Default::default()
    });
    let catalog = proto::Catalog {
        etag: String::new(),
        attributes,
        dimensions: (0..5)
            .map(|d| proto::Dimension {
                name: format!("d{d}"),
                ..Default::default()
            })
            .collect(),
    };
    let profile = |name: &str, segment: Option<Criterion>, good: f64, poor: f64| proto::Profile {
        name: name.into(),
        segment,
        dimensions: [30, 25, 20, 15, 10]
            .iter()
            .enumerate()
            .map(|(d, &w)| proto::ProfileDimension {
                dimension: format!("d{d}"),
                weight: w,
            })
            .collect(),
        metrics: names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                metric(
                    n,
                    [40, 30, 20, 10][i % 4],
                    num(n, Op::GreaterThanOrEqual, good),
                    num(n, Op::LessThan, poor),
                )
            })
            .collect(),
        ..Default::default()
    };
    let segment = pred(
        "segment",
        Op::Equal,
        Some(Operand::Text("enterprise".into())),
        0,
    );
    let r = Ruleset {
        version: "bench/1".into(),
        model: HealthModel::Multidimensional as i32,
        catalog: Some(catalog),
        settings: Some(proto::ModelSettings {
            poor_max: Some(40),
            good_min: Some(70),
            ignore_missing: true,
            ..Default::default()
        }),
        profiles: vec![
            profile("profile-0", Some(segment), 60.0, 20.0),
            profile("profile-1", None, 70.0, 30.0),
        ],
    };
    compile(&r).unwrap_or_else(|e| panic!("{e}"))
}

/// `build_request_rows`: ids `acct-{i}`, `segment` first, then the present metrics (5 % missing),
/// written field by field as the Python runtime writes them (map entries in insertion order,
/// unless `shuffle`).
fn bench_request(n: usize, shuffle: bool) -> Vec<u8> {
    let mut g = Lcg(20261122);
    let mut out = Vec::new();
    let mut a = Vec::new();
    let mut entries: Vec<Vec<u8>> = Vec::new();
    for i in 0..n {
        a.clear();
        entries.clear();
        put_len(&mut a, 1, format!("acct-{i}").as_bytes());
        let mut v = Vec::new();
        put_len(&mut v, 2, if g.one_in(2) { b"enterprise" } else { b"smb" });
        let mut e = Vec::new();
        put_len(&mut e, 1, b"segment");
        put_len(&mut e, 2, &v);
        entries.push(e);
        for m in 0..20 {
            if g.below(100) < 5 {
                continue;
            }
            let mut v = Vec::new();
            put_f64(&mut v, 1, g.below(1001) as f64 / 10.0);
            let mut e = Vec::new();
            put_len(&mut e, 1, format!("m{m:02}").as_bytes());
            put_len(&mut e, 2, &v);
            entries.push(e);
        }
        if shuffle {
            for k in (1..entries.len()).rev() {
                let j = g.below(k as u64 + 1) as usize;
                entries.swap(k, j);
            }
        }
        for e in &entries {
            put_len(&mut a, 5, e);
        }
        put_len(&mut out, 1, &a);
    }
    let mut t = Vec::new();
    put_uint(&mut t, 1, 1_700_000_000);
    put_len(&mut out, 3, &t);
    out
}

/// This thread's time on a CPU, in ns (Linux; 0 elsewhere): steadier than the wall clock on a
/// shared machine.
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn time_it(label: &str, runs: usize, per: usize, mut f: impl FnMut()) -> f64 {
    f();
    let (mut best, mut best_cpu) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..runs {
        let (t, c) = (std::time::Instant::now(), cpu_ns());
        f();
        best = best.min(t.elapsed().as_secs_f64());
        best_cpu = best_cpu.min((cpu_ns() - c) as f64 / 1e9);
    }
    let (ns, cpu) = (best * 1e9 / per as f64, best_cpu * 1e9 / per as f64);
    println!(
        "{label}: best of {runs}: on-CPU {cpu:.0} ns/account = {:.0} accounts/s (wall {ns:.0} ns)",
        1e9 / cpu
    );
    cpu
}

#[test]
#[ignore]
fn timing_wire_rows() {
    let rules = bench_rules();
    let n = 200_000;
    let names = Names::new(&rules);
    if let Ok(what) = std::env::var("WIRE_PROFILE") {
        let bytes = bench_request(n, false);
        for _ in 0..20 {
            if what == "decode" {
                decode_request(&names, &bytes, 0).unwrap().unwrap();
            } else {
                score_request(&rules, &bytes, 1, &crate::cancel::NEVER)
                    .unwrap()
                    .unwrap();
            }
        }
        return;
    }
    for shuffle in [false, true] {
        let bytes = bench_request(n, shuffle);
        let tag = if shuffle { " (map order shuffled)" } else { "" };
        let want = reference_score(&rules, &bytes, 1).unwrap();
        assert_eq!(
            score_request(&rules, &bytes, 1, &crate::cancel::NEVER)
                .unwrap()
                .unwrap(),
            want
        );
        if !shuffle {
            time_it("rows: prost decode only", 3, n, || {
                proto::ScoreAccountsRequest::decode(bytes.as_slice()).unwrap();
            });
            time_it("rows: prost path end to end, 1 thread", 3, n, || {
                reference_score(&rules, &bytes, 1).unwrap();
            });
        }
        time_it(&format!("rows: wire decode only{tag}"), 5, n, || {
            decode_request(&names, &bytes, 0).unwrap().unwrap();
        });
        let d = decode_request(&names, &bytes, 0).unwrap().unwrap();
        if !shuffle {
            time_it("rows: score + encode only, 1 thread", 5, n, || {
                score_and_encode(
                    &rules,
                    &d.table,
                    &d.ids,
                    d.as_of,
                    ScoreView::Basic,
                    1,
                    &crate::cancel::NEVER,
                )
                .unwrap();
            });
        }
        time_it(
            &format!("rows: wire path end to end, 1 thread{tag}"),
            5,
            n,
            || {
                score_request(&rules, &bytes, 1, &crate::cancel::NEVER)
                    .unwrap()
                    .unwrap();
            },
        );
    }
}

#[test]
fn key_table_finds_every_name_and_nothing_else() {
    for rules in [bench_rules(), rules(false)] {
        let keys = Keys::new(&rules);
        for (i, a) in rules.attributes.iter().enumerate() {
            assert_eq!(keys.get(a.name.as_bytes()), Some(i as u32), "{}", a.name);
            let mut longer = a.name.clone().into_bytes();
            longer.push(b'x');
            assert_eq!(keys.get(&longer), None);
            assert_eq!(keys.get(&longer[1..]), None);
        }
        for k in [&b""[..], b"m", b"m0", b"m000", b"segmenT", b"\xff\xfe"] {
            assert_eq!(keys.get(k), None);
        }
    }
}

#[test]
fn a_tiny_first_account_does_not_size_the_table_for_the_whole_request() {
    // 200 more NUMBER attributes: a row of the table is ~1.7 KB.
    let mut r = ruleset(false);
    let catalog = r.catalog.as_mut().expect("catalog");
    for i in 0..200 {
        catalog.attributes.push(proto::Attribute {
            name: format!("extra{i}"),
            r#type: proto::AttributeType::Number as i32,
            ..Default::default()
        });
    }
    let rules = compile(&r).expect("compiles");
    // One empty account, then 1 MiB of an unknown field: one row, whatever the guess.
    let mut req = Vec::new();
    put_len(&mut req, 1, b"");
    put_len(&mut req, 100, &vec![7u8; 1 << 20]);
    let names = Names::new(&rules);
    let d = decode_request(&names, &req, 0)
        .expect("decodes")
        .expect("row form");
    assert_eq!(d.table.len, 1);
    let held: usize = d
        .table
        .columns
        .iter()
        .map(|c| match c {
            Column::Number(std::borrow::Cow::Owned(v)) => v.capacity() * 8,
            Column::Code(v) => v.capacity() * 4,
            Column::Bool(v) => v.capacity(),
            Column::Time(v) => v.capacity() * 8,
            _ => 0,
        })
        .sum();
    // It was 60,495,465 bytes before the cap (58x the request).
    assert!(
        held <= 4 * req.len(),
        "{held} bytes for a {} byte request",
        req.len()
    );
}
