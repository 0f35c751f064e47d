//! The service's view of request and response envelopes, without decoding any account: the
//! options a `ScoreAccountsRequest` carries next to its accounts, and the re-tagging of a
//! response's results as `other_model_results` for side-by-side scoring.

use prost::encoding::{decode_key, decode_varint, encode_key, encode_varint, WireType};
use prost::Message;

use crate::error::{Error, Result};

/// The fields of `ScoreAccountsRequest` that choose how to score (prost skips the accounts
/// without decoding them: a length prefix per account).
#[derive(Clone, PartialEq, Message)]
pub struct RequestOptions {
    #[prost(string, tag = "5")]
    pub ruleset: String,
    #[prost(bool, tag = "6")]
    pub include_other_model: bool,
    #[prost(string, tag = "7")]
    pub other_model_ruleset: String,
}

/// The options of a serialized `ScoreAccountsRequest` (or of a message that shares its field
/// numbers 5-7).
pub fn request_options(request: &[u8]) -> Result<RequestOptions> {
    Ok(RequestOptions::decode(request)?)
}

/// A serialized `ScoreAccountsResponse` whose `results` (field 1) are moved to field `to`; any
/// other field is copied as it is.
pub fn retag_results(response: &[u8], to: u32) -> Result<Vec<u8>> {
    if to == 0 || to > (1 << 29) - 1 {
        return Err(Error::Malformed(format!("invalid field number {to}")));
    }
    let mut buf = response;
    let mut out = Vec::with_capacity(response.len() + 16);
    while !buf.is_empty() {
        let start = buf;
        let (tag, wire) = decode_key(&mut buf)?;
        if tag == 1 && wire == WireType::LengthDelimited {
            let len = decode_varint(&mut buf)?;
            let len = usize::try_from(len)
                .ok()
                .filter(|&l| l <= buf.len())
                .ok_or_else(|| Error::Malformed("buffer underflow".into()))?;
            encode_key(to, WireType::LengthDelimited, &mut out);
            encode_varint(len as u64, &mut out);
            out.extend_from_slice(&buf[..len]);
            buf = &buf[len..];
        } else {
            prost::encoding::skip_field(
                wire,
                tag,
                &mut buf,
                prost::encoding::DecodeContext::default(),
            )?;
            out.extend_from_slice(&start[..start.len() - buf.len()]);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{AccountHealth, ScoreAccountsRequest, ScoreAccountsResponse};

    #[test]
    fn options_are_read_past_the_accounts() {
        let mut req = ScoreAccountsRequest {
            ruleset: "models/multidimensional/versions/3".into(),
            include_other_model: true,
            other_model_ruleset: "models/account-health/draft".into(),
            ..Default::default()
        };
        req.accounts = (0..100)
            .map(|i| crate::proto::Account {
                id: format!("a{i}"),
                ..Default::default()
            })
            .collect();
        let o = request_options(&req.encode_to_vec()).unwrap();
        assert_eq!(o.ruleset, "models/multidimensional/versions/3");
        assert!(o.include_other_model);
        assert_eq!(o.other_model_ruleset, "models/account-health/draft");
        assert_eq!(
            request_options(&[]).unwrap(),
            RequestOptions::default(),
            "an empty request has no options"
        );
        assert!(request_options(&[0x2a, 0x05, b'a']).is_err(), "truncated");
    }

    #[test]
    fn results_move_to_the_other_field() {
        let results: Vec<AccountHealth> = (0..3)
            .map(|i| AccountHealth {
                account_id: format!("a{i}"),
                score: Some(i),
                ..Default::default()
            })
            .collect();
        let resp = ScoreAccountsResponse {
            results: results.clone(),
            ruleset: "x".into(),
            ..Default::default()
        };
        let moved = retag_results(&resp.encode_to_vec(), 2).unwrap();
        let back = ScoreAccountsResponse::decode(&moved[..]).unwrap();
        assert!(back.results.is_empty());
        assert_eq!(back.other_model_results, results);
        assert_eq!(back.ruleset, "x");
        assert!(retag_results(&[0x0a, 0x09, 1], 2).is_err(), "truncated");
        assert!(retag_results(&[], 0).is_err(), "field 0");
    }
}
