//! Enterprise health (SPEC §6 + semantics.md): one level of a hierarchy, each parent rolled up
//! from its children's health. Sums are exact (i128); outputs that do not fit int64 are bad input.

use crate::error::{Error, Result, Violation};
use crate::proto::{
    EnterpriseHealth, EnterpriseMethod, HealthModel, HealthRank, RollUpEnterpriseHealthRequest,
    RollUpEnterpriseHealthResponse, UnknownReason,
};

/// Rolls up every parent of `req`, or lists every violation.
pub fn roll_up(req: &RollUpEnterpriseHealthRequest) -> Result<RollUpEnterpriseHealthResponse> {
    let mut bad: Vec<Violation> = Vec::new();
    let multidimensional = match HealthModel::try_from(req.model) {
        Ok(HealthModel::Multidimensional) => true,
        Ok(HealthModel::AccountHealth) => false,
        _ => {
            bad.push(Violation::new("model", "a health model is required"));
            false
        }
    };
    let settings = req.settings.unwrap_or_default();
    let by_value = match EnterpriseMethod::try_from(settings.method) {
        Ok(EnterpriseMethod::ContractValue) => true,
        Ok(_) => false,
        Err(_) => {
            bad.push(Violation::new("settings.method", "unknown method"));
            false
        }
    };
    let mut share = |v: Option<i32>, path: &str| -> i128 {
        let v = v.unwrap_or(50);
        if !(0..=100).contains(&v) {
            bad.push(Violation::new(path, "a percentage 0..100 is required"));
        }
        i128::from(v)
    };
    let poor_share = share(settings.poor_share_percent, "settings.poor_share_percent");
    let good_share = share(settings.good_share_percent, "settings.good_share_percent");

    let mut parents = Vec::with_capacity(req.parents.len());
    for (i, parent) in req.parents.iter().enumerate() {
        if parent.parent_id.is_empty() {
            bad.push(Violation::new(
                format!("parents[{i}].parent_id"),
                "a parent id is required",
            ));
        }
        let (mut known, mut poor, mut good, mut num) = (0i128, 0i128, 0i128, 0i128);
        let mut unknown_children = Vec::new();
        let mut poor_children: Vec<(i128, &str)> = Vec::new();
        for (j, child) in parent.children.iter().enumerate() {
            let rank = HealthRank::try_from(child.rank).unwrap_or(HealthRank::Unspecified);
            if !matches!(
                rank,
                HealthRank::Good | HealthRank::Average | HealthRank::Poor
            ) {
                unknown_children.push(child.account_id.clone());
                continue;
            }
            let weight = if by_value {
                i128::from(child.contract_value.unwrap_or(0).max(0))
            } else {
                1
            };
            known += weight;
            match rank {
                HealthRank::Poor => {
                    poor += weight;
                    poor_children.push((weight, &child.account_id));
                }
                HealthRank::Good => good += weight,
                _ => {}
            }
            if multidimensional {
                match child.score {
                    Some(s) if (0..=100).contains(&s) => num += i128::from(s) * weight,
                    Some(_) => bad.push(Violation::new(
                        format!("parents[{i}].children[{j}].score"),
                        "a score 0..100 is required",
                    )),
                    None => bad.push(Violation::new(
                        format!("parents[{i}].children[{j}].score"),
                        "a child with known health needs its score",
                    )),
                }
            }
        }
        let Ok(known_weight) = i64::try_from(known) else {
            bad.push(Violation::new(
                format!("parents[{i}]"),
                "the children's total weight does not fit int64",
            ));
            continue;
        };
        // poor, good <= known, so they fit too.
        let mut out = EnterpriseHealth {
            account_id: parent.parent_id.clone(),
            known_weight,
            poor_weight: poor as i64,
            good_weight: good as i64,
            unknown_children,
            ..Default::default()
        };
        // Heaviest first; the sort is stable, so ties stay in request order.
        poor_children.sort_by_key(|c| std::cmp::Reverse(c.0));
        out.pulled_down_by = poor_children
            .into_iter()
            .map(|(_, id)| id.to_string())
            .collect();
        if known == 0 {
            out.set_rank(HealthRank::Unknown);
            out.set_unknown_reason(UnknownReason::NoChildData);
        } else {
            let rank = if 100 * poor > poor_share * known {
                HealthRank::Poor
            } else if 100 * good >= good_share * known {
                HealthRank::Good
            } else {
                HealthRank::Average
            };
            out.set_rank(rank);
            if multidimensional {
                // Half up, in i128: num <= 100 x known < 2^70, so nothing overflows; the mean of
                // scores 0..100 is 0..100.
                let score = (2 * num + known) / (2 * known);
                out.score = Some(score as i32);
            }
        }
        parents.push(out);
    }
    if !bad.is_empty() {
        return Err(Error::InvalidAccounts(bad));
    }
    Ok(RollUpEnterpriseHealthResponse { parents })
}
