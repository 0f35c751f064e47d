//! End-to-end tests of the scoring entry points: proto rulesets compiled by `compile`, accounts
//! in every input form, results decoded back.

use std::sync::Arc;

use arrow_array::types::Int8Type;
use arrow_array::{
    Array, ArrayRef, BooleanArray, DictionaryArray, Float64Array, Int32Array, Int64Array,
    RecordBatch, StringArray, TimestampMillisecondArray, TimestampNanosecondArray,
};
use prost::Message;

use super::*;
use crate::compile::compile;
use crate::ir::NANOS_PER_DAY;
use crate::proto::criterion::Kind;
use crate::proto::predicate::Operand;
use crate::proto::value::Kind as V;
use crate::proto::{
    Account, AccountHealth, Criterion, CriterionList, HealthModel, Operator as Op, Predicate,
    Ruleset, ScoreAccountsRequest, ScoreAccountsResponse,
};

// ---------- builders ----------

const AS_OF_SECS: i64 = 1_700_000_000;
const AS_OF: i128 = AS_OF_SECS as i128 * 1_000_000_000;

fn attribute(name: &str, ty: proto::AttributeType, dim: &str) -> proto::Attribute {
    let levels = if ty == proto::AttributeType::Ordinal {
        ["inactive", "monthly", "weekly", "daily"]
            .map(String::from)
            .to_vec()
    } else {
        vec![]
    };
    proto::Attribute {
        name: name.into(),
        r#type: ty as i32,
        dimension: dim.into(),
        ordinal_levels: levels,
        ..Default::default()
    }
}

fn catalog() -> proto::Catalog {
    use proto::AttributeType as T;
    proto::Catalog {
        etag: String::new(),
        attributes: vec![
            attribute("logins", T::Number, "usage"),
            attribute("seats", T::Number, "usage"),
            attribute("tickets", T::Number, "support"),
            attribute("plan", T::Text, ""),
            attribute("freq", T::Ordinal, "adoption"),
            attribute("active", T::Bool, "adoption"),
            attribute("last_login", T::Time, "engagement"),
        ],
        dimensions: ["usage", "support", "adoption", "engagement"]
            .iter()
            .map(|d| proto::Dimension {
                name: d.to_string(),
                ..Default::default()
            })
            .collect(),
    }
}

fn pred(attr: &str, op: Op, operand: Option<Operand>) -> Criterion {
    Criterion {
        kind: Some(Kind::Predicate(Predicate {
            attribute: attr.into(),
            operator: op as i32,
            operand,
            change_period_days: 0,
        })),
    }
}

fn num(attr: &str, op: Op, x: f64) -> Criterion {
    pred(attr, op, Some(Operand::Number(x)))
}

fn change(attr: &str, op: Op, x: f64, days: i32) -> Criterion {
    let mut c = num(attr, op, x);
    if let Some(Kind::Predicate(p)) = &mut c.kind {
        p.change_period_days = days;
    }
    c
}

fn all(of: Vec<Criterion>) -> Criterion {
    Criterion {
        kind: Some(Kind::All(CriterionList { of })),
    }
}

fn any(of: Vec<Criterion>) -> Criterion {
    Criterion {
        kind: Some(Kind::Any(CriterionList { of })),
    }
}

fn not(c: Criterion) -> Criterion {
    Criterion {
        kind: Some(Kind::Negation(Box::new(c))),
    }
}

fn text(attr: &str, op: Op, t: &str) -> Criterion {
    pred(attr, op, Some(Operand::Text(t.into())))
}

fn set(attr: &str, op: Op, ts: &[&str]) -> Criterion {
    let values = ts.iter().map(|s| s.to_string()).collect();
    pred(attr, op, Some(Operand::TextSet(proto::TextSet { values })))
}

fn days(attr: &str, op: Op, d: i64) -> Criterion {
    pred(attr, op, Some(Operand::Days(d)))
}

fn category(name: &str, good: Vec<Criterion>, poor: Vec<Criterion>) -> proto::Category {
    proto::Category {
        name: name.into(),
        good,
        poor,
    }
}

fn ah_profile(
    name: &str,
    segment: Option<Criterion>,
    cats: Vec<proto::Category>,
) -> proto::Profile {
    proto::Profile {
        name: name.into(),
        segment,
        categories: cats,
        ..Default::default()
    }
}

fn ruleset(model: HealthModel, profiles: Vec<proto::Profile>) -> Ruleset {
    Ruleset {
        version: "v-test".into(),
        model: model as i32,
        catalog: Some(catalog()),
        settings: None,
        profiles,
    }
}

fn compiled(r: &Ruleset) -> CompiledRuleset {
    compile(r).unwrap_or_else(|e| panic!("{e}"))
}

fn metric(attr: &str, weight: i32, good: Criterion, poor: Criterion) -> proto::Metric {
    proto::Metric {
        attribute: attr.into(),
        weight,
        good: Some(good),
        poor: Some(poor),
    }
}

fn md_profile(
    name: &str,
    segment: Option<Criterion>,
    dims: &[(&str, i32)],
    metrics: Vec<proto::Metric>,
) -> proto::Profile {
    proto::Profile {
        name: name.into(),
        segment,
        dimensions: dims
            .iter()
            .map(|(d, w)| proto::ProfileDimension {
                dimension: d.to_string(),
                weight: *w,
            })
            .collect(),
        metrics,
        ..Default::default()
    }
}

#[derive(Clone, Debug)]
enum Val {
    N(f64),
    T(&'static str),
    B(bool),
    Ts(i64, i32),
    Unset,
}

fn account(id: &str, vals: &[(&str, Val)]) -> Account {
    let attributes = vals
        .iter()
        .map(|(k, v)| {
            let kind = match v {
                Val::N(x) => Some(V::NumberValue(*x)),
                Val::T(s) => Some(V::TextValue(s.to_string())),
                Val::B(b) => Some(V::BoolValue(*b)),
                Val::Ts(s, n) => Some(V::TimeValue(prost_types::Timestamp {
                    seconds: *s,
                    nanos: *n,
                })),
                Val::Unset => None,
            };
            (k.to_string(), proto::Value { kind })
        })
        .collect();
    Account {
        id: id.into(),
        attributes,
        ..Default::default()
    }
}

fn request(accounts: Vec<Account>, view: proto::ScoreView) -> ScoreAccountsRequest {
    ScoreAccountsRequest {
        accounts,
        account_columns: None,
        as_of: Some(prost_types::Timestamp {
            seconds: AS_OF_SECS,
            nanos: 0,
        }),
        view: view as i32,
        ..Default::default()
    }
}

fn score(rules: &CompiledRuleset, req: &ScoreAccountsRequest) -> Result<Vec<AccountHealth>> {
    let bytes = score_request_bytes(rules, &req.encode_to_vec())?;
    let resp = ScoreAccountsResponse::decode(bytes.as_slice()).expect("response decodes");
    // Our hand encoder writes exactly what prost would.
    assert_eq!(resp.encode_to_vec(), bytes, "encoding differs from prost");
    Ok(resp.results)
}

fn score_one(rules: &CompiledRuleset, a: Account, view: proto::ScoreView) -> AccountHealth {
    score(rules, &request(vec![a], view)).unwrap().remove(0)
}

/// Whether `c` holds for an account with `vals`, via an Account Health good column.
fn holds(c: Criterion, vals: &[(&str, Val)]) -> bool {
    let r = ruleset(
        HealthModel::AccountHealth,
        vec![ah_profile("p", None, vec![category("c", vec![c], vec![])])],
    );
    let h = score_one(&compiled(&r), account("a", vals), proto::ScoreView::Basic);
    match h.rank() {
        proto::HealthRank::Good => true,
        proto::HealthRank::Average => false,
        r => panic!("unexpected rank {r:?}"),
    }
}

// ---------- operators ----------

#[test]
fn number_operators_and_no_value() {
    let cases = [
        (Op::LessThan, 5.0, [true, false, false]),
        (Op::LessThanOrEqual, 5.0, [true, true, false]),
        (Op::GreaterThan, 5.0, [false, false, true]),
        (Op::GreaterThanOrEqual, 5.0, [false, true, true]),
        (Op::Equal, 5.0, [false, true, false]),
        (Op::NotEqual, 5.0, [true, false, true]),
    ];
    for (op, x, expect) in cases {
        for (v, e) in [4.0, 5.0, 6.0].iter().zip(expect) {
            assert_eq!(
                holds(num("logins", op, x), &[("logins", Val::N(*v))]),
                e,
                "{op:?} {v}"
            );
        }
        // No value: absent, unset, NaN — false for every operator (NOT_EQUAL included).
        assert!(!holds(num("logins", op, x), &[]));
        assert!(!holds(num("logins", op, x), &[("logins", Val::Unset)]));
        assert!(!holds(
            num("logins", op, x),
            &[("logins", Val::N(f64::NAN))]
        ));
    }
    let between = |lo, hi| {
        pred(
            "logins",
            Op::Between,
            Some(Operand::NumberRange(proto::NumberRange {
                low: lo,
                high: hi,
            })),
        )
    };
    assert!(holds(between(5.0, 6.0), &[("logins", Val::N(5.0))]));
    assert!(holds(between(5.0, 6.0), &[("logins", Val::N(6.0))]));
    assert!(!holds(between(5.0, 6.0), &[("logins", Val::N(6.000001))]));
    assert!(!holds(between(5.0, 6.0), &[]));
    assert!(holds(pred("logins", Op::IsEmpty, None), &[]));
    assert!(holds(
        pred("logins", Op::IsEmpty, None),
        &[("logins", Val::N(f64::NAN))]
    ));
    assert!(!holds(
        pred("logins", Op::IsEmpty, None),
        &[("logins", Val::N(0.0))]
    ));
    assert!(holds(
        pred("logins", Op::IsNotEmpty, None),
        &[("logins", Val::N(0.0))]
    ));
    assert!(!holds(pred("logins", Op::IsNotEmpty, None), &[]));
}

#[test]
fn text_ordinal_bool_operators() {
    let p = |s| [("plan", Val::T(s))];
    assert!(holds(text("plan", Op::Equal, "pro"), &p("pro")));
    assert!(!holds(text("plan", Op::Equal, "pro"), &p("basic")));
    assert!(holds(text("plan", Op::NotEqual, "pro"), &p("basic")));
    assert!(!holds(text("plan", Op::NotEqual, "pro"), &[]));
    assert!(
        !holds(text("plan", Op::NotEqual, "pro"), &p("")),
        "empty text is no value"
    );
    assert!(holds(set("plan", Op::In, &["a", "pro"]), &p("pro")));
    assert!(!holds(set("plan", Op::In, &["a", "pro"]), &p("b")));
    assert!(holds(set("plan", Op::NotIn, &["a", "pro"]), &p("b")));
    assert!(
        !holds(set("plan", Op::NotIn, &["a"]), &[]),
        "not_in is false on no value"
    );
    assert!(holds(pred("plan", Op::IsEmpty, None), &p("")));

    let f = |s| [("freq", Val::T(s))];
    assert!(holds(text("freq", Op::AtLeast, "weekly"), &f("daily")));
    assert!(holds(text("freq", Op::AtLeast, "weekly"), &f("weekly")));
    assert!(!holds(text("freq", Op::AtLeast, "weekly"), &f("monthly")));
    assert!(holds(text("freq", Op::AtMost, "weekly"), &f("inactive")));
    assert!(!holds(text("freq", Op::AtMost, "weekly"), &f("daily")));
    assert!(!holds(text("freq", Op::AtMost, "weekly"), &[]));
    assert!(holds(text("freq", Op::Equal, "weekly"), &f("weekly")));
    assert!(holds(set("freq", Op::NotIn, &["daily"]), &f("weekly")));

    assert!(holds(
        pred("active", Op::IsTrue, None),
        &[("active", Val::B(true))]
    ));
    assert!(!holds(
        pred("active", Op::IsTrue, None),
        &[("active", Val::B(false))]
    ));
    assert!(holds(
        pred("active", Op::IsFalse, None),
        &[("active", Val::B(false))]
    ));
    assert!(!holds(pred("active", Op::IsFalse, None), &[]));
}

#[test]
fn combinators() {
    let v = [("logins", Val::N(5.0))];
    assert!(holds(all(vec![]), &v));
    assert!(!holds(any(vec![]), &v));
    assert!(holds(
        all(vec![
            num("logins", Op::GreaterThan, 1.0),
            num("logins", Op::LessThan, 9.0)
        ]),
        &v
    ));
    assert!(!holds(
        all(vec![
            num("logins", Op::GreaterThan, 1.0),
            num("logins", Op::LessThan, 2.0)
        ]),
        &v
    ));
    assert!(holds(
        any(vec![
            num("logins", Op::GreaterThan, 7.0),
            num("logins", Op::LessThan, 6.0)
        ]),
        &v
    ));
    assert!(holds(not(num("logins", Op::GreaterThan, 7.0)), &v));
    // "does not exist or is not pro"
    let c = any(vec![
        pred("plan", Op::IsEmpty, None),
        text("plan", Op::NotEqual, "pro"),
    ]);
    assert!(holds(c.clone(), &[]));
    assert!(!holds(c, &[("plan", Val::T("pro"))]));
}

#[test]
fn time_boundaries_to_the_nanosecond() {
    let day = NANOS_PER_DAY;
    // A timestamp exactly `d` nanoseconds before as_of.
    let at = |d: i128| {
        let t = AS_OF - d;
        [(
            "last_login",
            Val::Ts(
                t.div_euclid(1_000_000_000) as i64,
                t.rem_euclid(1_000_000_000) as i32,
            ),
        )]
    };
    let lt = days("last_login", Op::LessThan, 30);
    assert!(holds(lt.clone(), &at(30 * day - 1)));
    assert!(!holds(lt, &at(30 * day)));
    let within = days("last_login", Op::WithinLastDays, 30);
    assert!(holds(within.clone(), &at(30 * day)));
    assert!(!holds(within.clone(), &at(30 * day + 1)));
    assert!(
        holds(within, &at(-5 * day)),
        "future timestamps have negative days-since"
    );
    let more = days("last_login", Op::MoreThanDaysAgo, 30);
    assert!(!holds(more.clone(), &at(30 * day)));
    assert!(holds(more, &at(30 * day + 1)));
    let between = pred(
        "last_login",
        Op::Between,
        Some(Operand::DayRange(proto::DayRange { low: 1, high: 2 })),
    );
    assert!(holds(between.clone(), &at(day)));
    assert!(holds(between.clone(), &at(2 * day)));
    assert!(!holds(between.clone(), &at(day - 1)));
    assert!(!holds(between, &at(2 * day + 1)));
    assert!(!holds(days("last_login", Op::LessThan, 30), &[]));
}

fn history(points: &[(i64, f64)]) -> proto::NumberHistory {
    proto::NumberHistory {
        points: points
            .iter()
            .map(|&(secs, value)| proto::HistoryPoint {
                time: Some(prost_types::Timestamp {
                    seconds: secs,
                    nanos: 0,
                }),
                value,
            })
            .collect(),
    }
}

#[test]
fn change_in() {
    let r = ruleset(
        HealthModel::AccountHealth,
        vec![ah_profile(
            "p",
            None,
            vec![category(
                "c",
                vec![change("logins", Op::LessThanOrEqual, -50.0, 30)],
                vec![],
            )],
        )],
    );
    let rules = compiled(&r);
    let day = 86_400;
    let run = |v: f64, hist: &[(i64, f64)]| {
        let mut a = account("a", &[("logins", Val::N(v))]);
        a.history.insert("logins".into(), history(hist));
        score_one(&rules, a, proto::ScoreView::Basic).rank() == proto::HealthRank::Good
    };
    let back = AS_OF_SECS - 30 * day;
    assert!(run(50.0, &[(back, 100.0)]), "-50% <= -50");
    assert!(!run(51.0, &[(back, 100.0)]));
    // Negative earlier value: divided by its absolute value.
    assert!(run(-150.0, &[(back, -100.0)]));
    // The latest point at or before the look-back instant counts, later ones do not.
    assert!(run(
        50.0,
        &[(back - day, 1000.0), (back, 100.0), (back + 1, 50.0)]
    ));
    assert!(!run(50.0, &[(back + 1, 100.0)]), "no earlier value");
    assert!(!run(50.0, &[(back, 0.0)]), "then = 0");
    assert!(!run(50.0, &[(back, f64::NAN)]), "then = NaN is no value");
    assert!(!run(50.0, &[]));
    let mut a = account("a", &[]);
    a.history.insert("logins".into(), history(&[(back, 100.0)]));
    assert_eq!(
        score_one(&rules, a, proto::ScoreView::Basic).rank(),
        proto::HealthRank::Average,
        "no current value"
    );
}

// ---------- models ----------

#[test]
fn account_health_model_and_precedence() {
    let risk = category(
        "risk",
        vec![num("tickets", Op::LessThan, 3.0)],
        vec![num("tickets", Op::GreaterThan, 10.0)],
    );
    let usage = category(
        "usage",
        vec![num("logins", Op::GreaterThan, 10.0)],
        vec![num("logins", Op::LessThan, 1.0)],
    );
    let r = ruleset(
        HealthModel::AccountHealth,
        vec![
            ah_profile(
                "pro",
                Some(text("plan", Op::Equal, "pro")),
                vec![risk.clone(), usage.clone()],
            ),
            ah_profile("trial", Some(text("plan", Op::Equal, "trial")), vec![usage]),
        ],
    );
    let rules = compiled(&r);
    let accts = vec![
        account(
            "good",
            &[
                ("plan", Val::T("pro")),
                ("tickets", Val::N(1.0)),
                ("logins", Val::N(20.0)),
            ],
        ),
        account(
            "avg",
            &[
                ("plan", Val::T("pro")),
                ("tickets", Val::N(5.0)),
                ("logins", Val::N(20.0)),
            ],
        ),
        account(
            "poor",
            &[
                ("plan", Val::T("pro")),
                ("tickets", Val::N(11.0)),
                ("logins", Val::N(20.0)),
            ],
        ),
        account(
            "trial",
            &[("plan", Val::T("trial")), ("logins", Val::N(0.0))],
        ),
        account("none", &[("plan", Val::T("other"))]),
        Account {
            status: proto::AccountStatus::Cancelled as i32,
            ..account("gone", &[("plan", Val::T("pro"))])
        },
    ];
    let res = score(&rules, &request(accts, proto::ScoreView::Full)).unwrap();
    let ranks: Vec<_> = res
        .iter()
        .map(|h| {
            (
                h.account_id.as_str(),
                h.profile.as_str(),
                h.rank(),
                h.unknown_reason(),
            )
        })
        .collect();
    use proto::{HealthRank as R, UnknownReason as U};
    assert_eq!(
        ranks,
        vec![
            ("good", "pro", R::Good, U::Unspecified),
            ("avg", "pro", R::Average, U::Unspecified),
            ("poor", "pro", R::Poor, U::Unspecified),
            ("trial", "trial", R::Poor, U::Unspecified),
            ("none", "", R::Unknown, U::NoProfile),
            ("gone", "", R::Unknown, U::Cancelled),
        ]
    );
    assert!(res
        .iter()
        .all(|h| h.score.is_none() && h.dimensions.is_empty()));
    let cats: Vec<_> = res[2]
        .categories
        .iter()
        .map(|c| (c.category.as_str(), c.rank()))
        .collect();
    assert_eq!(cats, vec![("risk", R::Poor), ("usage", R::Good)]);
    // Reasons: poor held first, then good failed, in profile order.
    let reasons: Vec<_> = res[2]
        .reasons
        .iter()
        .map(|r| (r.kind(), r.criterion.as_str(), r.subject.as_str()))
        .collect();
    assert_eq!(
        reasons,
        vec![
            (
                proto::ReasonKind::PoorCriterionHeld,
                "profiles[0].categories[0].poor[0]",
                "risk"
            ),
            (
                proto::ReasonKind::GoodCriterionFailed,
                "profiles[0].categories[0].good[0]",
                "risk"
            ),
        ]
    );
    assert!(res[4].categories.is_empty() && res[4].reasons.is_empty());
    assert!(res[5].categories.is_empty());
}

/// The seed example: usage metrics weighted 60/20/20.
fn seed_ruleset(ignore_missing: bool) -> Ruleset {
    let mut catalog = catalog();
    catalog
        .attributes
        .push(attribute("nps", proto::AttributeType::Number, "usage"));
    let m = |a: &str, w| {
        metric(
            a,
            w,
            num(a, Op::GreaterThanOrEqual, 10.0),
            num(a, Op::LessThan, 2.0),
        )
    };
    let mut r = ruleset(
        HealthModel::Multidimensional,
        vec![md_profile(
            "default",
            None,
            &[("usage", 50), ("support", 50)],
            vec![
                m("logins", 60),
                m("seats", 20),
                m("nps", 20),
                m("tickets", 100),
            ],
        )],
    );
    r.catalog = Some(catalog);
    r.settings = Some(proto::ModelSettings {
        ignore_missing,
        ..Default::default()
    });
    r
}

#[test]
fn multidimensional_redistribution_seed_example() {
    let rules = compiled(&seed_ruleset(true));
    let a = account(
        "a",
        &[
            ("logins", Val::N(10.0)),
            ("seats", Val::N(5.0)),
            ("tickets", Val::N(1.0)),
        ],
    );
    let h = score_one(&rules, a, proto::ScoreView::Full);
    let usage = &h.dimensions[0];
    let w: Vec<_> = usage
        .metrics
        .iter()
        .map(|m| {
            (
                m.attribute.as_str(),
                m.outcome(),
                m.score,
                m.effective_weight,
            )
        })
        .collect();
    use proto::MetricOutcome as O;
    assert_eq!(
        w,
        vec![
            ("logins", O::Good, Some(100), 75),
            ("seats", O::Average, Some(60), 25),
            ("nps", O::Ignored, None, 0)
        ]
    );
    // usage = round((100*75 + 60*25) / 100) = 90; support = 0; account = round(90*50/100) = 45.
    assert_eq!(usage.score, Some(90));
    assert_eq!(h.dimensions[1].score, Some(0));
    assert_eq!(h.score, Some(45));
    assert_eq!(h.rank(), proto::HealthRank::Average);
    // Without ignore-missing the missing metric scores 60.
    let rules = compiled(&seed_ruleset(false));
    let a = account(
        "a",
        &[
            ("logins", Val::N(10.0)),
            ("seats", Val::N(5.0)),
            ("tickets", Val::N(1.0)),
        ],
    );
    let h = score_one(&rules, a, proto::ScoreView::Full);
    assert_eq!(h.dimensions[0].metrics[2].outcome(), O::Average);
    assert_eq!(h.dimensions[0].score, Some(84)); // (6000 + 1200 + 1200) / 100
    assert_eq!(h.score, Some(42));
}

#[test]
fn no_data_keeps_profile_and_lists_everything_ignored() {
    let rules = compiled(&seed_ruleset(true));
    let h = score_one(&rules, account("a", &[]), proto::ScoreView::Full);
    assert_eq!(
        (h.profile.as_str(), h.rank(), h.unknown_reason(), h.score),
        (
            "default",
            proto::HealthRank::Unknown,
            proto::UnknownReason::NoData,
            None
        )
    );
    assert_eq!(h.dimensions.len(), 2);
    assert!(h.dimensions.iter().all(|d| d.ignored
        && d.score.is_none()
        && d.effective_weight == 0
        && d.rank() == proto::HealthRank::Unknown));
    assert!(h
        .dimensions
        .iter()
        .flat_map(|d| &d.metrics)
        .all(|m| m.outcome() == proto::MetricOutcome::Ignored && m.score.is_none()));
    assert!(h.reasons.is_empty());
    // One dimension ignored: the other gets all the weight.
    let h = score_one(
        &rules,
        account("a", &[("tickets", Val::N(1.0))]),
        proto::ScoreView::Dimensions,
    );
    assert_eq!(h.score, Some(0));
    assert_eq!(h.dimensions[1].effective_weight, 100);
    assert!(h.dimensions[0].ignored && h.dimensions[0].metrics.is_empty());
}

#[test]
fn half_up_rounding_and_reasons_order() {
    // usage: logins 15 (POOR, 0) / seats 85 (GOOD, 100) -> 85; support 60 -> (85 + 60) / 2 = 72.5 -> 73.
    let m = |a: &str, w| {
        metric(
            a,
            w,
            num(a, Op::GreaterThanOrEqual, 10.0),
            num(a, Op::LessThan, 2.0),
        )
    };
    let r = ruleset(
        HealthModel::Multidimensional,
        vec![md_profile(
            "p",
            None,
            &[("usage", 50), ("support", 50)],
            vec![m("tickets", 100), m("logins", 15), m("seats", 85)],
        )],
    );
    let rules = compiled(&r);
    let a = account(
        "a",
        &[
            ("logins", Val::N(1.0)),
            ("seats", Val::N(50.0)),
            ("tickets", Val::N(5.0)),
        ],
    );
    let h = score_one(&rules, a, proto::ScoreView::Full);
    assert_eq!(h.dimensions[0].score, Some(85));
    assert_eq!(h.dimensions[1].score, Some(60));
    assert_eq!(h.score, Some(73));
    let reasons: Vec<_> = h
        .reasons
        .iter()
        .map(|r| (r.kind() as i32, r.criterion.as_str(), r.subject.as_str()))
        .collect();
    assert_eq!(
        reasons,
        vec![
            (1, "profiles[0].metrics[1].poor", "logins"),
            (2, "profiles[0].metrics[0].good", "tickets"),
            (2, "profiles[0].metrics[1].good", "logins"),
        ]
    );
    assert_eq!(crate::score::round_div(145, 2), 73);
    assert_eq!(crate::score::round_div(25, 2), 13);
    assert_eq!(crate::score::round_div(24, 2), 12);
    assert_eq!(crate::score::round_div(7249, 100), 72);
}

#[test]
fn thresholds_at_the_limits() {
    let s = crate::ir::Settings {
        poor_max: 50,
        good_min: 55,
        ignore_missing: false,
        enterprise: Default::default(),
    };
    let ranks: Vec<u8> = (49..=56).map(|x| crate::score::rank_of(x, &s)).collect();
    assert_eq!(ranks, vec![3, 3, 2, 2, 2, 2, 1, 1]);
    // Through a ruleset: weights 50/50 of scores 100 and 0 give exactly 50.
    let m = |a: &str, w| {
        metric(
            a,
            w,
            num(a, Op::GreaterThanOrEqual, 10.0),
            num(a, Op::LessThan, 2.0),
        )
    };
    let mut r = ruleset(
        HealthModel::Multidimensional,
        vec![md_profile(
            "p",
            None,
            &[("usage", 50), ("support", 50)],
            vec![m("logins", 100), m("tickets", 100)],
        )],
    );
    r.settings = Some(proto::ModelSettings {
        poor_max: Some(50),
        good_min: Some(55),
        ..Default::default()
    });
    let rules = compiled(&r);
    let h = score_one(
        &rules,
        account("a", &[("logins", Val::N(10.0)), ("tickets", Val::N(1.0))]),
        proto::ScoreView::Basic,
    );
    assert_eq!((h.score, h.rank()), (Some(50), proto::HealthRank::Poor));
}

#[test]
fn views_carry_exactly_their_fields() {
    let rules = compiled(&seed_ruleset(false));
    let a = || account("a", &[("logins", Val::N(1.0)), ("tickets", Val::N(20.0))]);
    let basic = score_one(&rules, a(), proto::ScoreView::Unspecified);
    assert_eq!(
        (basic.model(), basic.ruleset_version.as_str()),
        (HealthModel::Multidimensional, "v-test")
    );
    assert!(basic.dimensions.is_empty() && basic.reasons.is_empty() && basic.score.is_some());
    let dims = score_one(&rules, a(), proto::ScoreView::Dimensions);
    assert_eq!(dims.dimensions.len(), 2);
    assert!(dims.dimensions.iter().all(|d| d.metrics.is_empty()) && dims.reasons.is_empty());
    let full = score_one(&rules, a(), proto::ScoreView::Full);
    assert_eq!(full.dimensions[0].metrics.len(), 3);
    assert!(!full.reasons.is_empty());
    assert_eq!((basic.score, basic.rank), (full.score, full.rank));
}

// ---------- bad input ----------

fn violations(rules: &CompiledRuleset, req: &ScoreAccountsRequest) -> Vec<String> {
    match score(rules, req) {
        Err(Error::InvalidAccounts(v)) => v.into_iter().map(|v| v.path).collect(),
        other => panic!("expected InvalidAccounts, got {other:?}"),
    }
}

#[test]
fn every_bad_row_input_is_reported() {
    let rules = compiled(&seed_ruleset(false));
    let mut bad_hist = account("h", &[]);
    bad_hist.history.insert("plan".into(), history(&[(1, 1.0)]));
    bad_hist.history.insert(
        "logins".into(),
        history(&[(1, 1.0), (1, 2.0), (2, f64::INFINITY)]),
    );
    let req = request(
        vec![
            account(
                "a",
                &[
                    ("logins", Val::T("x")),
                    ("plan", Val::N(1.0)),
                    ("unknown", Val::T("ignored")),
                ],
            ),
            account(
                "b",
                &[
                    ("logins", Val::N(f64::INFINITY)),
                    ("freq", Val::T("hourly")),
                    ("active", Val::N(1.0)),
                ],
            ),
            account("a", &[("last_login", Val::Ts(i64::MAX, 0))]),
            account("", &[]),
            bad_hist,
        ],
        proto::ScoreView::Basic,
    );
    assert_eq!(
        violations(&rules, &req),
        vec![
            "accounts[0].attributes[\"logins\"]",
            "accounts[0].attributes[\"plan\"]",
            "accounts[1].attributes[\"active\"]",
            "accounts[1].attributes[\"freq\"]",
            "accounts[1].attributes[\"logins\"]",
            "accounts[2].attributes[\"last_login\"]",
            "accounts[2].id",
            "accounts[3].id",
            "accounts[4].history[\"logins\"].points[1]",
            "accounts[4].history[\"logins\"].points[2]",
            "accounts[4].history[\"plan\"]",
        ]
    );
    let mut both = request(vec![account("a", &[])], proto::ScoreView::Basic);
    both.account_columns = Some(proto::AccountColumns::default());
    assert_eq!(violations(&rules, &both), vec!["account_columns"]);
    assert!(matches!(
        score_request_bytes(&rules, b"\xff\xff"),
        Err(Error::Malformed(_))
    ));
}

// ---------- input forms agree ----------

/// A deterministic pseudo-random generator (no dev-dependencies needed).
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
}

/// A ruleset touching every attribute type, two segmented profiles and a default.
fn rich_ruleset(ignore_missing: bool) -> Ruleset {
    let m = |a: &str, w, good, poor| metric(a, w, good, poor);
    let metrics = || {
        vec![
            m(
                "logins",
                50,
                num("logins", Op::GreaterThan, 50.0),
                change("logins", Op::LessThan, -20.0, 30),
            ),
            m(
                "seats",
                50,
                pred(
                    "seats",
                    Op::Between,
                    Some(Operand::NumberRange(proto::NumberRange {
                        low: 10.0,
                        high: 80.0,
                    })),
                ),
                pred("seats", Op::IsEmpty, None),
            ),
            m(
                "tickets",
                100,
                num("tickets", Op::LessThanOrEqual, 3.0),
                num("tickets", Op::GreaterThan, 8.0),
            ),
            m(
                "freq",
                60,
                text("freq", Op::AtLeast, "weekly"),
                text("freq", Op::Equal, "inactive"),
            ),
            m(
                "active",
                40,
                pred("active", Op::IsTrue, None),
                pred("active", Op::IsFalse, None),
            ),
            m(
                "last_login",
                100,
                days("last_login", Op::WithinLastDays, 7),
                days("last_login", Op::MoreThanDaysAgo, 60),
            ),
        ]
    };
    let dims = [
        ("usage", 40),
        ("support", 20),
        ("adoption", 25),
        ("engagement", 15),
    ];
    let mut r = ruleset(
        HealthModel::Multidimensional,
        vec![
            md_profile(
                "pro",
                Some(set("plan", Op::In, &["pro", "ent"])),
                &dims,
                metrics(),
            ),
            md_profile(
                "busy",
                Some(any(vec![
                    num("logins", Op::GreaterThan, 90.0),
                    not(pred("active", Op::IsNotEmpty, None)),
                ])),
                &dims,
                metrics(),
            ),
            md_profile("default", None, &dims, metrics()),
        ],
    );
    r.settings = Some(proto::ModelSettings {
        ignore_missing,
        ..Default::default()
    });
    r
}

fn random_accounts(n: usize, seed: u64) -> Vec<Account> {
    let mut g = Lcg(seed);
    let plans = ["pro", "ent", "basic", ""];
    let freqs = ["inactive", "monthly", "weekly", "daily", ""];
    (0..n)
        .map(|i| {
            let mut vals: Vec<(&str, Val)> = Vec::new();
            if g.below(5) != 0 {
                vals.push(("logins", Val::N(g.below(100) as f64)));
            }
            if g.below(4) != 0 {
                vals.push(("seats", Val::N(g.below(100) as f64)));
            }
            if g.below(4) != 0 {
                vals.push(("tickets", Val::N(g.below(12) as f64)));
            }
            vals.push(("plan", Val::T(plans[g.below(4) as usize])));
            if g.below(4) != 0 {
                vals.push(("freq", Val::T(freqs[g.below(5) as usize])));
            }
            if g.below(3) != 0 {
                vals.push(("active", Val::B(g.below(2) == 0)));
            }
            if g.below(3) != 0 {
                let secs = AS_OF_SECS - g.below(90 * 86_400) as i64;
                vals.push(("last_login", Val::Ts(secs, 0)));
            }
            let mut a = account(&format!("acct-{i}"), &vals);
            if g.below(20) == 0 {
                a.status = proto::AccountStatus::Cancelled as i32;
            }
            if g.below(2) == 0 {
                let back = AS_OF_SECS - 30 * 86_400 - g.below(3) as i64;
                a.history
                    .insert("logins".into(), history(&[(back, g.below(100) as f64)]));
            }
            a
        })
        .collect()
}

fn validity(valid: &[bool]) -> Vec<u8> {
    let mut v = vec![0u8; valid.len().div_ceil(8)];
    for (i, &ok) in valid.iter().enumerate() {
        if ok {
            v[i / 8] |= 1 << (i % 8);
        }
    }
    v
}

/// The same accounts in columnar proto form (look-back values resolved as the rows path does).
fn to_columns(rules: &CompiledRuleset, accounts: &[Account]) -> proto::AccountColumns {
    use proto::attribute_column::Values;
    let mut cols = proto::AccountColumns {
        ids: accounts.iter().map(|a| a.id.clone()).collect(),
        statuses: accounts.iter().map(|a| a.status).collect(),
        ..Default::default()
    };
    for attr in &rules.attributes {
        let get = |a: &Account| a.attributes.get(&attr.name).and_then(|v| v.kind.clone());
        let valid: Vec<bool> = accounts.iter().map(|a| get(a).is_some()).collect();
        let values = match attr.ty {
            crate::ir::AttrType::Number => Values::Numbers(proto::NumberColumn {
                values: accounts
                    .iter()
                    .map(|a| match get(a) {
                        Some(V::NumberValue(x)) => x,
                        _ => 0.0,
                    })
                    .collect(),
            }),
            crate::ir::AttrType::Text | crate::ir::AttrType::Ordinal => {
                Values::Texts(proto::TextColumn {
                    values: accounts
                        .iter()
                        .map(|a| match get(a) {
                            Some(V::TextValue(s)) => s,
                            _ => String::new(),
                        })
                        .collect(),
                })
            }
            crate::ir::AttrType::Bool => Values::Bools(proto::BoolColumn {
                values: accounts
                    .iter()
                    .map(|a| matches!(get(a), Some(V::BoolValue(true))))
                    .collect(),
            }),
            crate::ir::AttrType::Time => Values::Times(proto::TimeColumn {
                unix_nanos: accounts
                    .iter()
                    .map(|a| match get(a) {
                        Some(V::TimeValue(t)) => t.seconds * 1_000_000_000 + i64::from(t.nanos),
                        _ => 0,
                    })
                    .collect(),
            }),
        };
        cols.columns.push(proto::AttributeColumn {
            attribute: attr.name.clone(),
            validity: validity(&valid),
            values: Some(values),
        });
    }
    for &(attr, period) in &rules.lookbacks {
        let name = &rules.attributes[attr as usize].name;
        let instant = AS_OF_SECS - i64::from(period) * 86_400;
        let then: Vec<Option<f64>> = accounts
            .iter()
            .map(|a| {
                let h = a.history.get(name)?;
                h.points
                    .iter()
                    .filter(|p| p.time.unwrap().seconds <= instant)
                    .max_by_key(|p| p.time.unwrap().seconds)
                    .map(|p| p.value)
            })
            .collect();
        cols.lookbacks.push(proto::LookbackColumn {
            attribute: name.clone(),
            period_days: period as i32,
            validity: validity(&then.iter().map(Option::is_some).collect::<Vec<_>>()),
            values: then.iter().map(|v| v.unwrap_or(0.0)).collect(),
        });
    }
    cols
}

/// The same accounts as an Arrow batch (a mix of Arrow types to exercise the conversions).
fn to_batch(rules: &CompiledRuleset, accounts: &[Account]) -> RecordBatch {
    let cols = to_columns(rules, accounts);
    let mut fields: Vec<(String, ArrayRef)> = vec![
        (
            "id".into(),
            Arc::new(StringArray::from_iter_values(
                accounts.iter().map(|a| a.id.as_str()),
            )),
        ),
        (
            "status".into(),
            Arc::new(StringArray::from_iter(
                accounts
                    .iter()
                    .map(|a| (a.status == 2).then_some("Cancelled")),
            )),
        ),
        (
            "ignored_extra".into(),
            Arc::new(Int32Array::from(vec![1; accounts.len()])),
        ),
    ];
    use proto::attribute_column::Values;
    for c in cols.columns {
        let valid = |i: usize| c.validity.is_empty() || c.validity[i / 8] & (1 << (i % 8)) != 0;
        let arr: ArrayRef = match c.values.clone().unwrap() {
            Values::Numbers(v) if c.attribute == "tickets" => Arc::new(Int64Array::from_iter(
                v.values
                    .iter()
                    .enumerate()
                    .map(|(i, &x)| valid(i).then_some(x as i64)),
            )),
            Values::Numbers(v) => Arc::new(Float64Array::from_iter(
                v.values
                    .iter()
                    .enumerate()
                    .map(|(i, &x)| valid(i).then_some(x)),
            )),
            Values::Texts(v) if c.attribute == "freq" => {
                let d: DictionaryArray<Int8Type> = v
                    .values
                    .iter()
                    .enumerate()
                    .map(|(i, s)| valid(i).then_some(s.as_str()))
                    .collect();
                Arc::new(d)
            }
            Values::Texts(v) => Arc::new(StringArray::from_iter(
                v.values
                    .iter()
                    .enumerate()
                    .map(|(i, s)| valid(i).then_some(s.as_str())),
            )),
            Values::Bools(v) => Arc::new(BooleanArray::from_iter(
                v.values
                    .iter()
                    .enumerate()
                    .map(|(i, &b)| valid(i).then_some(b)),
            )),
            Values::Times(v) if accounts.len().is_multiple_of(2) => Arc::new(
                TimestampNanosecondArray::from_iter(
                    v.unix_nanos
                        .iter()
                        .enumerate()
                        .map(|(i, &t)| valid(i).then_some(t)),
                )
                .with_timezone("UTC"),
            ),
            Values::Times(v) => Arc::new(TimestampMillisecondArray::from_iter(
                v.unix_nanos
                    .iter()
                    .enumerate()
                    .map(|(i, &t)| valid(i).then_some(t / 1_000_000)),
            )),
        };
        fields.push((c.attribute, arr));
    }
    for lb in cols.lookbacks {
        let valid = |i: usize| lb.validity[i / 8] & (1 << (i % 8)) != 0;
        let arr = Float64Array::from_iter(
            lb.values
                .iter()
                .enumerate()
                .map(|(i, &x)| valid(i).then_some(x)),
        );
        fields.push((
            format!("{}@-{}d", lb.attribute, lb.period_days),
            Arc::new(arr),
        ));
    }
    RecordBatch::try_from_iter(fields).unwrap()
}

/// A string column (plain Utf8, or a dictionary of Utf8 values) as a plain `StringArray`.
fn str_col(b: &RecordBatch, name: &str) -> StringArray {
    let col = b
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"));
    if let Some(d) = arrow_array::cast::AsArray::as_any_dictionary_opt(col.as_ref()) {
        let values: &StringArray = d.values().as_any().downcast_ref().unwrap();
        let keys = d.normalized_keys();
        return (0..col.len())
            .map(|i| col.is_valid(i).then(|| values.value(keys[i])))
            .collect();
    }
    col.as_any().downcast_ref::<StringArray>().unwrap().clone()
}

fn opt_str(a: &StringArray, i: usize) -> &str {
    if a.is_null(i) {
        ""
    } else {
        a.value(i)
    }
}

#[test]
fn rows_columns_and_arrow_agree() {
    for ignore in [false, true] {
        let rules = compiled(&rich_ruleset(ignore));
        let accounts = random_accounts(3000, 7 + ignore as u64);
        let rows = score(&rules, &request(accounts.clone(), proto::ScoreView::Full)).unwrap();
        // Columnar form (times in the rows have whole seconds, so every form is exact).
        let mut req = request(vec![], proto::ScoreView::Full);
        req.account_columns = Some(to_columns(&rules, &accounts));
        let cols = score(&rules, &req).unwrap();
        assert_eq!(rows, cols);
        // Not every account lands in one profile: selection is exercised.
        let profiles: std::collections::HashSet<_> =
            rows.iter().map(|h| h.profile.as_str()).collect();
        assert!(profiles.len() >= 3, "{profiles:?}");

        for view in [proto::ScoreView::Basic, proto::ScoreView::Dimensions] {
            let batch = to_batch(&rules, &accounts);
            let out = score_record_batch_with_threads(&rules, &batch, AS_OF, view, 1).unwrap();
            assert_eq!(out.num_rows(), rows.len());
            let ids = str_col(&out, "account_id");
            let profile = str_col(&out, "profile");
            let rank = str_col(&out, "rank");
            let reason = str_col(&out, "unknown_reason");
            let sc = out
                .column_by_name("score")
                .unwrap()
                .as_any()
                .downcast_ref::<Int32Array>()
                .unwrap();
            for (i, h) in rows.iter().enumerate() {
                assert_eq!(ids.value(i), h.account_id);
                assert_eq!(opt_str(&profile, i), h.profile);
                assert_eq!(
                    rank.value(i),
                    h.rank().as_str_name().trim_start_matches("HEALTH_RANK_")
                );
                let r = h
                    .unknown_reason()
                    .as_str_name()
                    .trim_start_matches("UNKNOWN_REASON_");
                assert_eq!(opt_str(&reason, i), if r == "UNSPECIFIED" { "" } else { r });
                assert_eq!(sc.is_valid(i).then(|| sc.value(i)), h.score);
                if view == proto::ScoreView::Dimensions {
                    for d in &h.dimensions {
                        let dr = str_col(&out, &format!("{}.rank", d.dimension));
                        assert_eq!(
                            dr.value(i),
                            d.rank().as_str_name().trim_start_matches("HEALTH_RANK_")
                        );
                        let ds = out
                            .column_by_name(&format!("{}.score", d.dimension))
                            .unwrap();
                        let ds = ds.as_any().downcast_ref::<Int32Array>().unwrap();
                        assert_eq!(ds.is_valid(i).then(|| ds.value(i)), d.score);
                    }
                }
            }
            assert_eq!(
                out.column_by_name("error").unwrap().null_count(),
                rows.len()
            );
        }
    }
}

#[test]
fn thread_count_does_not_change_results() {
    let rules = compiled(&rich_ruleset(true));
    let accounts = random_accounts(40_000, 3);
    let bytes = request(accounts.clone(), proto::ScoreView::Full).encode_to_vec();
    let one = score_request_bytes_with_threads(&rules, &bytes, 1).unwrap();
    let many = score_request_bytes_with_threads(&rules, &bytes, 3).unwrap();
    assert_eq!(one, many);
    let batch = to_batch(&rules, &accounts);
    let a = score_record_batch_with_threads(&rules, &batch, AS_OF, proto::ScoreView::Dimensions, 1)
        .unwrap();
    let b = score_record_batch_with_threads(&rules, &batch, AS_OF, proto::ScoreView::Dimensions, 4)
        .unwrap();
    assert_eq!(a, b);
}

#[test]
fn fast_path_matches_exact_per_row_scoring() {
    // BASIC uses the column-wise fast path where it applies; FULL reports from the exact per-row
    // computation. The scores must agree on every row.
    for ignore in [false, true] {
        let rules = compiled(&rich_ruleset(ignore));
        let accounts = random_accounts(5000, 11);
        let basic = score(&rules, &request(accounts.clone(), proto::ScoreView::Basic)).unwrap();
        let full = score(&rules, &request(accounts, proto::ScoreView::Full)).unwrap();
        for (b, f) in basic.iter().zip(&full) {
            assert_eq!(
                (b.score, b.rank, b.unknown_reason),
                (f.score, f.rank, f.unknown_reason)
            );
        }
    }
}

#[test]
fn arrow_bad_rows_and_bad_columns() {
    let rules = compiled(&seed_ruleset(false));
    let batch = RecordBatch::try_from_iter(vec![
        (
            "id",
            Arc::new(StringArray::from(vec![
                Some("a"),
                Some("b"),
                Some("a"),
                None,
                Some("e"),
            ])) as ArrayRef,
        ),
        (
            "status",
            Arc::new(StringArray::from(vec![
                None,
                Some("ACTIVE"),
                Some("gone"),
                None,
                None,
            ])) as ArrayRef,
        ),
        (
            "logins",
            Arc::new(Float64Array::from(vec![
                Some(1.0),
                Some(f64::INFINITY),
                None,
                None,
                Some(20.0),
            ])) as ArrayRef,
        ),
        (
            "seats",
            Arc::new(Int64Array::from(vec![
                Some(1),
                Some(1 << 54),
                None,
                None,
                Some(20),
            ])) as ArrayRef,
        ),
        (
            "freq",
            Arc::new(StringArray::from(vec![
                Some("daily"),
                Some("hourly"),
                None,
                None,
                Some(""),
            ])) as ArrayRef,
        ),
    ])
    .unwrap();
    let out =
        score_record_batch_with_threads(&rules, &batch, AS_OF, proto::ScoreView::Basic, 1).unwrap();
    let err = str_col(&out, "error");
    let errs: Vec<Option<&str>> = (0..5)
        .map(|i| err.is_valid(i).then(|| err.value(i)))
        .collect();
    assert_eq!(errs[0], None);
    assert_eq!(
        errs[1],
        Some("logins: infinite number; seats: integer beyond 2^53 is not an exact number; freq: undeclared ordinal level \"hourly\"")
    );
    assert_eq!(
        errs[2],
        Some("id: duplicate id (first at row 0); status: unknown status \"gone\"")
    );
    assert_eq!(errs[3], Some("id: id is required"));
    assert_eq!(errs[4], None);
    let rank = str_col(&out, "rank");
    assert!(rank.is_null(1) && rank.is_null(2) && rank.is_valid(0) && rank.is_valid(4));
    assert!(str_col(&out, "profile").is_null(1));

    let wrong = RecordBatch::try_from_iter(vec![
        ("id", Arc::new(StringArray::from(vec!["a"])) as ArrayRef),
        ("logins", Arc::new(StringArray::from(vec!["1"])) as ArrayRef),
    ])
    .unwrap();
    match score_record_batch(&rules, &wrong, AS_OF, proto::ScoreView::Basic) {
        Err(Error::Malformed(m)) => assert!(m.contains("logins"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn account_health_arrow_uses_category_columns() {
    let r = ruleset(
        HealthModel::AccountHealth,
        vec![ah_profile(
            "p",
            None,
            vec![category(
                "risk",
                vec![num("tickets", Op::LessThan, 3.0)],
                vec![],
            )],
        )],
    );
    let rules = compiled(&r);
    let batch = RecordBatch::try_from_iter(vec![
        (
            "id",
            Arc::new(StringArray::from(vec!["a", "b"])) as ArrayRef,
        ),
        (
            "tickets",
            Arc::new(Float64Array::from(vec![1.0, 5.0])) as ArrayRef,
        ),
    ])
    .unwrap();
    let out = score_record_batch(&rules, &batch, AS_OF, proto::ScoreView::Full).unwrap();
    let names: Vec<_> = out
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(
        names,
        [
            "account_id",
            "profile",
            "score",
            "rank",
            "unknown_reason",
            "risk.rank",
            "error"
        ]
    );
    let r = str_col(&out, "risk.rank");
    assert_eq!((r.value(0), r.value(1)), ("GOOD", "AVERAGE"));
}

// ---------- enterprise ----------

fn child(
    id: &str,
    rank: proto::HealthRank,
    score: Option<i32>,
    cv: Option<i64>,
) -> proto::ChildHealth {
    proto::ChildHealth {
        account_id: id.into(),
        rank: rank as i32,
        score,
        contract_value: cv,
    }
}

fn roll(
    model: HealthModel,
    settings: Option<proto::EnterpriseSettings>,
    children: Vec<proto::ChildHealth>,
) -> Result<proto::EnterpriseHealth> {
    let req = proto::RollUpEnterpriseHealthRequest {
        model: model as i32,
        settings,
        parents: vec![proto::ParentChildren {
            parent_id: "p".into(),
            children,
        }],
    };
    let bytes = roll_up_enterprise_health_bytes(&req.encode_to_vec())?;
    Ok(
        proto::RollUpEnterpriseHealthResponse::decode(bytes.as_slice())
            .unwrap()
            .parents
            .remove(0),
    )
}

#[test]
fn enterprise_roll_up() {
    use proto::HealthRank as R;
    let md = HealthModel::Multidimensional;
    // COUNT: 1 poor of 2 known = 50%, not > 50% -> not POOR; good 1/2 >= 50% -> GOOD.
    let e = roll(
        md,
        None,
        vec![
            child("a", R::Poor, Some(20), None),
            child("b", R::Good, Some(81), None),
            child("u", R::Unknown, None, None),
        ],
    )
    .unwrap();
    assert_eq!(
        (
            e.rank(),
            e.score,
            e.known_weight,
            e.poor_weight,
            e.good_weight
        ),
        (R::Good, Some(51), 2, 1, 1)
    );
    assert_eq!(e.unknown_children, vec!["u"]);
    assert_eq!(e.pulled_down_by, vec!["a"]);
    // CONTRACT_VALUE: the heavy poor child dominates; negative and missing weigh 0.
    let cv = Some(proto::EnterpriseSettings {
        method: proto::EnterpriseMethod::ContractValue as i32,
        ..Default::default()
    });
    let e = roll(
        md,
        cv,
        vec![
            child("small", R::Poor, Some(0), Some(10)),
            child("big", R::Poor, Some(10), Some(900)),
            child("neg", R::Good, Some(100), Some(-5)),
            child("none", R::Good, Some(100), None),
            child("ok", R::Average, Some(60), Some(90)),
        ],
    )
    .unwrap();
    assert_eq!(
        (e.rank(), e.known_weight, e.poor_weight, e.good_weight),
        (R::Poor, 1000, 910, 0)
    );
    assert_eq!(e.pulled_down_by, vec!["big", "small"]);
    assert_eq!(e.score, Some(14)); // (0*10 + 10*900 + 60*90) / 1000 = 14.4
                                   // Share boundaries: poor uses >, good uses >=.
    let shares = |p, g| {
        Some(proto::EnterpriseSettings {
            poor_share_percent: Some(p),
            good_share_percent: Some(g),
            ..Default::default()
        })
    };
    let kids = || {
        vec![
            child("a", R::Poor, None, None),
            child("b", R::Good, None, None),
            child("c", R::Good, None, None),
            child("d", R::Average, None, None),
        ]
    };
    let ah = HealthModel::AccountHealth;
    assert_eq!(roll(ah, shares(25, 50), kids()).unwrap().rank(), R::Good); // 25% poor is not > 25%
    assert_eq!(roll(ah, shares(24, 50), kids()).unwrap().rank(), R::Poor);
    assert_eq!(roll(ah, shares(50, 51), kids()).unwrap().rank(), R::Average);
    assert!(roll(ah, None, kids()).unwrap().score.is_none());
    // No known child / zero weight.
    let e = roll(ah, None, vec![child("u", R::Unknown, None, None)]).unwrap();
    assert_eq!(
        (e.rank(), e.unknown_reason()),
        (R::Unknown, proto::UnknownReason::NoChildData)
    );
    let e = roll(md, cv, vec![child("z", R::Good, Some(90), Some(0))]).unwrap();
    assert_eq!(
        (e.rank(), e.unknown_reason(), e.score),
        (R::Unknown, proto::UnknownReason::NoChildData, None)
    );
    // Ties in pulled_down_by keep request order.
    let e = roll(
        ah,
        None,
        vec![
            child("x", R::Poor, None, None),
            child("y", R::Poor, None, None),
        ],
    )
    .unwrap();
    assert_eq!(e.pulled_down_by, vec!["x", "y"]);
}

#[test]
fn enterprise_bad_input() {
    use proto::HealthRank as R;
    let cv = Some(proto::EnterpriseSettings {
        method: proto::EnterpriseMethod::ContractValue as i32,
        ..Default::default()
    });
    let err = roll(
        HealthModel::Multidimensional,
        cv,
        vec![
            child("a", R::Good, None, Some(i64::MAX)),
            child("b", R::Good, Some(101), Some(i64::MAX)),
        ],
    )
    .unwrap_err();
    let paths: Vec<_> = err.violations().iter().map(|v| v.path.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "parents[0].children[0].score",
            "parents[0].children[1].score",
            "parents[0]"
        ]
    );
    let err = roll(HealthModel::Unspecified, None, vec![]).unwrap_err();
    assert_eq!(err.violations()[0].path, "model");
}

// ---------- timing (run: cargo test --release -p health-core --lib timing -- --ignored --nocapture) ----------

/// 20 NUMBER metrics in 5 dimensions (4 x 25 each), one default profile.
fn bench_ruleset() -> CompiledRuleset {
    let dims: Vec<String> = (0..5).map(|d| format!("d{d}")).collect();
    let attrs: Vec<String> = (0..20).map(|m| format!("m{m}")).collect();
    let r = Ruleset {
        version: "bench".into(),
        model: HealthModel::Multidimensional as i32,
        catalog: Some(proto::Catalog {
            etag: String::new(),
            attributes: attrs
                .iter()
                .enumerate()
                .map(|(i, a)| attribute(a, proto::AttributeType::Number, &dims[i / 4]))
                .collect(),
            dimensions: dims
                .iter()
                .map(|d| proto::Dimension {
                    name: d.clone(),
                    ..Default::default()
                })
                .collect(),
        }),
        settings: None,
        profiles: vec![md_profile(
            "default",
            None,
            &dims.iter().map(|d| (d.as_str(), 20)).collect::<Vec<_>>(),
            attrs
                .iter()
                .map(|a| {
                    metric(
                        a,
                        25,
                        num(a, Op::GreaterThanOrEqual, 70.0),
                        num(a, Op::LessThan, 30.0),
                    )
                })
                .collect(),
        )],
    };
    compiled(&r)
}

fn time_it(label: &str, runs: usize, per: f64, unit: &str, mut f: impl FnMut()) {
    f(); // warm up
    let mut best = f64::INFINITY;
    for _ in 0..runs {
        let t = std::time::Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "{label}: best of {runs} = {:.1} ms, {:.3} {unit}",
        best * 1e3,
        best * 1e9 / per
    );
}

#[test]
#[ignore]
fn timing() {
    let rules = bench_ruleset();
    let n = 1_000_000;
    let mut g = Lcg(42);
    let mut fields: Vec<(String, ArrayRef)> = vec![(
        "id".into(),
        Arc::new(StringArray::from_iter_values(
            (0..n).map(|i| format!("acct-{i}")),
        )),
    )];
    for m in 0..20 {
        let v: Vec<f64> = (0..n).map(|_| g.below(100) as f64).collect();
        fields.push((format!("m{m}"), Arc::new(Float64Array::from(v))));
    }
    let batch = RecordBatch::try_from_iter(fields).unwrap();
    time_it("arrow decode only", 3, (n * 20) as f64, "ns/value", || {
        arrow_io::decode(&rules, &batch, 1).unwrap();
    });
    let d = arrow_io::decode(&rules, &batch, 1).unwrap();
    let plans = crate::score::Plans::new(&rules);
    time_it(
        "scoring only (1 thread)",
        3,
        (n * 20) as f64,
        "ns/value",
        || {
            crate::score::Scorer::new(&rules, &plans, &d.table, AS_OF, crate::score::Detail::None)
                .score_range(0, n)
                .unwrap();
        },
    );
    let id_strings: Vec<String> = (0..n).map(|i| format!("acct-{i}")).collect();
    let ids: Vec<Option<&str>> = id_strings.iter().map(|s| Some(s.as_str())).collect();
    time_it("check_ids only", 3, (n * 20) as f64, "ns/value", || {
        crate::table::check_ids(&ids, |_, _| {});
    });
    if std::env::var("TIMING_QUICK").is_ok() {
        return;
    }
    for threads in [1, 2] {
        time_it(
            &format!("arrow 1M x 20, {threads} thread(s)"),
            5,
            (n * 20) as f64,
            "ns/value",
            || {
                let out = score_record_batch_with_threads(
                    &rules,
                    &batch,
                    AS_OF,
                    proto::ScoreView::Basic,
                    threads,
                )
                .unwrap();
                assert_eq!(out.num_rows(), n);
            },
        );
    }

    let m = 200_000;
    let accounts: Vec<Account> = (0..m)
        .map(|i| {
            let vals: Vec<(String, Val)> = (0..20)
                .map(|k| (format!("m{k}"), Val::N(g.below(100) as f64)))
                .collect();
            let refs: Vec<(&str, Val)> =
                vals.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
            account(&format!("acct-{i}"), &refs)
        })
        .collect();
    let rows_req = request(accounts.clone(), proto::ScoreView::Basic).encode_to_vec();
    let mut cols_req = request(vec![], proto::ScoreView::Basic);
    cols_req.account_columns = Some(to_columns(&rules, &accounts));
    let cols_req = cols_req.encode_to_vec();
    for threads in [1, 2] {
        time_it(
            &format!("proto rows 200k x 20, {threads} thread(s)"),
            3,
            m as f64,
            "ns/account",
            || {
                score_request_bytes_with_threads(&rules, &rows_req, threads).unwrap();
            },
        );
        time_it(
            &format!("proto columns 200k x 20, {threads} thread(s)"),
            3,
            m as f64,
            "ns/account",
            || {
                score_request_bytes_with_threads(&rules, &cols_req, threads).unwrap();
            },
        );
    }
    time_it(
        "prost decode only, rows 200k x 20",
        3,
        m as f64,
        "ns/account",
        || {
            ScoreAccountsRequest::decode(rows_req.as_slice()).unwrap();
        },
    );
}

/// The benchmark workload (benchmarks/workload.py): 20 NUMBER metrics in 5 dimensions, ~5 %
/// nulls, ignore-missing on, two profiles (the first for `segment == "enterprise"`, ~half).
fn workload_ruleset() -> CompiledRuleset {
    let dims: Vec<String> = (0..5).map(|d| format!("d{d}")).collect();
    let attrs: Vec<String> = (0..20).map(|m| format!("m{m:02}")).collect();
    let mut catalog_attrs: Vec<proto::Attribute> = attrs
        .iter()
        .enumerate()
        .map(|(i, a)| attribute(a, proto::AttributeType::Number, &dims[i / 4]))
        .collect();
    catalog_attrs.push(attribute("segment", proto::AttributeType::Text, ""));
    let dim_weights = [30, 25, 20, 15, 10];
    let metric_weights = [40, 30, 20, 10];
    let profiles = [(60.0, 20.0), (70.0, 30.0)]
        .iter()
        .enumerate()
        .map(|(p, &(good, poor))| {
            md_profile(
                &format!("profile-{p}"),
                (p == 0).then(|| text("segment", Op::Equal, "enterprise")),
                &dims
                    .iter()
                    .zip(dim_weights)
                    .map(|(d, w)| (d.as_str(), w))
                    .collect::<Vec<_>>(),
                attrs
                    .iter()
                    .enumerate()
                    .map(|(i, a)| {
                        metric(
                            a,
                            metric_weights[i % 4],
                            num(a, Op::GreaterThanOrEqual, good),
                            num(a, Op::LessThan, poor),
                        )
                    })
                    .collect(),
            )
        })
        .collect();
    compiled(&Ruleset {
        version: "bench/1".into(),
        model: HealthModel::Multidimensional as i32,
        catalog: Some(proto::Catalog {
            etag: String::new(),
            attributes: catalog_attrs,
            dimensions: dims
                .iter()
                .map(|d| proto::Dimension {
                    name: d.clone(),
                    ..Default::default()
                })
                .collect(),
        }),
        settings: Some(proto::ModelSettings {
            poor_max: Some(40),
            good_min: Some(70),
            ignore_missing: true,
            ..Default::default()
        }),
        profiles,
    })
}

fn workload_batch(n: usize, seed: u64) -> RecordBatch {
    let mut g = Lcg(seed);
    let mut fields: Vec<(String, ArrayRef)> = vec![
        (
            "id".into(),
            Arc::new(StringArray::from_iter_values(
                (0..n).map(|i| format!("acct-{i}")),
            )),
        ),
        (
            "segment".into(),
            Arc::new(StringArray::from_iter_values((0..n).map(|_| {
                if g.below(2) == 0 {
                    "enterprise"
                } else {
                    "smb"
                }
            }))),
        ),
    ];
    for m in 0..20 {
        let v: Vec<Option<f64>> = (0..n)
            .map(|_| {
                let x = g.below(1000) as f64 / 10.0;
                (g.below(100) >= 5).then_some(x)
            })
            .collect();
        fields.push((format!("m{m:02}"), Arc::new(Float64Array::from(v))));
    }
    RecordBatch::try_from_iter(fields).unwrap()
}

/// Run: cargo test --release -p health-core --lib timing_workload -- --ignored --nocapture
#[test]
#[ignore]
fn timing_workload() {
    let rules = workload_ruleset();
    let n = 1_000_000;
    let values = (n * 20) as f64;
    let batch = workload_batch(n, 7);
    let runs = 7;
    for threads in [1, 2] {
        time_it(
            &format!("workload: decode only, {threads} thread(s)"),
            runs,
            values,
            "ns/value",
            || {
                arrow_io::decode(&rules, &batch, threads).unwrap();
            },
        );
    }
    time_it("workload: id check only", runs, values, "ns/value", || {
        let mut errors = Vec::new();
        arrow_io::check_id_column(batch.column(0).as_ref(), 1, &mut errors).unwrap();
        assert!(errors.is_empty());
    });
    // The same ids in no order (a permutation of the rows): the hashing check.
    let shuffled: ArrayRef = Arc::new(StringArray::from_iter_values(
        (0..n).map(|i| format!("acct-{}", (i * 7_919) % n)),
    ));
    time_it(
        "workload: id check only, shuffled ids",
        runs,
        values,
        "ns/value",
        || {
            let mut errors = Vec::new();
            arrow_io::check_id_column(shuffled.as_ref(), 1, &mut errors).unwrap();
            assert!(errors.is_empty());
        },
    );
    let names = crate::table::Names::new(&rules);
    let segment = names.attr("segment").unwrap();
    time_it(
        "workload: segment column only",
        runs,
        values,
        "ns/value",
        || {
            let mut errors = Vec::new();
            arrow_io::code_column(
                &names,
                segment,
                "segment",
                batch.column(1).as_ref(),
                &mut errors,
            )
            .unwrap();
        },
    );
    time_it(
        "workload: number columns only",
        runs,
        values,
        "ns/value",
        || {
            let mut errors = Vec::new();
            for c in &batch.columns()[2..] {
                arrow_io::number_column("m", c.as_ref(), true, &mut errors).unwrap();
            }
            assert!(errors.is_empty());
        },
    );
    let d = arrow_io::decode(&rules, &batch, 1).unwrap();
    let plans = crate::score::Plans::new(&rules);
    time_it(
        "workload: scoring only, 1 thread",
        runs,
        values,
        "ns/value",
        || {
            crate::score::Scorer::new(&rules, &plans, &d.table, AS_OF, crate::score::Detail::None)
                .score_range(0, n)
                .unwrap();
        },
    );
    time_it(
        "workload: decode, infinity check deferred, 1 thread",
        runs,
        values,
        "ns/value",
        || {
            arrow_io::decode_with(&rules, &batch, 1, true).unwrap();
        },
    );
    let deferred = arrow_io::decode_with(&rules, &batch, 1, true).unwrap();
    time_it(
        "workload: scoring and output, 1 thread",
        runs,
        values,
        "ns/value",
        || {
            arrow_io::score_decoded(&rules, &deferred, AS_OF, proto::ScoreView::Basic, 1)
                .unwrap()
                .unwrap();
        },
    );
    for threads in [1, 2] {
        time_it(
            &format!("workload: arrow end to end, {threads} thread(s)"),
            runs,
            values,
            "ns/value",
            || {
                let out = score_record_batch_with_threads(
                    &rules,
                    &batch,
                    AS_OF,
                    proto::ScoreView::Basic,
                    threads,
                )
                .unwrap();
                assert_eq!(out.num_rows(), n);
            },
        );
    }
}

/// Infinite numbers in borrowed Float64 columns are found wherever they are (the scorer checks
/// each block; a find re-decodes with the full check): only valid slots are bad rows, and every
/// other row scores as it would without them.
#[test]
fn infinite_numbers_in_later_blocks_and_null_slots() {
    let rules = workload_ruleset();
    let n = 20_000;
    let batch = workload_batch(n, 11);
    let clean =
        score_record_batch_with_threads(&rules, &batch, AS_OF, proto::ScoreView::Basic, 1).unwrap();
    // m03: +inf in a valid slot of a late block; m07: -inf in a null slot only.
    let mut cols: Vec<ArrayRef> = batch.columns().to_vec();
    let patch = |col: &ArrayRef, row: usize, v: f64, valid: bool| -> ArrayRef {
        let a = col.as_any().downcast_ref::<Float64Array>().unwrap();
        let vals: Vec<Option<f64>> = (0..a.len())
            .map(|i| match i == row {
                true => valid.then_some(v),
                false => a.is_valid(i).then(|| a.value(i)),
            })
            .collect();
        let mut values: Vec<f64> = vals.iter().map(|v| v.unwrap_or(0.0)).collect();
        values[row] = v;
        let nulls = arrow_buffer::NullBuffer::from_iter(vals.iter().map(Option::is_some));
        Arc::new(Float64Array::new(values.into(), Some(nulls)))
    };
    cols[2 + 3] = patch(&cols[2 + 3], 17_001, f64::INFINITY, true);
    let null_row = (5_000..n).find(|&i| cols[2 + 7].is_null(i)).unwrap();
    cols[2 + 7] = patch(&cols[2 + 7], null_row, f64::NEG_INFINITY, false);
    let bad = RecordBatch::try_new(batch.schema(), cols).unwrap();
    for threads in [1, 2] {
        let out =
            score_record_batch_with_threads(&rules, &bad, AS_OF, proto::ScoreView::Basic, threads)
                .unwrap();
        let err = str_col(&out, "error");
        let errors: Vec<usize> = (0..n).filter(|&i| err.is_valid(i)).collect();
        assert_eq!(errors, vec![17_001]);
        assert_eq!(err.value(17_001), "m03: infinite number");
        let (a, b) = (
            out.column_by_name("score").unwrap(),
            clean.column_by_name("score").unwrap(),
        );
        assert!(a.is_null(17_001));
        assert_eq!(&a.slice(0, 17_001), &b.slice(0, 17_001));
        assert_eq!(&a.slice(17_002, n - 17_002), &b.slice(17_002, n - 17_002));
    }
}

/// The lookup-table paths (twin profiles over a block, single profiles, gathered groups) give
/// the exact per-row path's results: the BASIC and DIMENSIONS Arrow views against every row's
/// metric outcomes (`Detail::Outcomes`, what the protobuf views encode) through `md_row`.
#[test]
fn workload_arrow_views_equal_exact_per_row_path() {
    use crate::score::{md_row, Detail, MdRow, Plan, Scorer, NO_SCORE};
    for ignore in [true, false] {
        let mut rules = workload_ruleset();
        rules.settings.ignore_missing = ignore;
        for n in [1, 100, 5_000, 40_000] {
            let batch = workload_batch(n, n as u64 + 3);
            // Also a batch where one profile's group is small (gathered, not block-wide).
            let cols: Vec<ArrayRef> = batch
                .columns()
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    if batch.schema().field(i).name() == "segment" {
                        Arc::new(StringArray::from_iter_values((0..n).map(|r| {
                            if r % 13 == 0 {
                                "enterprise"
                            } else {
                                "x"
                            }
                        }))) as ArrayRef
                    } else {
                        c.clone()
                    }
                })
                .collect();
            let skewed = RecordBatch::try_new(batch.schema(), cols).unwrap();
            for b in [&batch, &skewed] {
                // The exact path: outcomes per row, everything else recomputed by md_row.
                let d = arrow_io::decode(&rules, b, 1).unwrap();
                let plans = rules.plans();
                let exact = Scorer::new(&rules, plans, &d.table, AS_OF, Detail::Outcomes)
                    .score_range(0, n)
                    .unwrap();
                let ncols = plans.columns.names.len();
                let mut want_scores = vec![vec![None; n]; ncols];
                let mut want_ranks = vec![vec![None; n]; ncols];
                let mut md = MdRow::default();
                for (i, row) in exact.rows.iter().enumerate() {
                    let Some(Plan::Md(plan)) = plans.profiles.get(row.profile as usize) else {
                        continue;
                    };
                    let stride = plans.stride;
                    md_row(
                        plan,
                        &rules.settings,
                        &exact.detail[i * stride..(i + 1) * stride],
                        &mut md,
                    );
                    assert_eq!(md.score.map_or(NO_SCORE, |v| v as i32), row.score);
                    for (dim, &c) in md
                        .dims
                        .iter()
                        .zip(&plans.columns.slots[row.profile as usize])
                    {
                        want_scores[c][i] = dim.score.map(|v| v as i32);
                        want_ranks[c][i] = arrow_io::rank_name(dim.rank);
                    }
                }
                let want_score: Int32Array = exact
                    .rows
                    .iter()
                    .map(|r| (r.score != NO_SCORE).then_some(r.score))
                    .collect();
                let want_rank: StringArray = exact
                    .rows
                    .iter()
                    .map(|r| arrow_io::rank_name(r.rank))
                    .collect();
                for threads in [1, 2] {
                    for view in [proto::ScoreView::Basic, proto::ScoreView::Dimensions] {
                        let out = score_record_batch_with_threads(&rules, b, AS_OF, view, threads)
                            .unwrap();
                        let score = out.column_by_name("score").unwrap();
                        assert_eq!(score.to_data(), want_score.to_data(), "n={n} {ignore}");
                        assert_eq!(str_col(&out, "rank"), want_rank, "n={n} {ignore}");
                        if view == proto::ScoreView::Basic {
                            continue;
                        }
                        for (c, name) in plans.columns.names.iter().enumerate() {
                            let want: Int32Array = want_scores[c].iter().copied().collect();
                            let got = out.column_by_name(&format!("{name}.score")).unwrap();
                            assert_eq!(got.to_data(), want.to_data(), "{name} n={n} {ignore}");
                            let want: StringArray = want_ranks[c].iter().copied().collect();
                            let got = str_col(&out, &format!("{name}.rank"));
                            assert_eq!(got, want, "{name} n={n} {ignore}");
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn a_batch_past_u32_rows_is_refused_before_any_work() {
    // A null column holds no memory whatever its length: 2^32 rows cost nothing to make, and
    // rows are numbered in 32 bits inside the core.
    let n = 1usize << 32;
    let schema = arrow_schema::Schema::new(vec![arrow_schema::Field::new(
        "id",
        arrow_schema::DataType::Null,
        true,
    )]);
    let batch = RecordBatch::try_new(
        Arc::new(schema),
        vec![Arc::new(arrow_array::NullArray::new(n))],
    )
    .expect("a batch");
    let rules = crate::fuzzing::rules(false);
    match score_record_batch_with_threads(&rules, &batch, 0, proto::ScoreView::Basic, 1) {
        Err(Error::ResourceExhausted(m)) => assert!(m.contains("4294967296 rows"), "{m}"),
        other => panic!(
            "expected ResourceExhausted, got {:?}",
            other.map(|b| b.num_rows())
        ),
    }
}

#[test]
fn as_of_outside_the_timestamp_range_is_refused_naming_it() {
    for (seconds, nanos) in [
        (i64::MAX, 0),
        (i64::MIN, 0),
        (253_402_300_800, 0),
        (-62_135_596_801, 0),
        (0, -1),
        (0, 1_000_000_000),
    ] {
        match as_of_nanos(seconds, nanos) {
            Err(Error::InvalidAccounts(v)) => assert_eq!(v[0].path, "as_of"),
            other => panic!("({seconds}, {nanos}): {other:?}"),
        }
    }
    assert_eq!(
        as_of_nanos(253_402_300_799, 999_999_999).unwrap(),
        253_402_300_799_999_999_999
    );
    assert_eq!(
        as_of_nanos(-62_135_596_800, 0).unwrap(),
        -62_135_596_800_000_000_000
    );
}
