//! The wire decoder against the prost path (the reference): random requests written field by
//! field (shuffled, repeated, unknown fields of every wire type, odd map entries), random byte
//! mutations, and recursion-limit edges. Both must give the same table, the same violations in the
//! same order, the same response bytes, or both fail as malformed.

use prost::Message;

use super::*;
use crate::compile::compile;
use crate::proto::criterion::Kind;
use crate::proto::predicate::Operand;
use crate::proto::{self, Criterion, HealthModel, Operator as Op, Predicate, Ruleset};
use crate::rows::table_from_accounts;
use crate::table::Column;

// ---------- a ruleset touching every attribute type and two look-backs ----------

fn pred(attr: &str, op: Op, operand: Option<Operand>, days: i32) -> Criterion {
    Criterion {
        kind: Some(Kind::Predicate(Predicate {
            attribute: attr.into(),
            operator: op as i32,
            operand,
            change_period_days: days,
        })),
    }
}

fn num(attr: &str, op: Op, x: f64) -> Criterion {
    pred(attr, op, Some(Operand::Number(x)), 0)
}

fn metric(attr: &str, weight: i32, good: Criterion, poor: Criterion) -> proto::Metric {
    proto::Metric {
        attribute: attr.into(),
        weight,
        good: Some(good),
        poor: Some(poor),
    }
}

const NAMES: [&str; 7] = [
    "logins",
    "seats",
    "plan",
    "freq",
    "active",
    "last_login",
    "tickets",
];
const LEVELS: [&str; 4] = ["inactive", "monthly", "weekly", "daily"];

fn rules(ignore_missing: bool) -> CompiledRuleset {
    use proto::AttributeType as T;
    let attr = |name: &str, ty: T, dim: &str| proto::Attribute {
        name: name.into(),
        r#type: ty as i32,
        dimension: dim.into(),
        ordinal_levels: if ty == T::Ordinal {
            LEVELS.map(String::from).to_vec()
        } else {
            vec![]
        },
        ..Default::default()
    };
    let catalog = proto::Catalog {
        etag: String::new(),
        attributes: vec![
            attr("logins", T::Number, "usage"),
            attr("seats", T::Number, "usage"),
            attr("plan", T::Text, ""),
            attr("freq", T::Ordinal, "adoption"),
            attr("active", T::Bool, "adoption"),
            attr("last_login", T::Time, "engagement"),
            attr("tickets", T::Number, "engagement"),
        ],
        dimensions: ["usage", "adoption", "engagement"]
            .iter()
            .map(|d| proto::Dimension {
                name: d.to_string(),
                ..Default::default()
            })
            .collect(),
    };
    let metrics = vec![
        metric(
            "logins",
            60,
            num("logins", Op::GreaterThan, 50.0),
            pred("logins", Op::LessThan, Some(Operand::Number(-20.0)), 30),
        ),
        metric(
            "seats",
            40,
            pred("seats", Op::GreaterThan, Some(Operand::Number(10.0)), 7),
            pred("seats", Op::IsEmpty, None, 0),
        ),
        metric(
            "freq",
            50,
            pred("freq", Op::AtLeast, Some(Operand::Text("weekly".into())), 0),
            pred("freq", Op::Equal, Some(Operand::Text("inactive".into())), 0),
        ),
        metric(
            "active",
            50,
            pred("active", Op::IsTrue, None, 0),
            pred("active", Op::IsFalse, None, 0),
        ),
        metric(
            "last_login",
            50,
            pred("last_login", Op::WithinLastDays, Some(Operand::Days(7)), 0),
            pred(
                "last_login",
                Op::MoreThanDaysAgo,
                Some(Operand::Days(60)),
                0,
            ),
        ),
        metric(
            "tickets",
            50,
            num("tickets", Op::LessThanOrEqual, 3.0),
            pred("tickets", Op::GreaterThan, Some(Operand::Number(50.0)), 30),
        ),
    ];
    let dims = [("usage", 40), ("adoption", 35), ("engagement", 25)];
    let profile = |name: &str, segment: Option<Criterion>| proto::Profile {
        name: name.into(),
        segment,
        dimensions: dims
            .iter()
            .map(|(d, w)| proto::ProfileDimension {
                dimension: d.to_string(),
                weight: *w,
            })
            .collect(),
        metrics: metrics.clone(),
        ..Default::default()
    };
    let segment = pred(
        "plan",
        Op::In,
        Some(Operand::TextSet(proto::TextSet {
            values: vec!["pro".into(), "ent".into()],
        })),
        0,
    );
    let r = Ruleset {
        version: "v-wire".into(),
        model: HealthModel::Multidimensional as i32,
        catalog: Some(catalog),
        settings: Some(proto::ModelSettings {
            ignore_missing,
            ..Default::default()
        }),
        profiles: vec![profile("pro", Some(segment)), profile("default", None)],
    };
    compile(&r).unwrap_or_else(|e| panic!("{e}"))
}

// ---------- the reference: prost decoding, as `api` did before the wire decoder ----------

type Reference = (AccountTable<'static>, Vec<(usize, Violation)>, Vec<String>);

fn reference_table(names: &Names<'_>, bytes: &[u8], default_as_of: i128) -> Result<Reference> {
    let req = proto::ScoreAccountsRequest::decode(bytes)?;
    let as_of = req.as_of.map_or(default_as_of, |t| {
        i128::from(t.seconds) * 1_000_000_000 + i128::from(t.nanos)
    });
    let (t, v) = table_from_accounts(names, &req.accounts, as_of).expect("a small table");
    Ok((t, v, req.accounts.into_iter().map(|a| a.id).collect()))
}

fn reference_score(rules: &CompiledRuleset, request: &[u8], threads: usize) -> Result<Vec<u8>> {
    crate::api::score_request_via_prost(rules, request, threads, &crate::cancel::NEVER)
}

/// An outcome that compares: the response bytes, or the error's kind and violations.
#[derive(Debug, PartialEq)]
enum Outcome {
    Ok(Vec<u8>),
    Malformed,
    Invalid(Vec<Violation>),
    Internal(String),
    Other,
}

fn outcome(r: Result<Vec<u8>>) -> Outcome {
    match r {
        Ok(b) => Outcome::Ok(b),
        Err(Error::Malformed(_)) => Outcome::Malformed,
        Err(Error::InvalidAccounts(v)) => Outcome::Invalid(v),
        Err(Error::Internal(m)) => Outcome::Internal(m),
        Err(_) => Outcome::Other,
    }
}

/// A table as comparable bits (NaN payloads included).
fn table_bits(t: &AccountTable<'_>) -> Vec<Vec<u64>> {
    let mut out = vec![vec![t.len as u64]];
    for c in &t.columns {
        out.push(match c {
            Column::Absent => vec![0],
            Column::Number(v) => std::iter::once(1)
                .chain(v.iter().map(|x| x.to_bits()))
                .collect(),
            Column::Code(v) => std::iter::once(2)
                .chain(v.iter().map(|&x| u64::from(x)))
                .collect(),
            Column::Bool(v) => std::iter::once(3)
                .chain(v.iter().map(|&x| u64::from(x)))
                .collect(),
            Column::Time(v) => std::iter::once(4)
                .chain(v.iter().map(|&x| x as u64))
                .collect(),
            #[allow(unreachable_patterns)]
            other => std::iter::once(5)
                .chain(format!("{other:?}").bytes().map(u64::from))
                .collect(),
        });
    }
    out.push(t.cancelled.iter().map(|&c| u64::from(c)).collect());
    for lb in &t.lookbacks {
        out.push(match lb {
            None => vec![u64::MAX],
            Some(v) => v.iter().map(|x| x.to_bits()).collect(),
        });
    }
    out.push(t.bad.iter().map(|&c| u64::from(c)).collect());
    out
}

/// Checks one request both ways; returns whether prost accepted it.
fn check(rules: &CompiledRuleset, bytes: &[u8]) -> bool {
    let names = Names::new(rules);
    let as_of: i128 = 1_700_000_000_000_000_000;
    let reference = reference_table(&names, bytes, as_of);
    let fast = decode_request(&names, bytes, as_of).transpose();
    if let Some(fast) = fast {
        match (&reference, fast) {
            (Ok((t1, v1, ids1)), Ok(d)) => {
                assert_eq!(
                    table_bits(t1),
                    table_bits(&d.table),
                    "tables differ: {bytes:02x?}"
                );
                assert_eq!(v1, &d.violations, "violations differ: {bytes:02x?}");
                assert_eq!(ids1, &d.ids, "ids differ");
            }
            (Err(_), Err(Error::Malformed(_))) => {}
            (r, f) => panic!(
                "prost: {:?}, wire: {:?}, bytes {bytes:02x?}",
                r.as_ref().map(|x| &x.1),
                f.map(|d| d.violations)
            ),
        }
    }
    let threads = 1 + bytes.len() % 2;
    let want = outcome(reference_score(rules, bytes, threads));
    let got = outcome(crate::api::score_request_bytes_with_threads(
        rules, bytes, threads,
    ));
    assert_eq!(want, got, "bytes {bytes:02x?}");
    if let Outcome::Ok(out) = &got {
        // The hand encoder writes exactly what prost would.
        let resp = proto::ScoreAccountsResponse::decode(out.as_slice()).expect("response decodes");
        assert_eq!(&resp.encode_to_vec(), out, "encoding differs from prost");
    }
    reference.is_ok()
}

// ---------- a wire writer ----------

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
}

fn put_varint(b: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        b.push(v as u8 | 0x80);
        v >>= 7;
    }
    b.push(v as u8);
}

fn put_key(b: &mut Vec<u8>, tag: u32, wire: u8) {
    put_varint(b, u64::from(tag) << 3 | u64::from(wire));
}

fn put_len(b: &mut Vec<u8>, tag: u32, body: &[u8]) {
    put_key(b, tag, LEN);
    put_varint(b, body.len() as u64);
    b.extend_from_slice(body);
}

fn put_uint(b: &mut Vec<u8>, tag: u32, v: u64) {
    put_key(b, tag, VARINT);
    put_varint(b, v);
}

fn put_f64(b: &mut Vec<u8>, tag: u32, x: f64) {
    put_key(b, tag, FIXED64);
    b.extend_from_slice(&x.to_le_bytes());
}

/// An unknown field of a random wire type (groups nest up to `depth`).
fn unknown(g: &mut Lcg, depth: u32) -> Vec<u8> {
    let mut b = Vec::new();
    let tag = *g.pick(&[8u32, 9, 15, 16, 100, 2047, 536_870_911]);
    match g.below(if depth > 0 { 5 } else { 4 }) {
        0 => put_uint(&mut b, tag, g.next() << g.below(40)),
        1 => put_f64(&mut b, tag, g.next() as f64),
        2 => {
            let body: Vec<u8> = (0..g.below(6)).map(|_| g.next() as u8).collect();
            put_len(&mut b, tag, &body);
        }
        3 => {
            put_key(&mut b, tag, FIXED32);
            b.extend_from_slice(&(g.next() as u32).to_le_bytes());
        }
        _ => {
            put_key(&mut b, tag, START_GROUP);
            for _ in 0..g.below(3) {
                b.extend(unknown(g, depth - 1));
            }
            put_key(&mut b, tag, END_GROUP);
        }
    }
    b
}

/// Concatenates fields in a random order (usually the given one), with unknown fields between.
fn message(g: &mut Lcg, mut fields: Vec<Vec<u8>>) -> Vec<u8> {
    if g.one_in(3) {
        for i in (1..fields.len()).rev() {
            let j = g.below(i as u64 + 1) as usize;
            fields.swap(i, j);
        }
    }
    if g.one_in(6) {
        for _ in 0..=g.below(2) {
            let at = g.below(fields.len() as u64 + 1) as usize;
            let u = unknown(g, 3);
            fields.insert(at, u);
        }
    }
    fields.concat()
}

fn timestamp(g: &mut Lcg) -> Vec<u8> {
    let mut f = Vec::new();
    let secs: i64 = match g.below(10) {
        0 => i64::MAX,
        1 => -(g.next() as i64) * 1_000_000,
        2 => 0,
        _ => 1_700_000_000 - g.below(100 * 86_400) as i64,
    };
    if secs != 0 || g.one_in(4) {
        let mut b = Vec::new();
        put_uint(&mut b, 1, secs as u64);
        f.push(b);
    }
    if g.one_in(3) {
        let nanos: i32 = match g.below(4) {
            0 => -1,
            1 => 1_000_000_000,
            _ => g.below(1_000_000_000) as i32,
        };
        let mut b = Vec::new();
        put_uint(&mut b, 2, nanos as i64 as u64);
        f.push(b);
    }
    if g.one_in(8) {
        // A second seconds field: the last wins.
        let mut b = Vec::new();
        put_uint(
            &mut b,
            1,
            (1_700_000_000 - g.below(86_400 * 40) as i64) as u64,
        );
        f.push(b);
    }
    message(g, f)
}

fn text(g: &mut Lcg) -> Vec<u8> {
    match g.below(12) {
        0 => vec![],
        1 => vec![0xff, 0xfe],
        2 => "é".as_bytes().to_vec(),
        3 | 4 => g.pick(&["pro", "ent", "basic"]).as_bytes().to_vec(),
        _ => g.pick(&LEVELS).as_bytes().to_vec(),
    }
}

fn value(g: &mut Lcg) -> Vec<u8> {
    let mut f = Vec::new();
    for _ in 0..=u64::from(g.one_in(8)) {
        let mut b = Vec::new();
        match g.below(10) {
            0 => {}
            1 => put_len(&mut b, 2, &text(g)),
            2 => put_uint(&mut b, 3, g.below(3)),
            3 => put_len(&mut b, 4, &timestamp(g)),
            _ => {
                let x = match g.below(12) {
                    0 => f64::NAN,
                    1 => f64::INFINITY,
                    2 => f64::NEG_INFINITY,
                    3 => -0.0,
                    4 => f64::from_bits(0x7ff8_0000_dead_beef),
                    _ => g.below(120) as f64 - 10.0,
                };
                put_f64(&mut b, 1, x);
            }
        }
        f.push(b);
    }
    message(g, f)
}

fn attr_key(g: &mut Lcg) -> Vec<u8> {
    match g.below(14) {
        0 => b"unknown_attr".to_vec(),
        1 => vec![],
        2 => vec![b'l', 0xc3],
        3 => b"logins\0".to_vec(),
        _ => g.pick(&NAMES).as_bytes().to_vec(),
    }
}

fn map_entry(g: &mut Lcg, key: &[u8], val: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    if !g.one_in(12) {
        let mut b = Vec::new();
        put_len(&mut b, 1, key);
        f.push(b);
    }
    if !g.one_in(12) {
        let mut b = Vec::new();
        put_len(&mut b, 2, val);
        f.push(b);
    }
    if g.one_in(15) {
        let mut b = Vec::new();
        put_len(&mut b, 1, &attr_key(g));
        f.push(b);
    }
    message(g, f)
}

fn history(g: &mut Lcg) -> Vec<u8> {
    let mut f = Vec::new();
    for _ in 0..g.below(4) {
        let mut p = Vec::new();
        if !g.one_in(8) {
            let mut b = Vec::new();
            let mut t = Vec::new();
            put_uint(
                &mut t,
                1,
                (1_700_000_000 - 86_400 * g.below(40) as i64) as u64,
            );
            if g.one_in(10) {
                put_uint(&mut t, 2, g.below(3));
            }
            put_len(&mut b, 1, &t);
            p.push(b);
        }
        if !g.one_in(6) {
            let mut b = Vec::new();
            let x = match g.below(10) {
                0 => f64::NAN,
                1 => f64::INFINITY,
                2 => 0.0,
                _ => g.below(100) as f64,
            };
            put_f64(&mut b, 2, x);
            p.push(b);
        }
        let mut b = Vec::new();
        put_len(&mut b, 1, &message(g, p));
        f.push(b);
    }
    message(g, f)
}

fn account(g: &mut Lcg, i: usize) -> Vec<u8> {
    let mut f = Vec::new();
    let id = match g.below(20) {
        0 => vec![],
        3 => format!("{i}-{}", "x".repeat(150)).into_bytes(),
        1 => b"acct-0".to_vec(),
        2 => vec![b'a', 0x80],
        _ => format!("acct-{i}").into_bytes(),
    };
    if !id.is_empty() || g.one_in(2) {
        let mut b = Vec::new();
        put_len(&mut b, 1, &id);
        f.push(b);
    }
    if g.one_in(10) {
        let mut b = Vec::new();
        put_len(&mut b, 1, format!("acct-{}", i + 1).as_bytes());
        f.push(b);
    }
    if g.one_in(4) {
        let mut b = Vec::new();
        put_len(&mut b, 2, b"parent");
        f.push(b);
    }
    if g.one_in(4) {
        let mut b = Vec::new();
        let s: i64 = *g.pick(&[0, 1, 2, 2, 3, -1, 1 << 33]);
        put_uint(&mut b, 3, s as u64);
        f.push(b);
    }
    if g.one_in(4) {
        let mut b = Vec::new();
        put_uint(&mut b, 4, g.next());
        f.push(b);
    }
    for _ in 0..g.below(9) {
        let (k, v) = (attr_key(g), value(g));
        let mut b = Vec::new();
        let entry = map_entry(g, &k, &v);
        if g.one_in(40) {
            // A map field with another wire type: malformed.
            put_key(&mut b, 5, *g.pick(&[VARINT, FIXED64, START_GROUP, FIXED32]));
            put_varint(&mut b, entry.len() as u64);
            b.extend_from_slice(&entry);
        } else {
            put_len(&mut b, 5, &entry);
        }
        f.push(b);
    }
    for _ in 0..g.below(3) {
        let k = if g.one_in(2) {
            b"logins".to_vec()
        } else {
            attr_key(g)
        };
        let mut val = history(g);
        if g.one_in(6) {
            // Two values in one entry: their points are merged.
            let mut second = Vec::new();
            put_len(&mut second, 2, &history(g));
            let mut entry = map_entry(g, &k, &val);
            entry.extend(second);
            let mut b = Vec::new();
            put_len(&mut b, 6, &entry);
            f.push(b);
            continue;
        }
        if g.one_in(10) {
            val.clear();
        }
        let mut b = Vec::new();
        put_len(&mut b, 6, &map_entry(g, &k, &val));
        f.push(b);
    }
    message(g, f)
}

fn request(g: &mut Lcg) -> Vec<u8> {
    let mut f = Vec::new();
    for i in 0..g.below(8) as usize {
        let mut b = Vec::new();
        put_len(&mut b, 1, &account(g, i));
        f.push(b);
    }
    if !g.one_in(20) {
        let mut b = Vec::new();
        let mut t = Vec::new();
        put_uint(&mut t, 1, 1_700_000_000);
        put_len(&mut b, 3, &t);
        if g.one_in(5) {
            let mut t = Vec::new();
            put_uint(&mut t, 2, g.below(1_000_000_000));
            put_len(&mut b, 3, &t);
        }
        f.push(b);
    }
    if g.one_in(2) {
        let mut b = Vec::new();
        put_uint(&mut b, 4, *g.pick(&[0, 1, 2, 3, 4, u64::MAX]));
        f.push(b);
    }
    if g.one_in(4) {
        // The service's options: strings 5 and 7 (rarely not UTF-8), a bool 6.
        let mut b = Vec::new();
        put_len(&mut b, 5, b"models/multidimensional/draft");
        put_uint(&mut b, 6, g.below(3));
        let body: Vec<u8> = if g.one_in(10) {
            (0..g.below(4)).map(|_| g.next() as u8).collect()
        } else {
            b"models/account-health".to_vec()
        };
        put_len(&mut b, 7, &body);
        f.push(b);
    }
    if g.one_in(30) {
        let mut b = Vec::new();
        let mut c = Vec::new();
        put_len(&mut c, 1, b"c-1");
        put_len(&mut b, 2, &c);
        f.push(b);
    }
    message(g, f)
}

fn mutate(g: &mut Lcg, b: &mut Vec<u8>) {
    for _ in 0..=g.below(3) {
        if b.is_empty() {
            b.push(g.next() as u8);
            continue;
        }
        let at = g.below(b.len() as u64) as usize;
        match g.below(6) {
            0 => b[at] ^= 1 << g.below(8),
            1 => b[at] = g.next() as u8,
            2 => {
                let end = (at + 1 + g.below(4) as usize).min(b.len());
                b.drain(at..end);
            }
            3 => {
                let ins: Vec<u8> = (0..=g.below(3)).map(|_| g.next() as u8).collect();
                b.splice(at..at, ins);
            }
            4 => b.truncate(at),
            _ => b[at] = b[at].wrapping_add(1),
        }
    }
}

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
