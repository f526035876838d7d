//! The inline session policy that narrows a customer role's credentials to one table's location
//! (STS intersects it with the role's own permissions): what a query engine may do with the
//! credentials Frazil vends for that table, and nothing else.

use percent_encoding::percent_decode_str;
use serde_json::{json, Value};

use super::DataAccess;
use crate::Location;

/// Actions on the table's objects a reader needs.
const READ_OBJECT_ACTIONS: &[&str] = &["s3:GetObject"];
/// Actions on the table's objects a writer needs besides reading.
const WRITE_OBJECT_ACTIONS: &[&str] =
    &["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"];

/// The bucket and key prefix (no leading or trailing `/`, percent-decoded: IAM matches keys as
/// stored) of an `s3://` or `s3a://` location; `None` for other schemes.
pub(crate) fn bucket_and_prefix(location: &Location) -> Option<(String, String)> {
    let url = location.url();
    if !matches!(url.scheme(), "s3" | "s3a") {
        return None;
    }
    let bucket = url.host_str()?.to_string();
    let prefix = percent_decode_str(url.path().trim_matches('/'))
        .decode_utf8_lossy()
        .into_owned();
    Some((bucket, prefix))
}

/// The session policy allowing `access` below `location` (an `s3://` table location):
/// `s3:GetObject` (and for writers `s3:PutObject`, `s3:DeleteObject`,
/// `s3:AbortMultipartUpload`) on `arn:aws:s3:::<bucket>/<prefix>/*`, and `s3:ListBucket` on the
/// bucket only for keys `<prefix>` and `<prefix>/*`. `None` for a location outside S3.
pub fn session_policy(location: &Location, access: DataAccess) -> Option<Value> {
    let (bucket, prefix) = bucket_and_prefix(location)?;
    let prefix = literal(&prefix);
    let objects = match prefix.is_empty() {
        true => format!("arn:aws:s3:::{bucket}/*"),
        false => format!("arn:aws:s3:::{bucket}/{prefix}/*"),
    };
    let mut actions: Vec<&str> = READ_OBJECT_ACTIONS.to_vec();
    if access == DataAccess::Write {
        actions.extend_from_slice(WRITE_OBJECT_ACTIONS);
    }
    let listed = match prefix.is_empty() {
        true => json!(["*"]),
        false => json!([prefix, format!("{prefix}/*")]),
    };
    Some(json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "TableObjects",
                "Effect": "Allow",
                "Action": actions,
                "Resource": [objects],
            },
            {
                "Sid": "ListTableLocation",
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": [format!("arn:aws:s3:::{bucket}")],
                "Condition": {"StringLike": {"s3:prefix": listed}},
            },
        ],
    }))
}

/// `key` as IAM matches it literally: `*` and `?` are wildcards in resources and `StringLike`
/// conditions and `${...}` a policy variable, so a table named `a*` must not be granted `a-b/...`
/// too. IAM writes them literally as `${*}`, `${?}` and `${$}`.
fn literal(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for c in key.chars() {
        match c {
            '*' => out.push_str("${*}"),
            '?' => out.push_str("${?}"),
            '$' => out.push_str("${$}"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location(text: &str) -> Location {
        Location::parse(text).unwrap()
    }

    #[test]
    fn a_reader_may_get_and_list_only_below_the_table() {
        let policy = session_policy(&location("s3://lake/wh/ns/t-1"), DataAccess::Read).unwrap();
        assert_eq!(
            policy,
            json!({
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "TableObjects",
                        "Effect": "Allow",
                        "Action": ["s3:GetObject"],
                        "Resource": ["arn:aws:s3:::lake/wh/ns/t-1/*"],
                    },
                    {
                        "Sid": "ListTableLocation",
                        "Effect": "Allow",
                        "Action": ["s3:ListBucket"],
                        "Resource": ["arn:aws:s3:::lake"],
                        "Condition": {"StringLike": {"s3:prefix": ["wh/ns/t-1", "wh/ns/t-1/*"]}},
                    },
                ],
            })
        );
    }

    #[test]
    fn a_writer_may_also_put_delete_and_abort_uploads() {
        let policy = session_policy(&location("s3a://lake/t/"), DataAccess::Write).unwrap();
        assert_eq!(
            policy["Statement"][0]["Action"],
            json!([
                "s3:GetObject",
                "s3:PutObject",
                "s3:DeleteObject",
                "s3:AbortMultipartUpload"
            ])
        );
        assert_eq!(
            policy["Statement"][0]["Resource"],
            json!(["arn:aws:s3:::lake/t/*"])
        );
        assert_eq!(
            policy["Statement"][1]["Condition"]["StringLike"]["s3:prefix"],
            json!(["t", "t/*"])
        );
    }

    #[test]
    fn keys_are_named_as_stored_not_as_encoded() {
        let policy =
            session_policy(&location("s3://lake/my%20ns/t%2B1"), DataAccess::Read).unwrap();
        assert_eq!(
            policy["Statement"][0]["Resource"],
            json!(["arn:aws:s3:::lake/my ns/t+1/*"])
        );
    }

    #[test]
    fn only_s3_locations_have_a_policy() {
        assert!(session_policy(&location("file:///tmp/t"), DataAccess::Read).is_none());
    }

    #[test]
    fn wildcards_in_a_location_are_literal() {
        let policy = session_policy(&location("s3://lake/ns/a*b%3Fc$d"), DataAccess::Read).unwrap();
        assert_eq!(
            policy["Statement"][0]["Resource"],
            json!(["arn:aws:s3:::lake/ns/a${*}b${?}c${$}d/*"])
        );
        assert_eq!(
            policy["Statement"][1]["Condition"]["StringLike"]["s3:prefix"],
            json!(["ns/a${*}b${?}c${$}d", "ns/a${*}b${?}c${$}d/*"])
        );
    }
}
