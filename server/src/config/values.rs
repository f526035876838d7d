//! Setting values that are checked as they are read, so that a mistake stops the start-up with
//! the setting's name and value instead of a vague failure later (a `listen` without a port
//! failed at bind with "invalid socket address"; an unknown `log_format` fell back to text).

use std::fmt;

use serde::{Deserialize, Serialize};
use tracing_subscriber::filter::LevelFilter;

/// `listen`: `host:port`, checked when read (the host is resolved only when binding).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ListenAddress(String);

impl TryFrom<String> for ListenAddress {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let port_ok = text
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if port_ok {
            Ok(Self(text))
        } else {
            Err(format!(
                "\"{text}\" is not host:port (for example 127.0.0.1:8181 or 0.0.0.0:8181)"
            ))
        }
    }
}

impl From<ListenAddress> for String {
    fn from(address: ListenAddress) -> Self {
        address.0
    }
}

impl fmt::Display for ListenAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Default for ListenAddress {
    fn default() -> Self {
        Self("127.0.0.1:8181".into())
    }
}

impl ListenAddress {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `log_format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `log_level`: a `tracing` filter such as `info` or `warn,frazil_catalog=debug`, checked when
/// read (a typo would otherwise silently log everything or nothing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LogFilter(String);

impl TryFrom<String> for LogFilter {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let invalid = |why: String| {
            format!("\"{text}\" is not a log filter ({why}); for example info, warn or info,frazil_catalog=debug")
        };
        // A bare word is a level or, to `tracing`, a target to log at every level: `debg` would
        // be read as a target, so bare words must be levels here.
        if let Some(word) = text
            .split(',')
            .map(str::trim)
            .find(|d| !d.is_empty() && !d.contains(['=', '[']) && d.parse::<LevelFilter>().is_err())
        {
            return Err(invalid(format!(
                "`{word}` is not a level: trace, debug, info, warn, error or off"
            )));
        }
        match tracing_subscriber::EnvFilter::builder().parse(&text) {
            Ok(_) => Ok(Self(text)),
            Err(e) => Err(invalid(e.to_string())),
        }
    }
}

impl From<LogFilter> for String {
    fn from(filter: LogFilter) -> Self {
        filter.0
    }
}

impl LogFilter {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `vended_credentials_duration_seconds`: how long assumed-role sessions last, within what STS
/// allows (15 minutes to 12 hours; the role's own maximum may be lower, which STS then says).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u64")]
pub struct SessionSeconds(u64);

impl SessionSeconds {
    const ALLOWED: std::ops::RangeInclusive<u64> = 900..=43_200;

    pub fn duration(self) -> std::time::Duration {
        std::time::Duration::from_secs(self.0)
    }
}

impl TryFrom<u64> for SessionSeconds {
    type Error = String;

    fn try_from(seconds: u64) -> Result<Self, String> {
        if Self::ALLOWED.contains(&seconds) {
            Ok(Self(seconds))
        } else {
            Err(format!(
                "{seconds} is not a session duration STS allows: use 900 (15 minutes) to 43200 \
                 (12 hours) seconds"
            ))
        }
    }
}

impl From<SessionSeconds> for u64 {
    fn from(seconds: SessionSeconds) -> Self {
        seconds.0
    }
}

impl Default for SessionSeconds {
    fn default() -> Self {
        Self(frazil_storage::DEFAULT_SESSION_DURATION.as_secs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_durations_are_what_sts_allows() {
        for good in [900, 3600, 43_200] {
            assert_eq!(
                SessionSeconds::try_from(good).unwrap().duration().as_secs(),
                good
            );
        }
        for bad in [0, 899, 43_201] {
            assert!(
                SessionSeconds::try_from(bad).unwrap_err().contains("900"),
                "{bad}"
            );
        }
        assert_eq!(SessionSeconds::default().duration().as_secs(), 3600);
    }

    #[test]
    fn a_listen_address_needs_a_port() {
        for good in [
            "127.0.0.1:8181",
            "0.0.0.0:80",
            "[::]:8181",
            "localhost:8181",
        ] {
            assert!(ListenAddress::try_from(good.to_string()).is_ok(), "{good}");
        }
        for bad in [
            "127.0.0.1",
            ":8181",
            "127.0.0.1:port",
            "127.0.0.1:70000",
            "",
        ] {
            let error = ListenAddress::try_from(bad.to_string()).unwrap_err();
            assert!(error.contains(&format!("\"{bad}\"")), "{error}");
        }
    }

    #[test]
    fn a_log_filter_is_checked() {
        assert!(LogFilter::try_from("warn,frazil_catalog=debug".to_string()).is_ok());
        assert!(LogFilter::try_from("debg".to_string()).is_err());
        assert!(LogFilter::try_from("frazil=loud".to_string()).is_err());
    }
}
