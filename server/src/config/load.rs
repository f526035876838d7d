//! Reading the settings strictly: a mistake in them stops the start-up with a message that names
//! the setting (its TOML key and file, or its `FRAZIL_` variable) and the value, because a
//! setting that is silently ignored or replaced by its default is found only much later.
//!
//! - An unknown TOML key is refused (serde's `deny_unknown_fields`), with the nearest known key.
//! - An unknown `FRAZIL_*` variable is only warned about: scripts and test harnesses keep their
//!   own `FRAZIL_*` variables (`FRAZIL_BIN`, ...) in the environment the server inherits. One
//!   within two edits of a setting's variable (`FRAZIL_LISEN`) is clearly a typo and refused.

use std::path::Path;

use anyhow::Context;
use figment::error::Kind;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;

use super::Config;

const PREFIX: &str = "FRAZIL_";
/// `FRAZIL_CONFIG` names the file; the command line reads it, not the settings.
const COMMAND_LINE_VARIABLES: &[&str] = &["config"];
/// How many edits away from a setting's name a misspelt name may be.
const TYPO_DISTANCE: usize = 2;

/// The settings, and warnings to log once logging is set up (it depends on them).
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<String>,
}

pub fn load(file: Option<&Path>) -> anyhow::Result<Loaded> {
    let known = setting_names()?;
    let mut figment = Figment::from(Serialized::defaults(Config::default()));
    if let Some(file) = file {
        anyhow::ensure!(
            file.exists(),
            "config file {} does not exist",
            file.display()
        );
        figment = figment.merge(Toml::file_exact(file));
    }
    let warnings = unknown_variables(&known)?;
    let names = known.clone();
    let env =
        Env::prefixed(PREFIX).filter(move |key| names.iter().any(|name| key == name.as_str()));
    let config = figment
        .merge(env)
        .extract()
        .map_err(|e| describe(e, &known))?;
    Ok(Loaded { config, warnings })
}

/// The TOML keys of every setting (`FRAZIL_` + the key upper-cased is its variable).
fn setting_names() -> anyhow::Result<Vec<String>> {
    let value = serde_json::to_value(Config::default()).context("listing the settings")?;
    Ok(value
        .as_object()
        .map(|settings| settings.keys().cloned().collect())
        .unwrap_or_default())
}

/// Warnings for `FRAZIL_*` variables that are no setting; an error for one that is a typo of one.
fn unknown_variables(known: &[String]) -> anyhow::Result<Vec<String>> {
    let mut warnings = Vec::new();
    for (name, _) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        let Some(key) = name.strip_prefix(PREFIX).map(str::to_ascii_lowercase) else {
            continue;
        };
        if known.contains(&key) || COMMAND_LINE_VARIABLES.contains(&key.as_str()) {
            continue;
        }
        if let Some(near) = nearest(&key, known) {
            anyhow::bail!(
                "unknown environment variable {name}: did you mean {PREFIX}{}?",
                near.to_ascii_uppercase()
            );
        }
        warnings.push(format!(
            "ignoring the environment variable {name}: no Frazil setting has that name"
        ));
    }
    Ok(warnings)
}

/// The known name `name` is most likely a misspelling of.
fn nearest<'a>(name: &str, known: &'a [String]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (strsim::damerau_levenshtein(name, k), k))
        .filter(|(distance, _)| *distance <= TYPO_DISTANCE)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, k)| k.as_str())
}

/// figment's errors, one line each, naming the setting as the operator wrote it.
fn describe(error: figment::Error, known: &[String]) -> anyhow::Error {
    let lines: Vec<String> = error.into_iter().map(|e| describe_one(&e, known)).collect();
    anyhow::anyhow!("invalid configuration: {}", lines.join("; "))
}

fn describe_one(error: &figment::Error, known: &[String]) -> String {
    let file = error.metadata.as_ref().and_then(|md| match &md.source {
        Some(figment::Source::File(path)) => Some(path.display().to_string()),
        _ => None,
    });
    let key = error.path.join(".");
    let setting = match &file {
        Some(file) => format!("`{key}` in {file}"),
        None => format!("{PREFIX}{}", key.to_ascii_uppercase()),
    };
    match &error.kind {
        Kind::UnknownField(field, _) => {
            let hint = nearest(field, known)
                .map(|near| format!(" (did you mean `{near}`?)"))
                .unwrap_or_default();
            let place = file.map(|f| format!(" in {f}")).unwrap_or_default();
            format!("unknown setting `{field}`{place}{hint}")
        }
        Kind::UnknownVariant(value, expected) => {
            format!(
                "{setting} = \"{value}\": expected one of {}",
                expected.join(", ")
            )
        }
        Kind::InvalidType(actual, expected) => {
            format!("{setting}: found {actual}, expected {expected}")
        }
        kind => format!("{setting}: {kind}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `check` on the outcome of loading `toml` with `env` set, in a clean environment.
    #[allow(clippy::result_large_err)] // figment::Jail's closures return figment's own Error
    fn with_settings(toml: &str, env: &[(&str, &str)], check: impl FnOnce(anyhow::Result<Loaded>)) {
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            jail.create_file("frazil.toml", toml)?;
            for (name, value) in env {
                jail.set_env(name, value);
            }
            check(load(Some(Path::new("frazil.toml"))));
            Ok(())
        });
    }

    /// Loading `toml` with `env` fails with a message containing each of `expected`.
    fn refused(toml: &str, env: &[(&str, &str)], expected: &[&str]) {
        with_settings(toml, env, |result| {
            let error = match result {
                Ok(_) => panic!("the settings were accepted"),
                Err(e) => format!("{e:#}"),
            };
            for part in expected {
                assert!(error.contains(part), "{error}");
            }
        });
    }

    #[test]
    fn an_unknown_key_is_refused_with_the_nearest_one() {
        let expected = [
            "unknown setting `lisen`",
            "frazil.toml",
            "did you mean `listen`",
        ];
        refused("lisen = \"127.0.0.1:9000\"", &[], &expected);
    }

    #[test]
    fn a_bad_value_names_the_variable_and_the_value() {
        let expected = ["FRAZIL_LISTEN", "\"127.0.0.1\" is not host:port"];
        refused("", &[("FRAZIL_LISTEN", "127.0.0.1")], &expected);
        let expected = ["FRAZIL_LOG_FORMAT = \"jsn\"", "text, json"];
        refused("", &[("FRAZIL_LOG_FORMAT", "jsn")], &expected);
    }

    #[test]
    fn a_bad_value_in_the_file_names_the_key_and_file() {
        let expected = ["`sqlite_synchronous` in", "frazil.toml", "\"sometimes\""];
        refused("sqlite_synchronous = \"sometimes\"", &[], &expected);
    }

    #[test]
    fn unknown_variables_warn_and_typos_are_refused() {
        let env = [("FRAZIL_BIN", "/x/frazil"), ("FRAZIL_CONFIG", "f.toml")];
        with_settings("", &env, |result| {
            let loaded = result.unwrap();
            assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
            assert!(loaded.warnings[0].contains("FRAZIL_BIN"));
        });
        let expected = ["FRAZIL_LISEN: did you mean FRAZIL_LISTEN?"];
        refused("", &[("FRAZIL_LISEN", "127.0.0.1:1")], &expected);
    }

    /// The variables of Frazil's own scripts and tests are never taken for typos of a setting.
    #[test]
    fn tooling_variables_are_no_typos() {
        let known = setting_names().unwrap();
        for tool in [
            "bin",
            "test_postgres_url",
            "bench_postgres_url",
            "test_pg_throwaway",
            "test_pg_dir",
            "schemathesis_seed",
            "schemathesis_seconds",
            "fuzz_warehouse",
            "fuzz_db",
            "bench_out",
            "bench_git_rev",
            "bench_stores",
            "bench_token",
            "bench_client_id",
            "bench_client_secret",
            "pk_query_sqlite",
            "pk_query_pg",
        ] {
            assert_eq!(nearest(tool, &known), None, "{tool}");
        }
    }
}
