//! Who may do what: roles, the principal a token stands for, and the authorization decision.

use std::fmt;
use std::str::FromStr;

use crate::{CatalogError, Result};

/// What an API key may do. Ordered: each role may do everything the roles before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Query engines: list, load, config, credentials, metrics.
    Reader,
    /// The materializer: also create, commit, drop, rename, register.
    Writer,
    /// Also the admin API for its environment or organization.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Writer => "writer",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = CatalogError;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "reader" => Ok(Role::Reader),
            "writer" => Ok(Role::Writer),
            "admin" => Ok(Role::Admin),
            other => Err(CatalogError::BadRequest(format!(
                "Unknown role {other:?}: use reader, writer or admin"
            ))),
        }
    }
}

/// The kind of access a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    Admin,
}

impl Access {
    fn required_role(self) -> Role {
        match self {
            Access::Read => Role::Reader,
            Access::Write => Role::Writer,
            Access::Admin => Role::Admin,
        }
    }
}

/// The caller, as its token says: an API key, its scope and its role. No organization means the
/// whole server (the bootstrap administrator); no environment means the whole organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub key_id: String,
    pub org_id: Option<String>,
    pub env_id: Option<String>,
    pub role: Role,
}

impl Principal {
    pub fn is_server_admin(&self) -> bool {
        self.org_id.is_none() && self.role == Role::Admin
    }

    /// True when the principal's scope includes `org` (and `env`, when given).
    pub fn covers(&self, org: &str, env: Option<&str>) -> bool {
        match (&self.org_id, &self.env_id, env) {
            (None, _, _) => true,
            (Some(o), _, _) if o != org => false,
            (Some(_), None, _) => true,
            (Some(_), Some(_), None) => false,
            (Some(_), Some(e), Some(env)) => e == env,
        }
    }

    /// May this principal do `access` in `org`/`env`? An environment or organization outside
    /// the principal's scope is answered as missing, in the words its API uses for a missing one
    /// (the admin API for [`Access::Admin`], the catalog's NoSuchWarehouse otherwise), so that a
    /// token cannot tell another tenant's names from names nobody uses. Only a role too low for
    /// the operation in its own scope is 403.
    pub fn authorize(&self, org: &str, env: Option<&str>, access: Access) -> Result<()> {
        if !self.covers(org, env) {
            return Err(self.out_of_scope(org, env, access));
        }
        if self.role < access.required_role() {
            return Err(CatalogError::Forbidden(format!(
                "API key {} has role {}; this operation needs {}",
                self.key_id,
                self.role,
                access.required_role()
            )));
        }
        Ok(())
    }

    fn out_of_scope(&self, org: &str, env: Option<&str>, access: Access) -> CatalogError {
        match env {
            // An environment key asking for its whole organization: it knows that one exists.
            None if self.org_id.as_deref() == Some(org) => CatalogError::Forbidden(format!(
                "API key {} belongs to one environment; this needs an organization key",
                self.key_id
            )),
            None => CatalogError::no_such_organization(org),
            Some(env) if access == Access::Admin => CatalogError::no_such_environment(org, env),
            Some(env) => CatalogError::NoSuchWarehouse(format!("{org}/{env}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(org: Option<&str>, env: Option<&str>, role: Role) -> Principal {
        Principal {
            key_id: "K".into(),
            org_id: org.map(str::to_string),
            env_id: env.map(str::to_string),
            role,
        }
    }

    #[test]
    fn scopes_and_roles_decide() {
        let reader = key(Some("acme"), Some("prod"), Role::Reader);
        assert!(reader.authorize("acme", Some("prod"), Access::Read).is_ok());
        assert!(reader
            .authorize("acme", Some("prod"), Access::Write)
            .is_err());
        assert!(matches!(
            reader.authorize("acme", Some("prod"), Access::Write),
            Err(CatalogError::Forbidden(_))
        ));
        assert!(matches!(
            reader.authorize("acme", Some("dev"), Access::Read),
            Err(CatalogError::NoSuchWarehouse(w)) if w == "acme/dev"
        ));
        assert!(reader
            .authorize("other", Some("prod"), Access::Read)
            .is_err());
        assert!(
            matches!(
                reader.authorize("acme", None, Access::Read),
                Err(CatalogError::Forbidden(_))
            ),
            "an env key is not org-wide"
        );

        let org_admin = key(Some("acme"), None, Role::Admin);
        assert!(org_admin
            .authorize("acme", Some("dev"), Access::Admin)
            .is_ok());
        assert!(org_admin.authorize("acme", None, Access::Admin).is_ok());
        assert!(matches!(
            org_admin.authorize("globex", Some("dev"), Access::Read),
            Err(CatalogError::NoSuchWarehouse(w)) if w == "globex/dev"
        ));
        assert!(matches!(
            org_admin.authorize("globex", Some("dev"), Access::Admin),
            Err(CatalogError::NoSuchResource(m)) if m == "Environment globex/dev does not exist"
        ));
        assert!(matches!(
            org_admin.authorize("globex", None, Access::Admin),
            Err(CatalogError::NoSuchResource(m)) if m == "Organization globex does not exist"
        ));

        let root = key(None, None, Role::Admin);
        assert!(root.is_server_admin());
        assert!(root.authorize("anything", Some("x"), Access::Admin).is_ok());
    }
}
