//! Criteria and predicates: validation against the catalog (criteria.proto's operator table) and
//! lowering into the node arena.

use super::{id, type_name, Compiler};
use crate::ir::{
    AttrId, AttrType, Cmp, LookbackId, Node, NodeId, Pred, MAX_CRITERION_DEPTH, NANOS_PER_DAY,
};
use crate::proto::criterion::Kind;
use crate::proto::predicate::Operand;
use crate::proto::{self, Operator};

/// Which member of `Predicate.operand` an operator takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OperandKind {
    Number,
    NumberRange,
    Text,
    TextSet,
    Days,
    DayRange,
}

impl OperandKind {
    fn of(operand: &Operand) -> Self {
        match operand {
            Operand::Number(_) => Self::Number,
            Operand::NumberRange(_) => Self::NumberRange,
            Operand::Text(_) => Self::Text,
            Operand::TextSet(_) => Self::TextSet,
            Operand::Days(_) => Self::Days,
            Operand::DayRange(_) => Self::DayRange,
        }
    }

    /// The proto field name of the member.
    fn field(self) -> &'static str {
        match self {
            Self::Number => "number",
            Self::NumberRange => "number_range",
            Self::Text => "text",
            Self::TextSet => "text_set",
            Self::Days => "days",
            Self::DayRange => "day_range",
        }
    }
}

const ALL_TYPES: [AttrType; 5] = [
    AttrType::Number,
    AttrType::Text,
    AttrType::Bool,
    AttrType::Time,
    AttrType::Ordinal,
];

/// The operator table of criteria.proto: `None` when `op` does not fit `ty`, else the operand
/// it takes (`Some(None)`: no operand).
fn operand_for(ty: AttrType, op: Operator) -> Option<Option<OperandKind>> {
    use OperandKind as K;
    use Operator as O;
    let kind = match (ty, op) {
        (_, O::IsEmpty | O::IsNotEmpty) => None,
        (AttrType::Number, O::LessThan | O::LessThanOrEqual | O::GreaterThan)
        | (AttrType::Number, O::GreaterThanOrEqual | O::Equal | O::NotEqual) => Some(K::Number),
        (AttrType::Number, O::Between) => Some(K::NumberRange),
        (AttrType::Text, O::Equal | O::NotEqual) => Some(K::Text),
        (AttrType::Ordinal, O::Equal | O::NotEqual | O::AtLeast | O::AtMost) => Some(K::Text),
        (AttrType::Text | AttrType::Ordinal, O::In | O::NotIn) => Some(K::TextSet),
        (AttrType::Bool, O::IsTrue | O::IsFalse) => None,
        (AttrType::Time, O::LessThan | O::LessThanOrEqual | O::GreaterThan)
        | (AttrType::Time, O::GreaterThanOrEqual | O::Equal | O::NotEqual)
        | (AttrType::Time, O::WithinLastDays | O::MoreThanDaysAgo) => Some(K::Days),
        (AttrType::Time, O::Between) => Some(K::DayRange),
        _ => return None,
    };
    Some(kind)
}

/// The comparison of LESS_THAN..NOT_EQUAL.
fn cmp_of(op: Operator) -> Option<Cmp> {
    Some(match op {
        Operator::LessThan => Cmp::Lt,
        Operator::LessThanOrEqual => Cmp::Le,
        Operator::GreaterThan => Cmp::Gt,
        Operator::GreaterThanOrEqual => Cmp::Ge,
        Operator::Equal => Cmp::Eq,
        Operator::NotEqual => Cmp::Ne,
        _ => return None,
    })
}

/// The operator's name without the `OPERATOR_` prefix, e.g. `AT_LEAST`.
fn op_name(op: Operator) -> &'static str {
    let name = op.as_str_name();
    name.strip_prefix("OPERATOR_").unwrap_or(name)
}

/// "a NUMBER or TIME attribute", "an ORDINAL attribute": the types an operator fits.
fn fitting_types(op: Operator) -> String {
    let names: Vec<&str> = ALL_TYPES
        .iter()
        .filter(|&&t| operand_for(t, op).is_some())
        .map(|&t| type_name(t))
        .collect();
    let list = match names.split_last() {
        None => "no".to_string(),
        Some((last, [])) => (*last).to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    };
    let article = if list.starts_with('O') { "an" } else { "a" };
    format!("{article} {list} attribute")
}

fn days_to_nanos(days: i64) -> i128 {
    // |days| < 2^63 and NANOS_PER_DAY < 2^47: the product fits an i128 easily.
    i128::from(days) * NANOS_PER_DAY
}

impl Compiler {
    /// Validates and lowers one criterion at nesting `depth` (1 = top). Always returns a node;
    /// when the criterion is invalid it is a placeholder and a violation has been recorded.
    pub(super) fn criterion(&mut self, c: &proto::Criterion, path: &str, depth: usize) -> NodeId {
        if depth > MAX_CRITERION_DEPTH {
            self.violation(
                path,
                format!("criteria nest more than {MAX_CRITERION_DEPTH} levels deep"),
            );
            return self.placeholder();
        }
        match &c.kind {
            None => {
                self.violation(
                    path,
                    "empty criterion: set one of predicate, all, any or negation",
                );
                self.placeholder()
            }
            Some(Kind::Predicate(p)) => match self.predicate(p, &format!("{path}.predicate")) {
                Some(pred) => self.push(Node::Pred(pred)),
                None => self.placeholder(),
            },
            Some(Kind::All(list)) => {
                let (start, len) = self.list(list, &format!("{path}.all"), depth);
                self.push(Node::All { start, len })
            }
            Some(Kind::Any(list)) => {
                let (start, len) = self.list(list, &format!("{path}.any"), depth);
                self.push(Node::Any { start, len })
            }
            Some(Kind::Negation(inner)) => {
                let child = self.criterion(inner, &format!("{path}.negation"), depth + 1);
                self.push(Node::Not(child))
            }
        }
    }

    /// The criteria of an `all`/`any`: compiled first, then their ids appended contiguously to
    /// `children`. Returns the range.
    fn list(&mut self, list: &proto::CriterionList, path: &str, depth: usize) -> (u32, u32) {
        let ids: Vec<NodeId> = list
            .of
            .iter()
            .enumerate()
            .map(|(i, c)| self.criterion(c, &format!("{path}.of[{i}]"), depth + 1))
            .collect();
        let start = id(self.children.len());
        self.children.extend_from_slice(&ids);
        (start, id(ids.len()))
    }

    /// Validates one predicate (`path` ends in `.predicate`) and lowers it; None when invalid.
    fn predicate(&mut self, p: &proto::Predicate, path: &str) -> Option<Pred> {
        let attr = if p.attribute.is_empty() {
            self.violation(format!("{path}.attribute"), "attribute is required");
            None
        } else if let Some(&attr) = self.attr_index.get(&p.attribute) {
            Some(attr)
        } else {
            self.violation(
                format!("{path}.attribute"),
                format!("unknown attribute {:?}: not in the catalog", p.attribute),
            );
            None
        };
        let op = match Operator::try_from(p.operator) {
            Ok(Operator::Unspecified) => {
                self.violation(format!("{path}.operator"), "operator is required");
                None
            }
            Ok(op) => Some(op),
            Err(_) => {
                self.violation(
                    format!("{path}.operator"),
                    format!("unknown operator {}", p.operator),
                );
                None
            }
        };
        if p.change_period_days < 0 {
            self.violation(
                format!("{path}.change_period_days"),
                format!(
                    "change_period_days must be 0 (no change-in) or a positive number of days, got {}",
                    p.change_period_days
                ),
            );
        }
        // An attribute without a valid type is reported at the catalog.
        let resolved = match (attr, op) {
            (Some(attr), Some(op)) => self
                .attr_types
                .get(attr as usize)
                .copied()
                .flatten()
                .map(|ty| (attr, op, ty)),
            _ => None,
        };
        let Some((attr, op, ty)) = resolved else {
            // Still report what is wrong with the operand on its own (NaN, empty text, ...).
            if let Some(operand) = &p.operand {
                self.operand_values(operand, None, path);
            }
            return None;
        };
        let name = p.attribute.as_str();

        let Some(expected) = operand_for(ty, op) else {
            self.violation(
                format!("{path}.operator"),
                format!(
                    "{} needs {}; {name:?} is {}",
                    op_name(op),
                    fitting_types(op),
                    type_name(ty)
                ),
            );
            return None;
        };

        let mut ok = true;
        let change = u32::try_from(p.change_period_days).unwrap_or(0);
        if change > 0 {
            let change_path = format!("{path}.change_period_days");
            if ty != AttrType::Number {
                self.violation(
                    change_path,
                    format!(
                        "\"change in\" needs a NUMBER attribute; {name:?} is {}",
                        type_name(ty)
                    ),
                );
                ok = false;
            } else if cmp_of(op).is_none() && op != Operator::Between {
                self.violation(
                    change_path,
                    format!(
                        "\"change in\" works with LESS_THAN..NOT_EQUAL and BETWEEN, not {}",
                        op_name(op)
                    ),
                );
                ok = false;
            }
        }

        let what = format!("{} on {} attribute {name:?}", op_name(op), type_name(ty));
        match (expected, &p.operand) {
            (None, None) => {}
            (None, Some(given)) => {
                let field = OperandKind::of(given).field();
                self.violation(
                    format!("{path}.{field}"),
                    format!("{what} takes no operand; unset {field}"),
                );
                ok = false;
            }
            (Some(kind), None) => {
                self.violation(
                    format!("{path}.{}", kind.field()),
                    format!("{what} needs a {} operand; none is set", kind.field()),
                );
                ok = false;
            }
            (Some(kind), Some(given)) if OperandKind::of(given) != kind => {
                let field = OperandKind::of(given).field();
                self.violation(
                    format!("{path}.{field}"),
                    format!("{what} takes a {} operand, not {field}", kind.field()),
                );
                ok = false;
            }
            (Some(_), Some(given)) => {
                let levels_of = (ty == AttrType::Ordinal).then_some(attr);
                ok &= self.operand_values(given, levels_of, path);
            }
        }
        if !ok {
            return None;
        }
        let lowered = self.lower(attr, ty, op, p.operand.as_ref(), change);
        if lowered.is_none() {
            // Unreachable if the checks above are complete; never let it pass silently.
            self.violation(path, format!("cannot compile {what}"));
        }
        lowered
    }

    /// Checks the operand's values: finite numbers, ordered ranges, non-empty texts, and texts
    /// that are declared levels of the ORDINAL attribute `levels_of` (if any).
    fn operand_values(&mut self, operand: &Operand, levels_of: Option<AttrId>, path: &str) -> bool {
        let before = self.violations.len();
        match operand {
            Operand::Number(x) => {
                if !x.is_finite() {
                    self.violation(
                        format!("{path}.number"),
                        format!("number must be finite, got {x}"),
                    );
                }
            }
            Operand::NumberRange(r) => {
                for (bound, v) in [("low", r.low), ("high", r.high)] {
                    if !v.is_finite() {
                        self.violation(
                            format!("{path}.number_range.{bound}"),
                            format!("{bound} must be a finite number, got {v}"),
                        );
                    }
                }
                if r.low > r.high {
                    self.violation(
                        format!("{path}.number_range"),
                        format!("low {} is greater than high {}", r.low, r.high),
                    );
                }
            }
            Operand::Text(t) => self.text_operand(&format!("{path}.text"), t, levels_of),
            Operand::TextSet(set) => {
                if set.values.is_empty() {
                    self.violation(
                        format!("{path}.text_set.values"),
                        "text_set needs at least one value",
                    );
                }
                for (i, t) in set.values.iter().enumerate() {
                    self.text_operand(&format!("{path}.text_set.values[{i}]"), t, levels_of);
                }
            }
            Operand::Days(_) => {}
            Operand::DayRange(r) => {
                if r.low > r.high {
                    self.violation(
                        format!("{path}.day_range"),
                        format!("low {} is greater than high {}", r.low, r.high),
                    );
                }
            }
        }
        self.violations.len() == before
    }

    /// A text literal: non-empty, and one of the declared levels of `levels_of` (if any).
    fn text_operand(&mut self, path: &str, text: &str, levels_of: Option<AttrId>) {
        if text.is_empty() {
            self.violation(path, "text must be non-empty (an empty text is no value)");
            return;
        }
        let Some(info) = levels_of.and_then(|attr| self.attributes.get(attr as usize)) else {
            return;
        };
        if !info.codes.contains_key(text) {
            let message = format!(
                "{text:?} is not a level of ORDINAL attribute {:?} (levels: {})",
                info.name,
                info.code_names.join(", ")
            );
            self.violation(path, message);
        }
    }

    /// Lowers a validated predicate. None only if validation missed a case.
    fn lower(
        &mut self,
        attr: AttrId,
        ty: AttrType,
        op: Operator,
        operand: Option<&Operand>,
        change: u32,
    ) -> Option<Pred> {
        use AttrType as T;
        use Operator as O;
        Some(match (ty, op, operand) {
            (_, O::IsEmpty, None) => Pred::IsEmpty { attr },
            (_, O::IsNotEmpty, None) => Pred::IsNotEmpty { attr },
            (T::Number, O::Between, Some(Operand::NumberRange(r))) => {
                let (low, high) = (r.low, r.high);
                if change > 0 {
                    let lookback = self.lookback(attr, change);
                    Pred::ChangeBetween {
                        attr,
                        lookback,
                        low,
                        high,
                    }
                } else {
                    Pred::NumberBetween { attr, low, high }
                }
            }
            (T::Number, op, Some(&Operand::Number(operand))) => {
                let cmp = cmp_of(op)?;
                if change > 0 {
                    let lookback = self.lookback(attr, change);
                    Pred::Change {
                        attr,
                        lookback,
                        cmp,
                        operand,
                    }
                } else {
                    Pred::Number { attr, cmp, operand }
                }
            }
            (T::Text | T::Ordinal, O::Equal | O::NotEqual, Some(Operand::Text(t))) => {
                Pred::CodeEq {
                    attr,
                    code: self.code(attr, ty, t)?,
                    negate: op == O::NotEqual,
                }
            }
            (T::Text | T::Ordinal, O::In | O::NotIn, Some(Operand::TextSet(set))) => {
                let mut codes = set
                    .values
                    .iter()
                    .map(|t| self.code(attr, ty, t))
                    .collect::<Option<Vec<_>>>()?;
                codes.sort_unstable();
                codes.dedup();
                Pred::CodeIn {
                    attr,
                    codes,
                    negate: op == O::NotIn,
                }
            }
            (T::Ordinal, O::AtLeast, Some(Operand::Text(t))) => Pred::AtLeast {
                attr,
                level: self.code(attr, ty, t)?,
            },
            (T::Ordinal, O::AtMost, Some(Operand::Text(t))) => Pred::AtMost {
                attr,
                level: self.code(attr, ty, t)?,
            },
            (T::Bool, O::IsTrue, None) => Pred::Bool { attr, value: true },
            (T::Bool, O::IsFalse, None) => Pred::Bool { attr, value: false },
            (T::Time, O::WithinLastDays, Some(&Operand::Days(d))) => Pred::Time {
                attr,
                cmp: Cmp::Le,
                nanos: days_to_nanos(d),
            },
            (T::Time, O::MoreThanDaysAgo, Some(&Operand::Days(d))) => Pred::Time {
                attr,
                cmp: Cmp::Gt,
                nanos: days_to_nanos(d),
            },
            (T::Time, O::Between, Some(Operand::DayRange(r))) => Pred::TimeBetween {
                attr,
                low: days_to_nanos(r.low),
                high: days_to_nanos(r.high),
            },
            (T::Time, op, Some(&Operand::Days(d))) => Pred::Time {
                attr,
                cmp: cmp_of(op)?,
                nanos: days_to_nanos(d),
            },
            _ => return None,
        })
    }

    /// The code of a literal: an ORDINAL's level index, or a TEXT literal's code (assigned in the
    /// order the ruleset first compares the attribute with each literal).
    fn code(&mut self, attr: AttrId, ty: AttrType, text: &str) -> Option<u32> {
        let info = self.attributes.get_mut(attr as usize)?;
        if let Some(&code) = info.codes.get(text) {
            return Some(code);
        }
        if ty != AttrType::Text {
            return None;
        }
        let code = id(info.code_names.len());
        info.codes.insert(text.to_string(), code);
        info.code_names.push(text.to_string());
        Some(code)
    }

    /// The id of the (attribute, period) look-back, added on first use.
    fn lookback(&mut self, attr: AttrId, period_days: u32) -> LookbackId {
        if let Some(&lb) = self.lookback_index.get(&(attr, period_days)) {
            return lb;
        }
        let lb = id(self.lookbacks.len());
        self.lookbacks.push((attr, period_days));
        self.lookback_index.insert((attr, period_days), lb);
        lb
    }
}
