//! Validation and compilation of a ruleset (SPEC §1-§5): proto in, `CompiledRuleset` out.
//!
//! One pass over the ruleset both checks every rule of SPEC.md and docs/semantics.md and lowers
//! the proto into the IR. Every violation is collected (with its exact proto field path); the IR
//! built alongside is thrown away if there is any. Criteria and predicates live in `criteria`.

mod criteria;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use prost::Message;

use crate::error::{Error, Result, Violation};
use crate::ir::{
    AttrId, AttrInfo, AttrType, CategoryRule, CompiledRuleset, DimensionRule, EnterpriseMethod,
    EnterpriseSettings, LookbackId, MetricRule, Model, Node, NodeId, ProfileBody, ProfileRule,
    Settings, DEFAULT_GOOD_MIN, DEFAULT_POOR_MAX,
};
use crate::proto;

/// Decodes a serialized `proto::Ruleset` and compiles it. Bytes that are not a ruleset give
/// `Error::Malformed`.
pub fn compile_bytes(bytes: &[u8]) -> Result<CompiledRuleset> {
    let ruleset = proto::Ruleset::decode(bytes)?;
    compile(&ruleset)
}

/// Validates `ruleset` against every rule of SPEC.md and compiles it. On failure the error lists
/// every violation with its exact path.
pub fn compile(ruleset: &proto::Ruleset) -> Result<CompiledRuleset> {
    let mut c = Compiler::default();
    let model = c.model(ruleset.model);
    // An unset catalog is treated as an empty one: every reference into it is then reported.
    let empty_catalog = proto::Catalog::default();
    c.catalog(ruleset.catalog.as_ref().unwrap_or(&empty_catalog));
    let settings = c.settings(ruleset.settings.as_ref());
    let profiles = c.profiles(model, &ruleset.profiles);

    if !c.violations.is_empty() {
        return Err(Error::InvalidRuleset(c.violations));
    }
    let Some(model) = model else {
        return Err(Error::Internal(
            "compile: model missing without a violation".into(),
        ));
    };
    let warnings = unreachable_profiles(&ruleset.profiles);
    let compiled = CompiledRuleset {
        version: ruleset.version.clone(),
        model,
        attributes: c.attributes,
        attr_index: c.attr_index,
        dimensions: c.dimensions,
        settings,
        nodes: c.nodes,
        children: c.children,
        profiles,
        lookbacks: c.lookbacks,
        warnings,
        plans: std::sync::OnceLock::new(),
    };
    // Build the scoring plans now, so that no scoring call pays for them.
    compiled.plans();
    Ok(compiled)
}

/// An index as `u32`. Protobuf messages are far smaller than 2^32 elements; saturate rather than
/// panic if that ever changes.
fn id(index: usize) -> u32 {
    u32::try_from(index).unwrap_or(u32::MAX)
}

/// A default profile's segment: unset, or `all` with no criteria.
fn is_default_segment(segment: Option<&proto::Criterion>) -> bool {
    match segment {
        None => true,
        Some(c) => matches!(&c.kind, Some(proto::criterion::Kind::All(list)) if list.of.is_empty()),
    }
}

/// Warnings for every profile placed after the first default profile.
fn unreachable_profiles(profiles: &[proto::Profile]) -> Vec<Violation> {
    let Some(first) = profiles
        .iter()
        .position(|p| is_default_segment(p.segment.as_ref()))
    else {
        return Vec::new();
    };
    let default_name = &profiles[first].name;
    profiles
        .iter()
        .enumerate()
        .skip(first + 1)
        .map(|(i, p)| {
            Violation::new(
                format!("profiles[{i}]"),
                format!(
                    "profile {:?} comes after default profile {default_name:?} \
                     (profiles[{first}]) and can never match",
                    p.name
                ),
            )
        })
        .collect()
}

fn type_name(ty: AttrType) -> &'static str {
    match ty {
        AttrType::Number => "NUMBER",
        AttrType::Text => "TEXT",
        AttrType::Bool => "BOOL",
        AttrType::Time => "TIME",
        AttrType::Ordinal => "ORDINAL",
    }
}

/// The state of one compilation: the IR built so far and the violations found so far.
#[derive(Default)]
struct Compiler {
    violations: Vec<Violation>,
    attributes: Vec<AttrInfo>,
    /// Each attribute's declared type; None when the catalog's type is missing or unknown (that is
    /// reported once, at the catalog, and predicates on the attribute are not checked further).
    attr_types: Vec<Option<AttrType>>,
    attr_index: HashMap<String, AttrId>,
    dimensions: Vec<String>,
    dim_index: HashMap<String, u32>,
    nodes: Vec<Node>,
    children: Vec<NodeId>,
    lookbacks: Vec<(AttrId, u32)>,
    lookback_index: HashMap<(AttrId, u32), LookbackId>,
}

impl Compiler {
    fn violation(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.violations.push(Violation::new(path, message));
    }

    fn model(&mut self, model: i32) -> Option<Model> {
        match proto::HealthModel::try_from(model) {
            Ok(proto::HealthModel::AccountHealth) => Some(Model::AccountHealth),
            Ok(proto::HealthModel::Multidimensional) => Some(Model::Multidimensional),
            Ok(proto::HealthModel::Unspecified) => {
                self.violation(
                    "model",
                    "model is required: HEALTH_MODEL_ACCOUNT_HEALTH or HEALTH_MODEL_MULTIDIMENSIONAL",
                );
                None
            }
            Err(_) => {
                self.violation("model", format!("unknown health model {model}"));
                None
            }
        }
    }

    // ----- catalog -------------------------------------------------------------------------

    fn catalog(&mut self, catalog: &proto::Catalog) {
        // Dimensions first: attributes refer to them.
        for (i, dim) in catalog.dimensions.iter().enumerate() {
            let path = format!("catalog.dimensions[{i}].name");
            if dim.name.is_empty() {
                self.violation(path, "dimension name is required");
            } else if let Some(&first) = self.dim_index.get(&dim.name) {
                self.violation(
                    path,
                    format!(
                        "duplicate dimension name {:?} (first at catalog.dimensions[{first}])",
                        dim.name
                    ),
                );
            } else {
                self.dim_index.insert(dim.name.clone(), id(i));
            }
            self.dimensions.push(dim.name.clone());
        }
        for (i, attr) in catalog.attributes.iter().enumerate() {
            self.attribute(i, attr);
        }
    }

    fn attribute(&mut self, i: usize, attr: &proto::Attribute) {
        let path = format!("catalog.attributes[{i}]");
        if attr.name.is_empty() {
            self.violation(format!("{path}.name"), "attribute name is required");
        } else if let Some(&first) = self.attr_index.get(&attr.name) {
            self.violation(
                format!("{path}.name"),
                format!(
                    "duplicate attribute name {:?} (first at catalog.attributes[{first}])",
                    attr.name
                ),
            );
        } else {
            self.attr_index.insert(attr.name.clone(), id(i));
        }

        let ty = match proto::AttributeType::try_from(attr.r#type) {
            Ok(proto::AttributeType::Number) => Some(AttrType::Number),
            Ok(proto::AttributeType::Text) => Some(AttrType::Text),
            Ok(proto::AttributeType::Bool) => Some(AttrType::Bool),
            Ok(proto::AttributeType::Time) => Some(AttrType::Time),
            Ok(proto::AttributeType::Ordinal) => Some(AttrType::Ordinal),
            Ok(proto::AttributeType::Unspecified) => {
                self.violation(
                    format!("{path}.type"),
                    format!(
                        "attribute {:?} needs a type: NUMBER, TEXT, BOOL, TIME or ORDINAL",
                        attr.name
                    ),
                );
                None
            }
            Err(_) => {
                self.violation(
                    format!("{path}.type"),
                    format!("unknown attribute type {} for {:?}", attr.r#type, attr.name),
                );
                None
            }
        };

        let mut codes = HashMap::new();
        let mut code_names = Vec::new();
        match ty {
            Some(AttrType::Ordinal) => {
                if attr.ordinal_levels.len() < 2 {
                    self.violation(
                        format!("{path}.ordinal_levels"),
                        format!(
                            "ORDINAL attribute {:?} needs at least 2 levels, got {}",
                            attr.name,
                            attr.ordinal_levels.len()
                        ),
                    );
                }
                for (k, level) in attr.ordinal_levels.iter().enumerate() {
                    let level_path = format!("{path}.ordinal_levels[{k}]");
                    if level.is_empty() {
                        self.violation(level_path, "a level must be a non-empty text");
                    } else if let Some(&first) = codes.get(level) {
                        self.violation(
                            level_path,
                            format!(
                                "duplicate level {level:?} (first at {path}.ordinal_levels[{first}])"
                            ),
                        );
                    } else {
                        codes.insert(level.clone(), id(k));
                    }
                }
                code_names = attr.ordinal_levels.clone();
            }
            Some(other) if !attr.ordinal_levels.is_empty() => {
                self.violation(
                    format!("{path}.ordinal_levels"),
                    format!(
                        "only ORDINAL attributes have levels; {:?} is {}",
                        attr.name,
                        type_name(other)
                    ),
                );
            }
            _ => {}
        }

        let dimension = if attr.dimension.is_empty() {
            None
        } else if let Some(&d) = self.dim_index.get(&attr.dimension) {
            Some(d)
        } else {
            self.violation(
                format!("{path}.dimension"),
                format!("{:?} is not a catalog dimension", attr.dimension),
            );
            None
        };

        self.attr_types.push(ty);
        self.attributes.push(AttrInfo {
            name: attr.name.clone(),
            ty: ty.unwrap_or(AttrType::Number),
            codes,
            code_names,
            dimension,
        });
    }

    // ----- settings ------------------------------------------------------------------------

    fn settings(&mut self, settings: Option<&proto::ModelSettings>) -> Settings {
        let default = proto::ModelSettings::default();
        let s = settings.unwrap_or(&default);
        let poor_max = self.bounded("settings.poor_max", s.poor_max, 0, 50, DEFAULT_POOR_MAX);
        let good_min = self.bounded("settings.good_min", s.good_min, 55, 100, DEFAULT_GOOD_MIN);

        let default_enterprise = proto::EnterpriseSettings::default();
        let e = s.enterprise.as_ref().unwrap_or(&default_enterprise);
        let method = match proto::EnterpriseMethod::try_from(e.method) {
            Ok(proto::EnterpriseMethod::Unspecified | proto::EnterpriseMethod::Count) => {
                EnterpriseMethod::Count
            }
            Ok(proto::EnterpriseMethod::ContractValue) => EnterpriseMethod::ContractValue,
            Err(_) => {
                self.violation(
                    "settings.enterprise.method",
                    format!("unknown enterprise method {}", e.method),
                );
                EnterpriseMethod::Count
            }
        };
        let poor_share_percent = self.bounded(
            "settings.enterprise.poor_share_percent",
            e.poor_share_percent,
            0,
            100,
            50,
        );
        let good_share_percent = self.bounded(
            "settings.enterprise.good_share_percent",
            e.good_share_percent,
            0,
            100,
            50,
        );
        Settings {
            poor_max,
            good_min,
            ignore_missing: s.ignore_missing,
            enterprise: EnterpriseSettings {
                method,
                poor_share_percent,
                good_share_percent,
            },
        }
    }

    /// An optional integer setting within `low..=high`, or its default when unset.
    fn bounded(
        &mut self,
        path: &str,
        value: Option<i32>,
        low: i32,
        high: i32,
        default: u32,
    ) -> u32 {
        let Some(v) = value else { return default };
        if (low..=high).contains(&v) {
            return u32::try_from(v).unwrap_or(default);
        }
        let name = path.rsplit('.').next().unwrap_or(path);
        self.violation(
            path,
            format!("{name} must be an integer {low}..{high}, got {v}"),
        );
        default
    }

    // ----- profiles ------------------------------------------------------------------------

    fn profiles(&mut self, model: Option<Model>, profiles: &[proto::Profile]) -> Vec<ProfileRule> {
        let mut first_by_name: HashMap<&str, usize> = HashMap::new();
        let mut rules = Vec::with_capacity(profiles.len());
        for (i, profile) in profiles.iter().enumerate() {
            let path = format!("profiles[{i}]");
            if profile.name.is_empty() {
                self.violation(format!("{path}.name"), "profile name is required");
            } else if let Some(&first) = first_by_name.get(profile.name.as_str()) {
                self.violation(
                    format!("{path}.name"),
                    format!(
                        "duplicate profile name {:?} (first at profiles[{first}])",
                        profile.name
                    ),
                );
            } else {
                first_by_name.insert(&profile.name, i);
            }
            rules.push(self.profile(&path, model, profile));
        }
        rules
    }

    fn profile(
        &mut self,
        path: &str,
        model: Option<Model>,
        profile: &proto::Profile,
    ) -> ProfileRule {
        let segment = match &profile.segment {
            Some(c) if !is_default_segment(Some(c)) => {
                Some(self.criterion(c, &format!("{path}.segment"), 1))
            }
            _ => None,
        };
        let body = match model {
            Some(Model::AccountHealth) => self.account_health(path, profile),
            Some(Model::Multidimensional) => self.multidimensional(path, profile),
            // The missing model is reported; the profile's body cannot be checked without it.
            None => ProfileBody::AccountHealth {
                categories: Vec::new(),
            },
        };
        ProfileRule {
            name: profile.name.clone(),
            segment,
            body,
        }
    }

    fn account_health(&mut self, path: &str, profile: &proto::Profile) -> ProfileBody {
        if profile.categories.is_empty() {
            self.violation(
                format!("{path}.categories"),
                "an ACCOUNT_HEALTH profile needs at least one category",
            );
        }
        if !profile.dimensions.is_empty() {
            self.violation(
                format!("{path}.dimensions"),
                "ACCOUNT_HEALTH profiles have categories, not dimensions",
            );
        }
        if !profile.metrics.is_empty() {
            self.violation(
                format!("{path}.metrics"),
                "ACCOUNT_HEALTH profiles have categories, not metrics",
            );
        }

        let mut first_by_name: HashMap<&str, usize> = HashMap::new();
        let mut categories = Vec::with_capacity(profile.categories.len());
        for (c, category) in profile.categories.iter().enumerate() {
            let cpath = format!("{path}.categories[{c}]");
            if category.name.is_empty() {
                self.violation(format!("{cpath}.name"), "category name is required");
            } else if let Some(&first) = first_by_name.get(category.name.as_str()) {
                self.violation(
                    format!("{cpath}.name"),
                    format!(
                        "duplicate category name {:?} (first at {path}.categories[{first}])",
                        category.name
                    ),
                );
            } else {
                first_by_name.insert(&category.name, c);
            }
            let good = self.column(&format!("{cpath}.good"), &category.good);
            let poor = self.column(&format!("{cpath}.poor"), &category.poor);
            categories.push(CategoryRule {
                name: category.name.clone(),
                good,
                poor,
            });
        }
        ProfileBody::AccountHealth { categories }
    }

    /// A category's good or poor column: each criterion compiled, with its path.
    fn column(&mut self, path: &str, criteria: &[proto::Criterion]) -> Vec<(NodeId, String)> {
        criteria
            .iter()
            .enumerate()
            .map(|(k, c)| {
                let cpath = format!("{path}[{k}]");
                (self.criterion(c, &cpath, 1), cpath)
            })
            .collect()
    }

    /// A dimension or metric weight: an integer 0..100.
    fn weight(&mut self, path: String, weight: i32) -> u32 {
        if (0..=100).contains(&weight) {
            u32::try_from(weight).unwrap_or(0)
        } else {
            self.violation(
                path,
                format!("weight must be an integer 0..100, got {weight}"),
            );
            0
        }
    }

    fn multidimensional(&mut self, path: &str, profile: &proto::Profile) -> ProfileBody {
        if !profile.categories.is_empty() {
            self.violation(
                format!("{path}.categories"),
                "MULTIDIMENSIONAL profiles have dimensions and metrics, not categories",
            );
        }
        if profile.dimensions.is_empty() {
            self.violation(
                format!("{path}.dimensions"),
                "a MULTIDIMENSIONAL profile needs at least one dimension",
            );
        }

        // The profile's dimensions. `slots[d]` is the catalog dimension of profile dimension d,
        // None when it is invalid (its metrics are then not checked against it).
        let mut rules: Vec<DimensionRule> = Vec::with_capacity(profile.dimensions.len());
        let mut slots: Vec<Option<u32>> = Vec::with_capacity(profile.dimensions.len());
        let mut slot_of: HashMap<u32, usize> = HashMap::new();
        let mut weight_sum: i64 = 0;
        for (d, dim) in profile.dimensions.iter().enumerate() {
            let dpath = format!("{path}.dimensions[{d}]");
            let weight = self.weight(format!("{dpath}.weight"), dim.weight);
            weight_sum += i64::from(dim.weight);
            let catalog_dim = if dim.dimension.is_empty() {
                self.violation(format!("{dpath}.dimension"), "dimension name is required");
                None
            } else if let Some(&cd) = self.dim_index.get(&dim.dimension) {
                if let Some(&first) = slot_of.get(&cd) {
                    self.violation(
                        format!("{dpath}.dimension"),
                        format!(
                            "duplicate dimension {:?} (first at {path}.dimensions[{first}])",
                            dim.dimension
                        ),
                    );
                    None
                } else {
                    slot_of.insert(cd, d);
                    Some(cd)
                }
            } else {
                self.violation(
                    format!("{dpath}.dimension"),
                    format!("{:?} is not a catalog dimension", dim.dimension),
                );
                None
            };
            slots.push(catalog_dim);
            rules.push(DimensionRule {
                dimension: catalog_dim.unwrap_or(0),
                weight,
                metrics: Vec::new(),
            });
        }
        if !profile.dimensions.is_empty() && weight_sum != 100 {
            self.violation(
                format!("{path}.dimensions"),
                format!("dimension weights must sum to 100, got {weight_sum}"),
            );
        }

        // The metrics, each under the profile dimension of its attribute's catalog dimension.
        let mut metric_sums: Vec<i64> = vec![0; profile.dimensions.len()];
        let mut first_by_attr: HashMap<AttrId, usize> = HashMap::new();
        for (m, metric) in profile.metrics.iter().enumerate() {
            let mpath = format!("{path}.metrics[{m}]");
            let weight = self.weight(format!("{mpath}.weight"), metric.weight);
            let slot = self.metric_slot(path, m, metric, &slot_of, &mut first_by_attr);
            let good = self.required_criterion(&format!("{mpath}.good"), metric.good.as_ref());
            let poor = self.required_criterion(&format!("{mpath}.poor"), metric.poor.as_ref());
            if let Some((attr, d)) = slot {
                metric_sums[d] += i64::from(metric.weight);
                rules[d].metrics.push(MetricRule {
                    attr,
                    weight,
                    good,
                    poor,
                    metric_index: id(m),
                });
            }
        }
        for (d, rule) in rules.iter().enumerate() {
            if slots[d].is_none() {
                continue;
            }
            let dim_name = &profile.dimensions[d].dimension;
            let dpath = format!("{path}.dimensions[{d}]");
            if rule.metrics.is_empty() {
                self.violations.push(Violation::new(
                    dpath,
                    format!("dimension {dim_name:?} has no metrics; it needs at least one"),
                ));
            } else if metric_sums[d] != 100 {
                self.violations.push(Violation::new(
                    dpath,
                    format!(
                        "metric weights of dimension {dim_name:?} must sum to 100, got {}",
                        metric_sums[d]
                    ),
                ));
            }
        }
        ProfileBody::Multidimensional { dimensions: rules }
    }

    /// Resolves a metric's attribute and the profile dimension (index in the profile's
    /// `dimensions`) it counts under; reports why when it cannot.
    fn metric_slot(
        &mut self,
        path: &str,
        m: usize,
        metric: &proto::Metric,
        slot_of: &HashMap<u32, usize>,
        first_by_attr: &mut HashMap<AttrId, usize>,
    ) -> Option<(AttrId, usize)> {
        let apath = format!("{path}.metrics[{m}].attribute");
        let name = &metric.attribute;
        if name.is_empty() {
            self.violation(apath, "metric attribute is required");
            return None;
        }
        let Some(&attr) = self.attr_index.get(name) else {
            self.violation(
                apath,
                format!("unknown attribute {name:?}: not in the catalog"),
            );
            return None;
        };
        if let Some(&first) = first_by_attr.get(&attr) {
            self.violation(
                apath,
                format!(
                    "attribute {name:?} is already a metric of this profile \
                     (first at {path}.metrics[{first}])"
                ),
            );
            return None;
        }
        first_by_attr.insert(attr, m);
        let Some(catalog_dim) = self.attributes[attr as usize].dimension else {
            self.violation(
                apath,
                format!(
                    "attribute {name:?} has no dimension in the catalog, so it cannot be a metric"
                ),
            );
            return None;
        };
        let Some(&slot) = slot_of.get(&catalog_dim) else {
            let dim_name = &self.dimensions[catalog_dim as usize];
            self.violation(
                apath,
                format!(
                    "attribute {name:?} belongs to dimension {dim_name:?}, which is not one of \
                     this profile's dimensions"
                ),
            );
            return None;
        };
        Some((attr, slot))
    }

    /// A criterion that must be set (a metric's good or poor).
    fn required_criterion(&mut self, path: &str, criterion: Option<&proto::Criterion>) -> NodeId {
        match criterion {
            Some(c) => self.criterion(c, path, 1),
            None => {
                let column = path.rsplit('.').next().unwrap_or(path);
                self.violation(path, format!("the metric's {column} criterion is required"));
                self.placeholder()
            }
        }
    }

    /// A node standing in for something invalid; the IR it is part of is never returned.
    fn placeholder(&mut self) -> NodeId {
        self.push(Node::All { start: 0, len: 0 })
    }

    fn push(&mut self, node: Node) -> NodeId {
        self.nodes.push(node);
        id(self.nodes.len() - 1)
    }
}
