//! Fuzz targets for every byte parser of the core, and the generators and checks they share
//! with the tests (compiled for tests, and with the `fuzzing` feature for `health_core_rs/fuzz`).
//!
//! Each target takes arbitrary bytes and panics only on a bug: a panic inside the core, an
//! `Error::Internal`, or two decoders that disagree (the hand-written row decoder `wire` against
//! prost's). The same targets run three ways:
//! - `cargo test` (CI, `make test`): `tests::every_target_survives_random_and_mutated_inputs`
//!   runs each over its seeds and a few thousand random mutations, and replays every file under
//!   `health_core_rs/fuzz/regressions/<target>/`;
//! - `make fuzz` (long, nightly Rust + cargo-fuzz): libFuzzer with AddressSanitizer on each
//!   target, from the seeds `make fuzz-seeds` writes;
//! - `cargo fuzz run <target>` by hand (see `health_core_rs/fuzz/README.md`).

use prost::Message;

use crate::compile::compile;
use crate::error::{Error, Result, Violation};
use crate::ir::CompiledRuleset;
use crate::proto::criterion::Kind;
use crate::proto::predicate::Operand;
use crate::proto::{self, Criterion, HealthModel, Operator as Op, Predicate, Ruleset};
use crate::rows::table_from_accounts;
use crate::table::{AccountTable, Column, Names};
use crate::wire::{decode_request, END_GROUP, FIXED32, FIXED64, LEN, START_GROUP, VARINT};

// ---------- a ruleset touching every attribute type and two look-backs ----------

pub fn pred(attr: &str, op: Op, operand: Option<Operand>, days: i32) -> Criterion {
    Criterion {
        kind: Some(Kind::Predicate(Predicate {
            attribute: attr.into(),
            operator: op as i32,
            operand,
            change_period_days: days,
        })),
    }
}

pub fn num(attr: &str, op: Op, x: f64) -> Criterion {
    pred(attr, op, Some(Operand::Number(x)), 0)
}

pub fn metric(attr: &str, weight: i32, good: Criterion, poor: Criterion) -> proto::Metric {
    proto::Metric {
        attribute: attr.into(),
        weight,
        good: Some(good),
        poor: Some(poor),
    }
}

pub const NAMES: [&str; 7] = [
    "logins",
    "seats",
    "plan",
    "freq",
    "active",
    "last_login",
    "tickets",
];
pub const LEVELS: [&str; 4] = ["inactive", "monthly", "weekly", "daily"];

/// A ruleset touching every attribute type and two look-backs (multidimensional, two profiles).
pub fn ruleset(ignore_missing: bool) -> Ruleset {
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
    Ruleset {
        version: "v-wire".into(),
        model: HealthModel::Multidimensional as i32,
        catalog: Some(catalog),
        settings: Some(proto::ModelSettings {
            ignore_missing,
            ..Default::default()
        }),
        profiles: vec![profile("pro", Some(segment)), profile("default", None)],
    }
}

/// `ruleset`, compiled.
pub fn rules(ignore_missing: bool) -> CompiledRuleset {
    compile(&ruleset(ignore_missing)).unwrap_or_else(|e| panic!("{e}"))
}

// ---------- the reference: prost decoding, as `api` did before the wire decoder ----------

pub type Reference = (AccountTable<'static>, Vec<(usize, Violation)>, Vec<String>);

pub fn reference_table(names: &Names<'_>, bytes: &[u8], default_as_of: i128) -> Result<Reference> {
    let req = proto::ScoreAccountsRequest::decode(bytes)?;
    let as_of = match req.as_of {
        Some(t) => crate::api::as_of_nanos(t.seconds, t.nanos)?,
        None => default_as_of,
    };
    let (t, v) = table_from_accounts(names, &req.accounts, as_of)?;
    Ok((t, v, req.accounts.into_iter().map(|a| a.id).collect()))
}

pub fn reference_score(rules: &CompiledRuleset, request: &[u8], threads: usize) -> Result<Vec<u8>> {
    crate::api::score_request_via_prost(rules, request, threads, &crate::cancel::NEVER)
}

/// An outcome that compares: the response bytes, or the error's kind and violations.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    Ok(Vec<u8>),
    Malformed,
    Invalid(Vec<Violation>),
    Internal(String),
    Other,
}

pub fn outcome(r: Result<Vec<u8>>) -> Outcome {
    match r {
        Ok(b) => Outcome::Ok(b),
        Err(Error::Malformed(_)) => Outcome::Malformed,
        Err(Error::InvalidAccounts(v)) => Outcome::Invalid(v),
        Err(Error::Internal(m)) => Outcome::Internal(m),
        Err(_) => Outcome::Other,
    }
}

/// A table as comparable bits (NaN payloads included).
pub fn table_bits(t: &AccountTable<'_>) -> Vec<Vec<u64>> {
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
pub fn check(rules: &CompiledRuleset, bytes: &[u8]) -> bool {
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
            (Err(Error::InvalidAccounts(v1)), Err(Error::InvalidAccounts(v2))) => {
                assert_eq!(v1, &v2, "as_of refused differently: {bytes:02x?}");
            }
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

pub struct Lcg(pub u64);
impl Lcg {
    #[allow(clippy::should_implement_trait)] // an endless generator, not an iterator
    pub fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
}

pub fn put_varint(b: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        b.push(v as u8 | 0x80);
        v >>= 7;
    }
    b.push(v as u8);
}

pub fn put_key(b: &mut Vec<u8>, tag: u32, wire: u8) {
    put_varint(b, u64::from(tag) << 3 | u64::from(wire));
}

pub fn put_len(b: &mut Vec<u8>, tag: u32, body: &[u8]) {
    put_key(b, tag, LEN);
    put_varint(b, body.len() as u64);
    b.extend_from_slice(body);
}

pub fn put_uint(b: &mut Vec<u8>, tag: u32, v: u64) {
    put_key(b, tag, VARINT);
    put_varint(b, v);
}

pub fn put_f64(b: &mut Vec<u8>, tag: u32, x: f64) {
    put_key(b, tag, FIXED64);
    b.extend_from_slice(&x.to_le_bytes());
}

/// An unknown field of a random wire type (groups nest up to `depth`).
pub fn unknown(g: &mut Lcg, depth: u32) -> Vec<u8> {
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
pub fn message(g: &mut Lcg, mut fields: Vec<Vec<u8>>) -> Vec<u8> {
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

pub fn timestamp(g: &mut Lcg) -> Vec<u8> {
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

pub fn text(g: &mut Lcg) -> Vec<u8> {
    match g.below(12) {
        0 => vec![],
        1 => vec![0xff, 0xfe],
        2 => "é".as_bytes().to_vec(),
        3 | 4 => g.pick(&["pro", "ent", "basic"]).as_bytes().to_vec(),
        _ => g.pick(&LEVELS).as_bytes().to_vec(),
    }
}

pub fn value(g: &mut Lcg) -> Vec<u8> {
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

pub fn attr_key(g: &mut Lcg) -> Vec<u8> {
    match g.below(14) {
        0 => b"unknown_attr".to_vec(),
        1 => vec![],
        2 => vec![b'l', 0xc3],
        3 => b"logins\0".to_vec(),
        _ => g.pick(&NAMES).as_bytes().to_vec(),
    }
}

pub fn map_entry(g: &mut Lcg, key: &[u8], val: &[u8]) -> Vec<u8> {
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

pub fn history(g: &mut Lcg) -> Vec<u8> {
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

pub fn account(g: &mut Lcg, i: usize) -> Vec<u8> {
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

pub fn request(g: &mut Lcg) -> Vec<u8> {
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

pub fn mutate(g: &mut Lcg, b: &mut Vec<u8>) {
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

// ---------- the targets ----------

/// A fuzz target: `health_core_rs/fuzz/fuzz_targets/<name>.rs` calls it with libFuzzer's bytes.
pub type Target = fn(&[u8]);

/// The fuzz targets by name.
pub const TARGETS: [(&str, Target); 5] = [
    ("score_rows", score_rows),
    ("score_columns", score_columns),
    ("envelope", envelope),
    ("compile_ruleset", compile_ruleset),
    ("roll_up", roll_up),
];

/// An error a caller may get for bad bytes; anything else is a bug.
fn expected<T>(what: &str, input: &[u8], r: &Result<T>) {
    if let Err(Error::Internal(m)) = r {
        panic!("{what}: internal error {m:?} for input {input:02x?}");
    }
}

fn target_rules() -> &'static [CompiledRuleset; 2] {
    static RULES: std::sync::OnceLock<[CompiledRuleset; 2]> = std::sync::OnceLock::new();
    RULES.get_or_init(|| [rules(false), rules(true)])
}

/// A `ScoreAccountsRequest` (row form, or anything): the wire decoder and prost agree on the
/// table, the violations and the response bytes (`check`), and scoring never fails a bug.
pub fn score_rows(data: &[u8]) {
    let r = &target_rules()[data.len() % 2];
    check(r, data);
}

/// An `AccountColumns` message, scored as a request's `account_columns` (the prost path and
/// `columns.rs`), as of a fixed instant.
pub fn score_columns(data: &[u8]) {
    let r = &target_rules()[data.len() % 2];
    let mut request = Vec::new();
    put_len(&mut request, 2, data);
    let mut ts = Vec::new();
    put_uint(&mut ts, 1, 1_700_000_000);
    put_len(&mut request, 3, &ts);
    let out = crate::api::score_request_bytes_with_threads(r, &request, 1);
    expected("score_columns", data, &out);
}

/// `envelope.rs`: a request's options, and a response's results moved to another field (the
/// first byte picks the field). Where prost reads the response, the moved results are its.
pub fn envelope(data: &[u8]) {
    let options = crate::envelope::request_options(data);
    expected("request_options", data, &options);
    if let Ok(o) = &options {
        if let Ok(req) = proto::ScoreAccountsRequest::decode(data) {
            let columns = req.account_columns.as_ref().map_or(0, |c| c.ids.len());
            assert_eq!(o.account_count, req.accounts.len() + columns, "{data:02x?}");
            assert_eq!(o.ruleset, req.ruleset, "{data:02x?}");
        }
    }
    let Some((&pick, response)) = data.split_first() else {
        return;
    };
    let field = match pick % 4 {
        0 => u32::from(pick),
        1 => 2,
        2 => (1 << 29) - 1 + u32::from(pick >> 7),
        _ => u32::from(pick) << 21,
    };
    let moved = crate::envelope::retag_results(response, field);
    expected("retag_results", response, &moved);
    if let (Ok(out), 2) = (&moved, field) {
        if let Ok(before) = proto::ScoreAccountsResponse::decode(response) {
            let after = proto::ScoreAccountsResponse::decode(out.as_slice())
                .unwrap_or_else(|e| panic!("retagged bytes do not decode: {e}: {response:02x?}"));
            assert!(after.results.is_empty(), "{response:02x?}");
            let mut want = before.other_model_results;
            want.extend(before.results);
            let mut got = after.other_model_results;
            got.sort_by(|a, b| a.account_id.cmp(&b.account_id));
            want.sort_by(|a, b| a.account_id.cmp(&b.account_id));
            assert_eq!(got, want, "{response:02x?}");
        }
    }
}

/// A serialized `Ruleset`: compiled (or refused); a compiled one scores a few generated
/// requests, rows and columns, without a bug.
pub fn compile_ruleset(data: &[u8]) {
    let compiled = crate::compile::compile_bytes(data);
    expected("compile_bytes", data, &compiled);
    let Ok(rules) = compiled else {
        return;
    };
    let mut g = Lcg(data.len() as u64);
    for _ in 0..2 {
        let out = crate::api::score_request_bytes_with_threads(&rules, &request(&mut g), 1);
        expected("score after compile", data, &out);
    }
    let mut columns = Vec::new();
    put_len(&mut columns, 2, &account_columns(&mut g));
    let out = crate::api::score_request_bytes_with_threads(&rules, &columns, 1);
    expected("score columns after compile", data, &out);
}

/// A serialized `RollUpEnterpriseHealthRequest`.
pub fn roll_up(data: &[u8]) {
    let out = crate::api::roll_up_enterprise_health_bytes(data);
    expected("roll_up", data, &out);
}

// ---------- seeds: valid messages of each kind ----------

/// Random `AccountColumns` over `NAMES` (right and wrong kinds and lengths, validity bitmaps,
/// statuses, look-backs).
pub fn account_columns(g: &mut Lcg) -> Vec<u8> {
    use proto::attribute_column::Values;
    let n = g.below(6) as usize;
    let len = |g: &mut Lcg| if g.one_in(8) { n + 1 } else { n };
    let mut cols = proto::AccountColumns {
        ids: (0..n)
            .map(|i| {
                if g.one_in(10) {
                    String::new()
                } else {
                    format!("c-{}", i as u64 + g.below(2))
                }
            })
            .collect(),
        ..Default::default()
    };
    if g.one_in(2) {
        cols.statuses = (0..len(g)).map(|_| g.below(4) as i32).collect();
    }
    for _ in 0..g.below(5) {
        let m = len(g);
        let values = match g.below(4) {
            0 => Values::Numbers(proto::NumberColumn {
                values: (0..m)
                    .map(|_| *g.pick(&[1.0, -3.5, f64::NAN, f64::INFINITY, 1e300]))
                    .collect(),
            }),
            1 => Values::Texts(proto::TextColumn {
                values: (0..m)
                    .map(|_| g.pick(&["", "weekly", "pro", "nope"]).to_string())
                    .collect(),
            }),
            2 => Values::Bools(proto::BoolColumn {
                values: (0..m).map(|_| g.one_in(2)).collect(),
            }),
            _ => Values::Times(proto::TimeColumn {
                unix_nanos: (0..m)
                    .map(|_| *g.pick(&[0, 1_700_000_000_000_000_000, i64::MIN, i64::MAX]))
                    .collect(),
            }),
        };
        cols.columns.push(proto::AttributeColumn {
            attribute: g.pick(&NAMES).to_string(),
            values: Some(values),
            validity: if g.one_in(3) {
                vec![g.next() as u8; m.div_ceil(8)]
            } else {
                Vec::new()
            },
        });
    }
    for _ in 0..g.below(3) {
        let m = len(g);
        cols.lookbacks.push(proto::LookbackColumn {
            attribute: g.pick(&NAMES).to_string(),
            period_days: *g.pick(&[30, 7, 0, -1]),
            values: (0..m).map(|i| i as f64).collect(),
            validity: Vec::new(),
        });
    }
    cols.encode_to_vec()
}

/// Random `RollUpEnterpriseHealthRequest`s.
pub fn roll_up_request(g: &mut Lcg) -> Vec<u8> {
    let req = proto::RollUpEnterpriseHealthRequest {
        model: g.below(3) as i32,
        settings: g.one_in(2).then(|| proto::EnterpriseSettings {
            method: g.below(3) as i32,
            poor_share_percent: g.one_in(2).then(|| *g.pick(&[0, 50, 100, 101, -1])),
            good_share_percent: g.one_in(2).then(|| *g.pick(&[0, 50, 100])),
        }),
        parents: (0..g.below(3))
            .map(|p| proto::ParentChildren {
                parent_id: format!("p{p}"),
                children: (0..g.below(4))
                    .map(|c| proto::ChildHealth {
                        account_id: format!("c{c}"),
                        rank: g.below(5) as i32,
                        score: g.one_in(2).then(|| *g.pick(&[0, 50, 100, 101])),
                        contract_value: g.one_in(2).then(|| *g.pick(&[0, 10, -5, i64::MAX])),
                    })
                    .collect(),
            })
            .collect(),
    };
    req.encode_to_vec()
}

/// `count` valid (or nearly valid) inputs of `target`, the same ones every time.
pub fn seeds(target: &str, count: usize) -> Vec<Vec<u8>> {
    let mut g = Lcg(0xf022 + count as u64);
    (0..count)
        .map(|i| match target {
            "score_rows" => request(&mut g),
            "score_columns" => account_columns(&mut g),
            "envelope" => {
                let mut b = vec![*g.pick(&[1u8, 5, 2])];
                if i % 2 == 0 {
                    b.extend(request(&mut g));
                } else {
                    let resp = crate::api::score_request_bytes_with_threads(
                        &target_rules()[0],
                        &request(&mut g),
                        1,
                    );
                    b.extend(resp.unwrap_or_default());
                }
                b
            }
            "compile_ruleset" => {
                let mut r = ruleset(i % 2 == 0);
                if i % 3 == 1 {
                    r.model = HealthModel::AccountHealth as i32;
                }
                if i % 5 == 2 {
                    r.profiles.truncate(1);
                }
                r.encode_to_vec()
            }
            "roll_up" => roll_up_request(&mut g),
            other => panic!("no fuzz target {other:?}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The brief run of every target (CI): seeds, seeds mutated a few thousand times, random
    /// bytes, and the saved regressions.
    #[test]
    fn every_target_survives_random_and_mutated_inputs() {
        let regressions =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions");
        for (name, target) in TARGETS {
            let seeds = seeds(name, 40);
            let mut g = Lcg(0xb1ef ^ name.len() as u64);
            for s in &seeds {
                target(s);
            }
            for _ in 0..2_000 {
                let mut m = g.pick(&seeds).clone();
                mutate(&mut g, &mut m);
                target(&m);
            }
            for _ in 0..200 {
                let random: Vec<u8> = (0..g.below(64)).map(|_| g.next() as u8).collect();
                target(&random);
            }
            if let Ok(dir) = std::fs::read_dir(regressions.join(name)) {
                for entry in dir.flatten() {
                    let bytes = std::fs::read(entry.path()).unwrap_or_default();
                    target(&bytes);
                }
            }
        }
    }

    /// `make fuzz-seeds`: writes each target's seeds under `health_core_rs/fuzz/corpus/`.
    #[test]
    #[ignore = "writes files: run by `make fuzz-seeds`"]
    fn write_fuzz_seeds() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
        for (name, _) in TARGETS {
            let dir = root.join(name);
            std::fs::create_dir_all(&dir).expect("corpus directory");
            for (i, s) in seeds(name, 200).iter().enumerate() {
                std::fs::write(dir.join(format!("seed-{i:03}")), s).expect("seed file");
            }
        }
    }
}
