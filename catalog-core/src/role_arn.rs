//! IAM role ARNs as a customer gives them for a provider integration. Checked on the way in, so
//! that a typo is a 400 naming the field now rather than an AccessDenied from STS much later.

use crate::{CatalogError, Result};

/// The wire field a malformed ARN is reported under.
const FIELD: &str = "aws.customer_role_arn";

/// `arn:{partition}:iam::{12-digit account}:role/{optional/path/}{name}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleArn {
    pub partition: String,
    pub account: String,
    /// The role's name, after its path.
    pub name: String,
}

impl RoleArn {
    pub fn parse(text: &str) -> Result<Self> {
        let invalid = |reason: &str| {
            CatalogError::BadRequest(format!(
                "Invalid {FIELD} {text:?}: {reason} (expected arn:aws:iam::123456789012:role/name)"
            ))
        };
        let parts: Vec<&str> = text.splitn(6, ':').collect();
        let [arn, partition, service, region, account, resource] = parts[..] else {
            return Err(invalid("not an ARN"));
        };
        if arn != "arn" || !is_partition(partition) {
            return Err(invalid("not an ARN of an AWS partition"));
        }
        if service != "iam" || !region.is_empty() {
            return Err(invalid("not an IAM ARN"));
        }
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid("the account must be 12 digits"));
        }
        let Some(path_and_name) = resource.strip_prefix("role/") else {
            return Err(invalid("not a role"));
        };
        let name = path_and_name.rsplit('/').next().unwrap_or_default();
        // IAM's limits: names 1 to 64 of `\w+=,.@-`, paths up to 512 characters.
        if name.is_empty() || name.len() > 64 || !name.chars().all(is_name_char) {
            return Err(invalid(
                "the role name must be 1 to 64 of letters, digits and +=,.@_-",
            ));
        }
        if path_and_name.len() > 512 + 64 || path_and_name.contains("//") {
            return Err(invalid("the role path is malformed"));
        }
        if !path_and_name.chars().all(|c| c == '/' || is_name_char(c)) {
            return Err(invalid(
                "the role path may hold only letters, digits, '/' and +=,.@_-",
            ));
        }
        Ok(Self {
            partition: partition.to_string(),
            account: account.to_string(),
            name: name.to_string(),
        })
    }
}

/// `aws`, `aws-cn`, `aws-us-gov`, `aws-iso`, ...: partitions are named `aws` or `aws-...`.
fn is_partition(partition: &str) -> bool {
    partition == "aws"
        || partition.strip_prefix("aws-").is_some_and(|rest| {
            !rest.is_empty() && rest.chars().all(|c| c.is_ascii_lowercase() || c == '-')
        })
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "+=,.@_-".contains(c)
}

#[cfg(test)]
mod tests {
    use super::RoleArn;

    #[test]
    fn accepts_roles_with_and_without_paths() {
        let arn = RoleArn::parse("arn:aws:iam::123456789012:role/frazil-access").unwrap();
        assert_eq!(arn.account, "123456789012");
        assert_eq!(arn.name, "frazil-access");
        let arn = RoleArn::parse("arn:aws-cn:iam::123456789012:role/team/data/Reader+1@x").unwrap();
        assert_eq!(
            (arn.partition.as_str(), arn.name.as_str()),
            ("aws-cn", "Reader+1@x")
        );
        assert!(RoleArn::parse("arn:aws-us-gov:iam::000000000000:role/a").is_ok());
    }

    #[test]
    fn refuses_malformed_arns_naming_the_field() {
        for bad in [
            "",
            "role/name",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:iam::123456789012:user/name",
            "arn:aws:iam::12345678901:role/name",
            "arn:aws:iam::1234567890123:role/name",
            "arn:aws:iam::12345678901x:role/name",
            "arn:aws:iam:us-east-1:123456789012:role/name",
            "arn:aws:s3::123456789012:role/name",
            "arn:azure:iam::123456789012:role/name",
            "arn:aws:iam::123456789012:role/has space",
            "arn:aws:iam::123456789012:role/a//b",
            "arn:aws:iam::123456789012:role/ünïcode",
            "xarn:aws:iam::123456789012:role/name",
        ] {
            let err = RoleArn::parse(bad).unwrap_err().to_string();
            assert!(err.contains("aws.customer_role_arn"), "{bad:?}: {err}");
        }
        let long = format!("arn:aws:iam::123456789012:role/{}", "n".repeat(65));
        assert!(RoleArn::parse(&long).is_err());
    }
}
