//! Unit tests of ruleset validation and compilation.

use prost::Message;

use super::{compile, compile_bytes};
use crate::error::{Error, Violation};
use crate::ir::*;
use crate::proto::predicate::Operand;
use crate::proto::{self, criterion::Kind, AttributeType as T, HealthModel, Operator as O};

// ----- builders ----------------------------------------------------------------------------

fn attr(name: &str, ty: T, dimension: &str) -> proto::Attribute {
    proto::Attribute {
        name: name.into(),
        r#type: ty as i32,
        dimension: dimension.into(),
        ..Default::default()
    }
}

fn ordinal(name: &str, levels: &[&str], dimension: &str) -> proto::Attribute {
    proto::Attribute {
        ordinal_levels: levels.iter().map(|s| s.to_string()).collect(),
        ..attr(name, T::Ordinal, dimension)
    }
}

fn dim(name: &str) -> proto::Dimension {
    proto::Dimension {
        name: name.into(),
        ..Default::default()
    }
}

fn pred(attribute: &str, op: O, operand: Option<Operand>) -> proto::Criterion {
    proto::Criterion {
        kind: Some(Kind::Predicate(proto::Predicate {
            attribute: attribute.into(),
            operator: op as i32,
            operand,
            change_period_days: 0,
        })),
    }
}

fn num(attribute: &str, op: O, x: f64) -> proto::Criterion {
    pred(attribute, op, Some(Operand::Number(x)))
}

fn num_range(attribute: &str, low: f64, high: f64) -> proto::Criterion {
    pred(
        attribute,
        O::Between,
        Some(Operand::NumberRange(proto::NumberRange { low, high })),
    )
}

fn text(attribute: &str, op: O, t: &str) -> proto::Criterion {
    pred(attribute, op, Some(Operand::Text(t.into())))
}

fn set(attribute: &str, op: O, values: &[&str]) -> proto::Criterion {
    let values = values.iter().map(|s| s.to_string()).collect();
    pred(
        attribute,
        op,
        Some(Operand::TextSet(proto::TextSet { values })),
    )
}

fn days(attribute: &str, op: O, d: i64) -> proto::Criterion {
    pred(attribute, op, Some(Operand::Days(d)))
}

fn day_range(attribute: &str, low: i64, high: i64) -> proto::Criterion {
    pred(
        attribute,
        O::Between,
        Some(Operand::DayRange(proto::DayRange { low, high })),
    )
}

fn bare(attribute: &str, op: O) -> proto::Criterion {
    pred(attribute, op, None)
}

fn change(mut c: proto::Criterion, period: i32) -> proto::Criterion {
    if let Some(Kind::Predicate(p)) = &mut c.kind {
        p.change_period_days = period;
    }
    c
}

fn all(of: Vec<proto::Criterion>) -> proto::Criterion {
    proto::Criterion {
        kind: Some(Kind::All(proto::CriterionList { of })),
    }
}

fn any(of: Vec<proto::Criterion>) -> proto::Criterion {
    proto::Criterion {
        kind: Some(Kind::Any(proto::CriterionList { of })),
    }
}

fn not(c: proto::Criterion) -> proto::Criterion {
    proto::Criterion {
        kind: Some(Kind::Negation(Box::new(c))),
    }
}

/// Attributes: 0 logins, 1 seats, 2 tickets, 3 plan, 4 risk, 5 last_login, 6 champion.
/// Dimensions: 0 usage, 1 support, 2 engagement.
fn catalog() -> proto::Catalog {
    proto::Catalog {
        etag: String::new(),
        attributes: vec![
            attr("logins", T::Number, "usage"),
            attr("seats", T::Number, "usage"),
            attr("tickets", T::Number, "support"),
            attr("plan", T::Text, ""),
            ordinal("risk", &["none", "low", "high", "critical"], "support"),
            attr("last_login", T::Time, "engagement"),
            attr("champion", T::Bool, "engagement"),
        ],
        dimensions: vec![dim("usage"), dim("support"), dim("engagement")],
    }
}

fn metric(attribute: &str, weight: i32) -> proto::Metric {
    proto::Metric {
        attribute: attribute.into(),
        weight,
        good: Some(num(attribute, O::GreaterThanOrEqual, 10.0)),
        poor: Some(num(attribute, O::LessThan, 2.0)),
    }
}

fn pdim(dimension: &str, weight: i32) -> proto::ProfileDimension {
    proto::ProfileDimension {
        dimension: dimension.into(),
        weight,
    }
}

/// A multidimensional profile: usage 60 (logins 70, seats 30), support 40 (tickets 100).
fn md_profile(name: &str, segment: Option<proto::Criterion>) -> proto::Profile {
    proto::Profile {
        name: name.into(),
        segment,
        dimensions: vec![pdim("usage", 60), pdim("support", 40)],
        metrics: vec![
            metric("logins", 70),
            metric("tickets", 100),
            metric("seats", 30),
        ],
        ..Default::default()
    }
}

fn md_ruleset() -> proto::Ruleset {
    proto::Ruleset {
        version: "multidimensional/draft".into(),
        model: HealthModel::Multidimensional as i32,
        catalog: Some(catalog()),
        settings: None,
        profiles: vec![
            md_profile("enterprise", Some(text("plan", O::Equal, "enterprise"))),
            md_profile("default", None),
        ],
    }
}

fn category(
    name: &str,
    good: Vec<proto::Criterion>,
    poor: Vec<proto::Criterion>,
) -> proto::Category {
    proto::Category {
        name: name.into(),
        good,
        poor,
    }
}

fn ah_profile(name: &str, segment: Option<proto::Criterion>) -> proto::Profile {
    proto::Profile {
        name: name.into(),
        segment,
        categories: vec![
            category(
                "usage",
                vec![
                    num("logins", O::GreaterThan, 5.0),
                    bare("champion", O::IsTrue),
                ],
                vec![days("last_login", O::MoreThanDaysAgo, 30)],
            ),
            category(
                "risk",
                vec![text("risk", O::AtMost, "low")],
                vec![set("risk", O::In, &["critical", "high", "critical"])],
            ),
        ],
        ..Default::default()
    }
}

fn ah_ruleset() -> proto::Ruleset {
    proto::Ruleset {
        version: "account_health/versions/1".into(),
        model: HealthModel::AccountHealth as i32,
        catalog: Some(catalog()),
        settings: None,
        profiles: vec![ah_profile("main", None)],
    }
}

/// An AH ruleset whose only criterion is `segment` on profile 0 (path `profiles[0].segment`).
fn with_segment(segment: proto::Criterion) -> proto::Ruleset {
    let mut rs = ah_ruleset();
    rs.profiles[0].segment = Some(segment);
    rs
}

fn violations(rs: &proto::Ruleset) -> Vec<Violation> {
    match compile(rs) {
        Err(Error::InvalidRuleset(v)) => v,
        Err(other) => panic!("expected InvalidRuleset, got {other:?}"),
        Ok(_) => panic!("expected InvalidRuleset, the ruleset compiled"),
    }
}

/// Asserts that `rs` has exactly one violation, at `path`, whose message contains `needle`.
#[track_caller]
fn assert_only(rs: &proto::Ruleset, path: &str, needle: &str) {
    let v = violations(rs);
    assert!(
        v.len() == 1 && v[0].path == path && v[0].message.contains(needle),
        "expected only `{path}: ...{needle}...`, got {v:#?}"
    );
}

/// Asserts that `rs` has a violation at `path` whose message contains `needle`.
#[track_caller]
fn assert_has(rs: &proto::Ruleset, path: &str, needle: &str) {
    let v = violations(rs);
    assert!(
        v.iter()
            .any(|x| x.path == path && x.message.contains(needle)),
        "expected `{path}: ...{needle}...`, got {v:#?}"
    );
}

fn ok(rs: &proto::Ruleset) -> CompiledRuleset {
    match compile(rs) {
        Ok(c) => c,
        Err(e) => panic!("expected the ruleset to compile: {e}"),
    }
}

fn pred_at(c: &CompiledRuleset, node: NodeId) -> &Pred {
    match &c.nodes[node as usize] {
        Node::Pred(p) => p,
        other => panic!("expected a predicate, got {other:?}"),
    }
}

// ----- valid rulesets ----------------------------------------------------------------------

/// (catalog dimension, weight, [(attribute, weight, metric_index)]).
type DimShape = (u32, u32, Vec<(AttrId, u32, u32)>);

#[test]
fn multidimensional_ruleset_compiles() {
    let c = ok(&md_ruleset());
    assert_eq!(c.version, "multidimensional/draft");
    assert_eq!(c.model, Model::Multidimensional);
    assert_eq!(
        c.settings,
        Settings {
            poor_max: 40,
            good_min: 70,
            ignore_missing: false,
            enterprise: EnterpriseSettings {
                method: EnterpriseMethod::Count,
                poor_share_percent: 50,
                good_share_percent: 50,
            },
        }
    );
    assert_eq!(c.dimensions, ["usage", "support", "engagement"]);
    assert_eq!(c.attributes.len(), 7);
    assert_eq!(c.attr_index["risk"], 4);
    assert_eq!(c.attributes[2].dimension, Some(1));
    assert_eq!(c.attributes[3].dimension, None);
    assert_eq!(c.attributes[5].ty, AttrType::Time);
    assert!(c.warnings.is_empty());
    assert!(c.lookbacks.is_empty());

    assert_eq!(c.profiles.len(), 2);
    assert_eq!(c.profiles[0].name, "enterprise");
    assert_eq!(c.profiles[1].name, "default");
    assert!(c.profiles[1].segment.is_none());
    let seg = c.profiles[0].segment.expect("segment");
    assert_eq!(
        pred_at(&c, seg),
        &Pred::CodeEq {
            attr: 3,
            code: 0,
            negate: false
        }
    );
    assert_eq!(c.attributes[3].code_names, ["enterprise"]);
    assert_eq!(c.attributes[3].codes["enterprise"], 0);

    let ProfileBody::Multidimensional { dimensions } = &c.profiles[0].body else {
        panic!("expected a multidimensional body")
    };
    let shape: Vec<DimShape> = dimensions
        .iter()
        .map(|d| {
            let m = d
                .metrics
                .iter()
                .map(|m| (m.attr, m.weight, m.metric_index))
                .collect();
            (d.dimension, d.weight, m)
        })
        .collect();
    assert_eq!(
        shape,
        vec![
            (0, 60, vec![(0, 70, 0), (1, 30, 2)]),
            (1, 40, vec![(2, 100, 1)])
        ]
    );
    let logins = &dimensions[0].metrics[0];
    assert_eq!(
        pred_at(&c, logins.good),
        &Pred::Number {
            attr: 0,
            cmp: Cmp::Ge,
            operand: 10.0
        }
    );
    assert_eq!(
        pred_at(&c, logins.poor),
        &Pred::Number {
            attr: 0,
            cmp: Cmp::Lt,
            operand: 2.0
        }
    );
}

#[test]
fn account_health_ruleset_compiles() {
    let c = ok(&ah_ruleset());
    assert_eq!(c.model, Model::AccountHealth);
    assert_eq!(
        c.attributes[4].code_names,
        ["none", "low", "high", "critical"]
    );
    assert_eq!(c.attributes[4].codes["high"], 2);
    assert!(c.profiles[0].segment.is_none());
    let ProfileBody::AccountHealth { categories } = &c.profiles[0].body else {
        panic!("expected an account health body")
    };
    assert_eq!(categories.len(), 2);
    assert_eq!(categories[0].name, "usage");
    let paths: Vec<&str> = categories
        .iter()
        .flat_map(|cat| cat.good.iter().chain(&cat.poor).map(|(_, p)| p.as_str()))
        .collect();
    assert_eq!(
        paths,
        [
            "profiles[0].categories[0].good[0]",
            "profiles[0].categories[0].good[1]",
            "profiles[0].categories[0].poor[0]",
            "profiles[0].categories[1].good[0]",
            "profiles[0].categories[1].poor[0]",
        ]
    );
    let p = |n: NodeId| pred_at(&c, n).clone();
    assert_eq!(
        p(categories[0].good[1].0),
        Pred::Bool {
            attr: 6,
            value: true
        }
    );
    assert_eq!(
        p(categories[0].poor[0].0),
        Pred::Time {
            attr: 5,
            cmp: Cmp::Gt,
            nanos: 30 * NANOS_PER_DAY
        }
    );
    assert_eq!(
        p(categories[1].good[0].0),
        Pred::AtMost { attr: 4, level: 1 }
    );
    assert_eq!(
        p(categories[1].poor[0].0),
        Pred::CodeIn {
            attr: 4,
            codes: vec![2, 3],
            negate: false
        }
    );
}

#[test]
fn predicates_lower_to_ir() {
    let cases: Vec<(proto::Criterion, Pred)> = vec![
        (
            num_range("logins", 1.0, 2.5),
            Pred::NumberBetween {
                attr: 0,
                low: 1.0,
                high: 2.5,
            },
        ),
        (
            num("logins", O::NotEqual, 3.0),
            Pred::Number {
                attr: 0,
                cmp: Cmp::Ne,
                operand: 3.0,
            },
        ),
        (
            text("risk", O::Equal, "high"),
            Pred::CodeEq {
                attr: 4,
                code: 2,
                negate: false,
            },
        ),
        (
            text("risk", O::NotEqual, "none"),
            Pred::CodeEq {
                attr: 4,
                code: 0,
                negate: true,
            },
        ),
        (
            text("risk", O::AtLeast, "low"),
            Pred::AtLeast { attr: 4, level: 1 },
        ),
        (
            set("risk", O::NotIn, &["critical", "none"]),
            Pred::CodeIn {
                attr: 4,
                codes: vec![0, 3],
                negate: true,
            },
        ),
        (
            bare("champion", O::IsFalse),
            Pred::Bool {
                attr: 6,
                value: false,
            },
        ),
        (bare("plan", O::IsEmpty), Pred::IsEmpty { attr: 3 }),
        (
            bare("last_login", O::IsNotEmpty),
            Pred::IsNotEmpty { attr: 5 },
        ),
        (
            days("last_login", O::WithinLastDays, 7),
            Pred::Time {
                attr: 5,
                cmp: Cmp::Le,
                nanos: 7 * NANOS_PER_DAY,
            },
        ),
        (
            days("last_login", O::LessThan, -2),
            Pred::Time {
                attr: 5,
                cmp: Cmp::Lt,
                nanos: -2 * NANOS_PER_DAY,
            },
        ),
        (
            days("last_login", O::GreaterThanOrEqual, i64::MAX),
            Pred::Time {
                attr: 5,
                cmp: Cmp::Ge,
                nanos: i128::from(i64::MAX) * NANOS_PER_DAY,
            },
        ),
        (
            day_range("last_login", 3, 10),
            Pred::TimeBetween {
                attr: 5,
                low: 3 * NANOS_PER_DAY,
                high: 10 * NANOS_PER_DAY,
            },
        ),
        (
            change(num("logins", O::LessThan, -20.0), 30),
            Pred::Change {
                attr: 0,
                lookback: 0,
                cmp: Cmp::Lt,
                operand: -20.0,
            },
        ),
        (
            change(num_range("seats", -5.0, 5.0), 7),
            Pred::ChangeBetween {
                attr: 1,
                lookback: 0,
                low: -5.0,
                high: 5.0,
            },
        ),
    ];
    for (criterion, expected) in cases {
        let c = ok(&with_segment(criterion.clone()));
        let seg = c.profiles[0].segment.expect("segment");
        assert_eq!(pred_at(&c, seg), &expected, "{criterion:?}");
    }
}

#[test]
fn text_codes_and_lookbacks_are_distinct_and_shared() {
    let c = ok(&with_segment(all(vec![
        text("plan", O::Equal, "pro"),
        set("plan", O::In, &["basic", "pro", "enterprise", "basic"]),
        text("plan", O::NotEqual, "enterprise"),
        change(num("logins", O::GreaterThan, 10.0), 30),
        change(num("logins", O::LessThan, -10.0), 30),
        change(num("logins", O::LessThan, -10.0), 7),
        change(num("seats", O::LessThan, -10.0), 30),
    ])));
    assert_eq!(c.attributes[3].code_names, ["pro", "basic", "enterprise"]);
    assert_eq!(c.attributes[3].codes["enterprise"], 2);
    assert_eq!(c.lookbacks, [(0, 30), (0, 7), (1, 30)]);
    let seg = c.profiles[0].segment.expect("segment");
    let Node::All { start, len } = c.nodes[seg as usize] else {
        panic!("expected all")
    };
    let kids: Vec<Pred> = c.children[start as usize..(start + len) as usize]
        .iter()
        .map(|&n| pred_at(&c, n).clone())
        .collect();
    assert_eq!(
        kids[1],
        Pred::CodeIn {
            attr: 3,
            codes: vec![0, 1, 2],
            negate: false
        }
    );
    assert_eq!(
        kids[2],
        Pred::CodeEq {
            attr: 3,
            code: 2,
            negate: true
        }
    );
    assert_eq!(
        kids[4],
        Pred::Change {
            attr: 0,
            lookback: 0,
            cmp: Cmp::Lt,
            operand: -10.0
        }
    );
    assert_eq!(
        kids[5],
        Pred::Change {
            attr: 0,
            lookback: 1,
            cmp: Cmp::Lt,
            operand: -10.0
        }
    );
    assert_eq!(
        kids[6],
        Pred::Change {
            attr: 1,
            lookback: 2,
            cmp: Cmp::Lt,
            operand: -10.0
        }
    );
}

#[test]
fn arena_has_contiguous_child_ranges() {
    // all[ any[a, not(b)], c, all[] ]
    let c = ok(&with_segment(all(vec![
        any(vec![
            bare("plan", O::IsEmpty),
            not(bare("champion", O::IsTrue)),
        ]),
        bare("logins", O::IsNotEmpty),
        all(vec![]),
    ])));
    let root = c.profiles[0].segment.expect("segment");
    let Node::All { start, len } = c.nodes[root as usize] else {
        panic!("expected all")
    };
    assert_eq!(len, 3);
    let kids = &c.children[start as usize..(start + len) as usize];
    let Node::Any { start: s2, len: 2 } = c.nodes[kids[0] as usize] else {
        panic!("expected any of 2")
    };
    let inner = &c.children[s2 as usize..s2 as usize + 2];
    assert_eq!(pred_at(&c, inner[0]), &Pred::IsEmpty { attr: 3 });
    let Node::Not(b) = c.nodes[inner[1] as usize] else {
        panic!("expected not")
    };
    assert_eq!(
        pred_at(&c, b),
        &Pred::Bool {
            attr: 6,
            value: true
        }
    );
    assert_eq!(pred_at(&c, kids[1]), &Pred::IsNotEmpty { attr: 0 });
    assert!(matches!(
        c.nodes[kids[2] as usize],
        Node::All { len: 0, .. }
    ));
    // Children come before their parent in the arena.
    assert!(kids.iter().all(|&k| k < root));
}

#[test]
fn settings_are_lowered() {
    let mut rs = md_ruleset();
    rs.settings = Some(proto::ModelSettings {
        poor_max: Some(0),
        good_min: Some(100),
        ignore_missing: true,
        enterprise: Some(proto::EnterpriseSettings {
            method: proto::EnterpriseMethod::ContractValue as i32,
            poor_share_percent: Some(0),
            good_share_percent: Some(100),
        }),
    });
    let s = ok(&rs).settings;
    assert_eq!((s.poor_max, s.good_min, s.ignore_missing), (0, 100, true));
    assert_eq!(
        s.enterprise,
        EnterpriseSettings {
            method: EnterpriseMethod::ContractValue,
            poor_share_percent: 0,
            good_share_percent: 100,
        }
    );
    // Partly set: the rest defaults.
    rs.settings = Some(proto::ModelSettings {
        good_min: Some(80),
        enterprise: Some(proto::EnterpriseSettings::default()),
        ..Default::default()
    });
    let s = ok(&rs).settings;
    assert_eq!((s.poor_max, s.good_min), (40, 80));
    assert_eq!(s.enterprise, EnterpriseSettings::default());
}

#[test]
fn empty_all_segment_is_a_default_profile() {
    let c = ok(&with_segment(all(vec![])));
    assert!(c.profiles[0].segment.is_none());
    // An empty `any` never matches: not a default profile.
    let c = ok(&with_segment(any(vec![])));
    assert!(c.profiles[0].segment.is_some());
}

#[test]
fn profiles_after_a_default_profile_are_warned_about() {
    let mut rs = ah_ruleset();
    rs.profiles = vec![
        ah_profile("smb", Some(text("plan", O::Equal, "smb"))),
        ah_profile("fallback", Some(all(vec![]))),
        ah_profile("late", Some(text("plan", O::Equal, "pro"))),
        ah_profile("later", None),
    ];
    let c = ok(&rs);
    assert_eq!(
        c.warnings,
        [
            Violation::new(
                "profiles[2]",
                "profile \"late\" comes after default profile \"fallback\" (profiles[1]) and can never match",
            ),
            Violation::new(
                "profiles[3]",
                "profile \"later\" comes after default profile \"fallback\" (profiles[1]) and can never match",
            ),
        ]
    );
    assert_eq!(c.profiles.len(), 4);
}

// ----- validation: ruleset, catalog, settings ----------------------------------------------

#[test]
fn model_is_required_and_known() {
    let mut rs = md_ruleset();
    rs.model = 0;
    assert_only(&rs, "model", "model is required");
    rs.model = 9;
    assert_only(&rs, "model", "unknown health model 9");
}

#[test]
fn catalog_attribute_rules() {
    let cases: Vec<(proto::Attribute, &str, &str)> = vec![
        (
            attr("", T::Number, ""),
            "catalog.attributes[7].name",
            "attribute name is required",
        ),
        (
            attr("logins", T::Number, ""),
            "catalog.attributes[7].name",
            "duplicate attribute name \"logins\" (first at catalog.attributes[0])",
        ),
        (
            attr("x", T::Unspecified, ""),
            "catalog.attributes[7].type",
            "needs a type",
        ),
        (
            proto::Attribute {
                r#type: 42,
                ..attr("x", T::Number, "")
            },
            "catalog.attributes[7].type",
            "unknown attribute type 42",
        ),
        (
            ordinal("x", &["only"], ""),
            "catalog.attributes[7].ordinal_levels",
            "needs at least 2 levels, got 1",
        ),
        (
            ordinal("x", &[], ""),
            "catalog.attributes[7].ordinal_levels",
            "got 0",
        ),
        (
            ordinal("x", &["a", "b", "a"], ""),
            "catalog.attributes[7].ordinal_levels[2]",
            "duplicate level \"a\" (first at catalog.attributes[7].ordinal_levels[0])",
        ),
        (
            ordinal("x", &["a", ""], ""),
            "catalog.attributes[7].ordinal_levels[1]",
            "non-empty",
        ),
        (
            proto::Attribute {
                ordinal_levels: vec!["a".into()],
                ..attr("x", T::Number, "")
            },
            "catalog.attributes[7].ordinal_levels",
            "only ORDINAL attributes have levels; \"x\" is NUMBER",
        ),
        (
            attr("x", T::Number, "nope"),
            "catalog.attributes[7].dimension",
            "\"nope\" is not a catalog dimension",
        ),
    ];
    for (attribute, path, needle) in cases {
        let mut rs = md_ruleset();
        rs.catalog
            .as_mut()
            .expect("catalog")
            .attributes
            .push(attribute);
        assert_only(&rs, path, needle);
    }
}

#[test]
fn catalog_dimension_rules() {
    let mut rs = md_ruleset();
    rs.catalog
        .as_mut()
        .expect("catalog")
        .dimensions
        .push(dim(""));
    assert_only(
        &rs,
        "catalog.dimensions[3].name",
        "dimension name is required",
    );

    let mut rs = md_ruleset();
    rs.catalog
        .as_mut()
        .expect("catalog")
        .dimensions
        .push(dim("usage"));
    assert_only(
        &rs,
        "catalog.dimensions[3].name",
        "duplicate dimension name \"usage\" (first at catalog.dimensions[0])",
    );
}

#[test]
fn unset_catalog_is_empty() {
    let mut rs = ah_ruleset();
    rs.catalog = None;
    assert_has(
        &rs,
        "profiles[0].categories[0].good[0].predicate.attribute",
        "unknown attribute \"logins\"",
    );
}

#[test]
fn settings_rules() {
    type Edit = fn(&mut proto::ModelSettings);
    let cases: Vec<(Edit, &str, &str)> = vec![
        (
            |s| s.poor_max = Some(51),
            "settings.poor_max",
            "poor_max must be an integer 0..50, got 51",
        ),
        (|s| s.poor_max = Some(-1), "settings.poor_max", "got -1"),
        (
            |s| s.good_min = Some(54),
            "settings.good_min",
            "good_min must be an integer 55..100, got 54",
        ),
        (|s| s.good_min = Some(101), "settings.good_min", "got 101"),
        (
            |s| {
                s.enterprise
                    .get_or_insert_with(Default::default)
                    .poor_share_percent = Some(101)
            },
            "settings.enterprise.poor_share_percent",
            "must be an integer 0..100, got 101",
        ),
        (
            |s| {
                s.enterprise
                    .get_or_insert_with(Default::default)
                    .good_share_percent = Some(-5)
            },
            "settings.enterprise.good_share_percent",
            "got -5",
        ),
        (
            |s| s.enterprise.get_or_insert_with(Default::default).method = 7,
            "settings.enterprise.method",
            "unknown enterprise method 7",
        ),
    ];
    for (edit, path, needle) in cases {
        let mut rs = md_ruleset();
        edit(rs.settings.get_or_insert_with(Default::default));
        assert_only(&rs, path, needle);
    }
}

// ----- validation: profiles ----------------------------------------------------------------

#[test]
fn profile_names_are_required_and_unique() {
    let mut rs = md_ruleset();
    rs.profiles[0].name.clear();
    assert_only(&rs, "profiles[0].name", "profile name is required");

    let mut rs = md_ruleset();
    rs.profiles[1].name = "enterprise".into();
    assert_only(
        &rs,
        "profiles[1].name",
        "duplicate profile name \"enterprise\" (first at profiles[0])",
    );
}

#[test]
fn account_health_profile_rules() {
    type Edit = fn(&mut proto::Profile);
    let cases: Vec<(Edit, &str, &str)> = vec![
        (
            |p| p.categories.clear(),
            "profiles[0].categories",
            "needs at least one category",
        ),
        (
            |p| p.categories[1].name.clear(),
            "profiles[0].categories[1].name",
            "category name is required",
        ),
        (
            |p| p.categories[1].name = "usage".into(),
            "profiles[0].categories[1].name",
            "duplicate category name \"usage\" (first at profiles[0].categories[0])",
        ),
        (
            |p| p.dimensions.push(pdim("usage", 100)),
            "profiles[0].dimensions",
            "not dimensions",
        ),
        (
            |p| p.metrics.push(metric("logins", 100)),
            "profiles[0].metrics",
            "not metrics",
        ),
    ];
    for (edit, path, needle) in cases {
        let mut rs = ah_ruleset();
        edit(&mut rs.profiles[0]);
        assert_only(&rs, path, needle);
    }
}

#[test]
fn multidimensional_profile_rules() {
    type Edit = fn(&mut proto::Profile);
    let cases: Vec<(Edit, &str, &str)> = vec![
        (
            |p| p.categories.push(category("c", vec![], vec![])),
            "profiles[1].categories",
            "not categories",
        ),
        (|p| p.dimensions[0].weight = 50, "profiles[1].dimensions", "dimension weights must sum to 100, got 90"),
        (
            |p| p.metrics[2].weight = 20,
            "profiles[1].dimensions[0]",
            "metric weights of dimension \"usage\" must sum to 100, got 90",
        ),
        (
            |p| {
                p.dimensions[0].weight = 40;
                p.dimensions.push(pdim("engagement", 20));
            },
            "profiles[1].dimensions[2]",
            "dimension \"engagement\" has no metrics",
        ),
        (
            |p| {
                p.dimensions[1].dimension.clear();
                p.metrics.remove(1);
            },
            "profiles[1].dimensions[1].dimension",
            "dimension name is required",
        ),
        (
            |p| {
                p.dimensions[1].dimension = "nope".into();
                p.metrics.remove(1);
            },
            "profiles[1].dimensions[1].dimension",
            "\"nope\" is not a catalog dimension",
        ),
        (|p| p.metrics[1].attribute.clear(), "profiles[1].metrics[1].attribute", "metric attribute is required"),
        (
            |p| p.metrics[1] = metric("plan", 100),
            "profiles[1].metrics[1].attribute",
            "attribute \"plan\" has no dimension in the catalog",
        ),
        (
            |p| p.metrics.push(metric("last_login", 0)),
            "profiles[1].metrics[3].attribute",
            "attribute \"last_login\" belongs to dimension \"engagement\", which is not one of this profile's dimensions",
        ),
        (
            |p| p.metrics.push(metric("logins", 0)),
            "profiles[1].metrics[3].attribute",
            "attribute \"logins\" is already a metric of this profile (first at profiles[1].metrics[0])",
        ),
        (|p| p.metrics[2].good = None, "profiles[1].metrics[2].good", "good criterion is required"),
        (|p| p.metrics[2].poor = None, "profiles[1].metrics[2].poor", "poor criterion is required"),
    ];
    for (edit, path, needle) in cases {
        // A broken metric also leaves its dimension short; only the first finding is asserted.
        let mut rs = md_ruleset();
        edit(&mut rs.profiles[1]);
        assert_has(&rs, path, needle);
    }

    // Out-of-range weights are reported, and so are the sums they break.
    let mut rs = md_ruleset();
    rs.profiles[1].metrics[0].weight = 130;
    rs.profiles[1].dimensions[1].weight = -60;
    let v = violations(&rs);
    let got: Vec<String> = v.iter().map(ToString::to_string).collect();
    assert_eq!(
        got,
        [
            "profiles[1].dimensions[1].weight: weight must be an integer 0..100, got -60",
            "profiles[1].dimensions: dimension weights must sum to 100, got 0",
            "profiles[1].metrics[0].weight: weight must be an integer 0..100, got 130",
            "profiles[1].dimensions[0]: metric weights of dimension \"usage\" must sum to 100, got 160",
        ]
    );

    // A metric under a dimension the profile does not (validly) have is reported as well.
    let mut rs = md_ruleset();
    rs.profiles[1].dimensions[1].dimension = "suport".into();
    assert_has(
        &rs,
        "profiles[1].dimensions[1].dimension",
        "\"suport\" is not a catalog dimension",
    );
    assert_has(
        &rs,
        "profiles[1].metrics[1].attribute",
        "not one of this profile's dimensions",
    );

    let mut rs = md_ruleset();
    rs.profiles[1].dimensions.clear();
    rs.profiles[1].metrics.clear();
    assert_only(
        &rs,
        "profiles[1].dimensions",
        "needs at least one dimension",
    );

    let mut rs = md_ruleset();
    rs.profiles[1].dimensions.push(pdim("usage", 0));
    assert_only(
        &rs,
        "profiles[1].dimensions[2].dimension",
        "duplicate dimension \"usage\" (first at profiles[1].dimensions[0])",
    );
}

#[test]
fn weights_at_the_limits_are_summed_without_overflow() {
    let mut rs = md_ruleset();
    rs.profiles[1].dimensions = vec![pdim("usage", i32::MAX), pdim("support", i32::MAX)];
    let v = violations(&rs);
    assert!(v.iter().any(|x| x
        .message
        .contains(&format!("got {}", 2 * i64::from(i32::MAX)))));
}

// ----- validation: criteria ----------------------------------------------------------------

#[test]
fn criterion_rules() {
    let p = "profiles[0].segment";
    let cases: Vec<(proto::Criterion, String, &str)> = vec![
        (proto::Criterion { kind: None }, p.into(), "empty criterion"),
        (all(vec![bare("plan", O::IsEmpty), proto::Criterion::default()]), format!("{p}.all.of[1]"), "empty criterion"),
        (not(proto::Criterion::default()), format!("{p}.negation"), "empty criterion"),
        (bare("", O::IsEmpty), format!("{p}.predicate.attribute"), "attribute is required"),
        (bare("nope", O::IsEmpty), format!("{p}.predicate.attribute"), "unknown attribute \"nope\""),
        (bare("plan", O::Unspecified), format!("{p}.predicate.operator"), "operator is required"),
        (
            proto::Criterion {
                kind: Some(Kind::Predicate(proto::Predicate {
                    attribute: "plan".into(),
                    operator: 99,
                    ..Default::default()
                })),
            },
            format!("{p}.predicate.operator"),
            "unknown operator 99",
        ),
        (
            text("logins", O::AtLeast, "x"),
            format!("{p}.predicate.operator"),
            "AT_LEAST needs an ORDINAL attribute; \"logins\" is NUMBER",
        ),
        (
            text("plan", O::LessThan, "x"),
            format!("{p}.predicate.operator"),
            "LESS_THAN needs a NUMBER or TIME attribute; \"plan\" is TEXT",
        ),
        (
            text("plan", O::Equal, "x").clone_with_attr("champion"),
            format!("{p}.predicate.operator"),
            "EQUAL needs a NUMBER, TEXT, TIME or ORDINAL attribute; \"champion\" is BOOL",
        ),
        (
            bare("logins", O::IsTrue),
            format!("{p}.predicate.operator"),
            "IS_TRUE needs a BOOL attribute",
        ),
        (
            days("logins", O::WithinLastDays, 3),
            format!("{p}.predicate.operator"),
            "WITHIN_LAST_DAYS needs a TIME attribute",
        ),
        (
            set("logins", O::In, &["1"]),
            format!("{p}.predicate.operator"),
            "IN needs a TEXT or ORDINAL attribute",
        ),
        (
            bare("logins", O::LessThan),
            format!("{p}.predicate.number"),
            "LESS_THAN on NUMBER attribute \"logins\" needs a number operand",
        ),
        (
            bare("last_login", O::Between),
            format!("{p}.predicate.day_range"),
            "needs a day_range operand",
        ),
        (
            num("champion", O::IsTrue, 1.0),
            format!("{p}.predicate.number"),
            "IS_TRUE on BOOL attribute \"champion\" takes no operand",
        ),
        (num("plan", O::IsEmpty, 1.0), format!("{p}.predicate.number"), "takes no operand"),
        (
            days("logins", O::LessThan, 3),
            format!("{p}.predicate.days"),
            "LESS_THAN on NUMBER attribute \"logins\" takes a number operand, not days",
        ),
        (
            num("last_login", O::LessThan, 3.0),
            format!("{p}.predicate.number"),
            "takes a days operand, not number",
        ),
        (set("plan", O::Equal, &["a"]), format!("{p}.predicate.text_set"), "takes a text operand"),
        (num("logins", O::LessThan, f64::NAN), format!("{p}.predicate.number"), "number must be finite, got NaN"),
        (num("logins", O::Equal, f64::INFINITY), format!("{p}.predicate.number"), "got inf"),
        (
            num_range("logins", 5.0, 3.0),
            format!("{p}.predicate.number_range"),
            "low 5 is greater than high 3",
        ),
        (
            num_range("logins", f64::NEG_INFINITY, 3.0),
            format!("{p}.predicate.number_range.low"),
            "low must be a finite number, got -inf",
        ),
        (
            num_range("logins", 1.0, f64::NAN),
            format!("{p}.predicate.number_range.high"),
            "got NaN",
        ),
        (text("plan", O::Equal, ""), format!("{p}.predicate.text"), "text must be non-empty"),
        (
            text("risk", O::AtLeast, "extreme"),
            format!("{p}.predicate.text"),
            "\"extreme\" is not a level of ORDINAL attribute \"risk\" (levels: none, low, high, critical)",
        ),
        (set("plan", O::In, &[]), format!("{p}.predicate.text_set.values"), "at least one value"),
        (set("plan", O::NotIn, &["a", ""]), format!("{p}.predicate.text_set.values[1]"), "non-empty"),
        (
            set("risk", O::In, &["low", "meh"]),
            format!("{p}.predicate.text_set.values[1]"),
            "\"meh\" is not a level",
        ),
        (
            day_range("last_login", 10, 3),
            format!("{p}.predicate.day_range"),
            "low 10 is greater than high 3",
        ),
        (
            change(num("logins", O::LessThan, 1.0), -1),
            format!("{p}.predicate.change_period_days"),
            "got -1",
        ),
        (
            change(days("last_login", O::LessThan, 1), 30),
            format!("{p}.predicate.change_period_days"),
            "\"change in\" needs a NUMBER attribute; \"last_login\" is TIME",
        ),
        (
            change(text("plan", O::Equal, "x"), 30),
            format!("{p}.predicate.change_period_days"),
            "\"plan\" is TEXT",
        ),
        (
            change(bare("logins", O::IsEmpty), 30),
            format!("{p}.predicate.change_period_days"),
            "\"change in\" works with LESS_THAN..NOT_EQUAL and BETWEEN, not IS_EMPTY",
        ),
    ];
    for (criterion, path, needle) in cases {
        assert_only(&with_segment(criterion), &path, needle);
    }
}

/// Builder sugar used by the table above.
trait CriterionExt {
    fn clone_with_attr(&self, attribute: &str) -> proto::Criterion;
}
impl CriterionExt for proto::Criterion {
    fn clone_with_attr(&self, attribute: &str) -> proto::Criterion {
        let mut c = self.clone();
        if let Some(Kind::Predicate(p)) = &mut c.kind {
            p.attribute = attribute.into();
        }
        c
    }
}

#[test]
fn operand_is_checked_even_when_the_attribute_is_unknown() {
    let v = violations(&with_segment(num("nope", O::LessThan, f64::NAN)));
    let paths: Vec<&str> = v.iter().map(|x| x.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "profiles[0].segment.predicate.attribute",
            "profiles[0].segment.predicate.number"
        ]
    );
}

#[test]
fn the_example_path_from_the_metric_good_column() {
    let mut rs = md_ruleset();
    rs.profiles[1].metrics[1].good = Some(all(vec![text("logins", O::AtLeast, "high")]));
    let v = violations(&rs);
    assert_eq!(
        v.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["profiles[1].metrics[1].good.all.of[0].predicate.operator: AT_LEAST needs an ORDINAL attribute; \"logins\" is NUMBER"]
    );
}

/// A criterion nested `depth` levels deep: a predicate under `depth - 1` alternating
/// negation / all / any levels.
fn nested(depth: usize) -> (proto::Criterion, String) {
    let mut c = bare("plan", O::IsEmpty);
    let mut suffix = Vec::new();
    for level in 1..depth {
        let (wrapped, step) = match level % 3 {
            0 => (not(c), ".negation"),
            1 => (all(vec![c]), ".all.of[0]"),
            _ => (any(vec![bare("plan", O::IsEmpty), c]), ".any.of[1]"),
        };
        c = wrapped;
        suffix.push(step);
    }
    suffix.reverse();
    (c, format!("profiles[0].segment{}", suffix.concat()))
}

#[test]
fn depth_limit() {
    let (c, _) = nested(MAX_CRITERION_DEPTH);
    let compiled = ok(&with_segment(c));
    assert!(compiled.profiles[0].segment.is_some());

    let (c, deepest) = nested(MAX_CRITERION_DEPTH + 1);
    assert_only(
        &with_segment(c),
        &deepest,
        "criteria nest more than 32 levels deep",
    );

    // Much deeper: still one violation, at depth 33.
    let (c, _) = nested(90);
    let v = violations(&with_segment(c));
    assert_eq!(v.len(), 1, "{v:#?}");
    assert!(v[0].message.contains("more than 32 levels"));

    // The limit applies in category columns and metric criteria too.
    let (c, _) = nested(MAX_CRITERION_DEPTH + 1);
    let mut rs = md_ruleset();
    rs.profiles[0].metrics[0].poor = Some(c);
    let v = violations(&rs);
    assert_eq!(v.len(), 1);
    assert!(
        v[0].path.starts_with("profiles[0].metrics[0].poor."),
        "{v:#?}"
    );
}

#[test]
fn many_problems_are_all_reported() {
    let mut rs = md_ruleset();
    rs.settings = Some(proto::ModelSettings {
        poor_max: Some(60),
        ..Default::default()
    });
    let cat = rs.catalog.as_mut().expect("catalog");
    cat.attributes.push(attr("logins", T::Text, ""));
    cat.attributes.push(ordinal("tier", &["gold"], ""));
    rs.profiles[0].segment = Some(all(vec![
        text("plan", O::Equal, ""),
        bare("nope", O::IsEmpty),
    ]));
    rs.profiles[0].metrics[0].weight = 130;
    rs.profiles[1].dimensions[0].weight = 50;
    rs.profiles[1].metrics[2].poor = Some(change(num("seats", O::LessThan, f64::NAN), -3));
    rs.profiles.push(proto::Profile {
        name: "default".into(),
        ..Default::default()
    });

    let got: Vec<(String, String)> = violations(&rs)
        .into_iter()
        .map(|v| (v.path, v.message))
        .collect();
    let expected = [
        (
            "catalog.attributes[7].name",
            "duplicate attribute name \"logins\"",
        ),
        ("catalog.attributes[8].ordinal_levels", "at least 2 levels"),
        ("settings.poor_max", "got 60"),
        ("profiles[0].segment.all.of[0].predicate.text", "non-empty"),
        (
            "profiles[0].segment.all.of[1].predicate.attribute",
            "unknown attribute \"nope\"",
        ),
        ("profiles[0].metrics[0].weight", "got 130"),
        ("profiles[0].dimensions[0]", "must sum to 100, got 160"),
        ("profiles[1].dimensions", "must sum to 100, got 90"),
        (
            "profiles[1].metrics[2].poor.predicate.change_period_days",
            "got -3",
        ),
        ("profiles[1].metrics[2].poor.predicate.number", "finite"),
        (
            "profiles[2].name",
            "duplicate profile name \"default\" (first at profiles[1])",
        ),
        ("profiles[2].dimensions", "needs at least one dimension"),
    ];
    for (path, needle) in expected {
        assert!(
            got.iter().any(|(p, m)| p == path && m.contains(needle)),
            "missing `{path}: ...{needle}...` in {got:#?}"
        );
    }
    assert_eq!(got.len(), expected.len(), "{got:#?}");
}

#[test]
fn unknown_model_still_checks_names_and_segments() {
    let mut rs = md_ruleset();
    rs.model = 0;
    rs.profiles[1].name = "enterprise".into();
    rs.profiles[0].segment = Some(bare("nope", O::IsEmpty));
    let paths: Vec<String> = violations(&rs).into_iter().map(|v| v.path).collect();
    assert_eq!(
        paths,
        [
            "model",
            "profiles[0].segment.predicate.attribute",
            "profiles[1].name"
        ]
    );
}

// ----- bytes -------------------------------------------------------------------------------

#[test]
fn compile_bytes_roundtrip_and_malformed() {
    let bytes = md_ruleset().encode_to_vec();
    let c = compile_bytes(&bytes).expect("compiles");
    assert_eq!(c.profiles.len(), 2);

    match compile_bytes(&[0xff, 0xff, 0xff]) {
        Err(Error::Malformed(_)) => {}
        other => panic!("expected Malformed, got {other:?}"),
    }
    // A truncated message.
    match compile_bytes(&bytes[..bytes.len() - 3]) {
        Err(Error::Malformed(_)) => {}
        other => panic!("expected Malformed, got {other:?}"),
    }
    // Empty bytes decode to an empty ruleset, which has no model.
    assert_eq!(
        compile_bytes(&[]).err().map(|e| e.violations().to_vec()),
        Some(vec![Violation::new(
            "model",
            "model is required: HEALTH_MODEL_ACCOUNT_HEALTH or HEALTH_MODEL_MULTIDIMENSIONAL"
        )])
    );
}

/// xorshift64*: a small deterministic generator for the fuzz-ish test.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn random_and_mutated_bytes_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let seeds = [
        md_ruleset().encode_to_vec(),
        ah_ruleset().encode_to_vec(),
        {
            let (c, _) = nested(40);
            with_segment(c).encode_to_vec()
        },
    ];
    let mut decoded = 0;
    for round in 0..6000 {
        let bytes: Vec<u8> = if round % 3 == 0 {
            let len = rng.below(64);
            (0..len).map(|_| rng.next() as u8).collect()
        } else {
            let mut b = seeds[rng.below(seeds.len())].clone();
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(b.len());
                match rng.below(3) {
                    0 => b[i] = rng.next() as u8,
                    1 => {
                        b.remove(i);
                    }
                    _ => b.insert(i, rng.next() as u8),
                }
            }
            b
        };
        match compile_bytes(&bytes) {
            Ok(_) | Err(Error::InvalidRuleset(_)) => decoded += 1,
            Err(Error::Malformed(_)) => {}
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert!(decoded > 100, "only {decoded} inputs decoded");
}
