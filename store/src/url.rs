//! Which database the binaries use: `DATABASE_URL`, else the `DB_*` variables of the reference
//! deployment, else the embedded SQLite file (so a first run needs nothing installed).

use crate::StoreError;

/// The embedded default: a SQLite file in the working directory.
pub const DEFAULT_SQLITE_URL: &str = "sqlite://challenge.db";

/// Resolves the database URL from an explicit value or the environment.
pub fn database_url(explicit: Option<&str>) -> Result<String, StoreError> {
    database_url_from(explicit, |name| std::env::var(name).ok())
}

fn database_url_from(
    explicit: Option<&str>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<String, StoreError> {
    if let Some(url) = explicit.filter(|u| !u.is_empty()) {
        return Ok(url.to_string());
    }
    if let Some(url) = env("DATABASE_URL").filter(|u| !u.is_empty()) {
        return Ok(url);
    }
    let Some(host) = env("DB_HOST").filter(|h| !h.is_empty()) else {
        return Ok(DEFAULT_SQLITE_URL.to_string());
    };
    let port = match env("DB_PORT") {
        Some(port) => port.parse::<u16>().map_err(|_| {
            StoreError::Config(format!("DB_PORT must be a port number, not `{port}`"))
        })?,
        None => 5432,
    };
    let name = env("DB_NAME").unwrap_or_else(|| "challenge_db".into());
    let user = env("DB_USER").unwrap_or_else(|| "postgres".into());
    if name.contains('/') || user.contains('@') {
        return Err(StoreError::Config(
            "DB_NAME and DB_USER must be plain names".into(),
        ));
    }
    let password = env("DB_PASSWORD").filter(|p| !p.is_empty());
    let auth = match password {
        Some(password) => format!("{user}:{}", encode(&password)),
        None => user,
    };
    Ok(format!("postgres://{auth}@{host}:{port}/{name}"))
}

/// Percent-encodes a password for a URL.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The URL with any password hidden, for logs and messages.
pub fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn resolution_order() {
        assert_eq!(
            database_url_from(None, env(&[])).unwrap(),
            DEFAULT_SQLITE_URL
        );
        assert_eq!(
            database_url_from(
                Some("sqlite://x.db"),
                env(&[("DATABASE_URL", "postgres://a")])
            )
            .unwrap(),
            "sqlite://x.db"
        );
        assert_eq!(
            database_url_from(None, env(&[("DATABASE_URL", "postgres://a/b")])).unwrap(),
            "postgres://a/b"
        );
        assert_eq!(
            database_url_from(
                None,
                env(&[
                    ("DB_HOST", "db"),
                    ("DB_PASSWORD", "p@ss/word"),
                    ("DB_NAME", "challenges")
                ])
            )
            .unwrap(),
            "postgres://postgres:p%40ss%2Fword@db:5432/challenges"
        );
        assert!(database_url_from(None, env(&[("DB_HOST", "db"), ("DB_PORT", "x")])).is_err());
    }

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(
            redacted("postgres://u:secret@h:5432/d"),
            "postgres://u:***@h:5432/d"
        );
        assert_eq!(redacted("sqlite://challenge.db"), "sqlite://challenge.db");
    }
}
