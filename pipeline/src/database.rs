//! Which database the binaries use, from their settings: `DATABASE_URL`, else the `DB_*`
//! variables of the reference deployment, else the embedded SQLite file (so a first run needs
//! nothing installed). The store only opens the URL it is given.

use clap::Args;

use crate::config::ConfigError;

/// The database settings every command shares (`--database-url` or the environment). Global:
/// a subcommand takes them too (`service claims list --database-url …`).
#[derive(Debug, Clone, Default, Args)]
pub struct DatabaseArgs {
    /// Database URL (default: the DB_* variables, else the embedded SQLite file).
    #[arg(long, global = true, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// PostgreSQL host, when DATABASE_URL is unset (the reference deployment's variables).
    #[arg(long, global = true, env = "DB_HOST", hide = true)]
    pub db_host: Option<String>,
    /// PostgreSQL port.
    #[arg(long, global = true, env = "DB_PORT", hide = true)]
    pub db_port: Option<String>,
    /// PostgreSQL database name.
    #[arg(long, global = true, env = "DB_NAME", hide = true)]
    pub db_name: Option<String>,
    /// PostgreSQL user.
    #[arg(long, global = true, env = "DB_USER", hide = true)]
    pub db_user: Option<String>,
    /// PostgreSQL password.
    #[arg(
        long,
        global = true,
        env = "DB_PASSWORD",
        hide = true,
        hide_env_values = true
    )]
    pub db_password: Option<String>,
}

fn set(value: Option<&String>) -> Option<&str> {
    value.map(String::as_str).filter(|v| !v.trim().is_empty())
}

impl DatabaseArgs {
    /// Whether the database is the embedded SQLite file: neither DATABASE_URL nor DB_HOST is
    /// set, or DATABASE_URL names a `sqlite:` file.
    pub fn is_embedded(&self) -> bool {
        match set(self.database_url.as_ref()) {
            Some(url) => url.starts_with("sqlite:"),
            None => set(self.db_host.as_ref()).is_none(),
        }
    }

    /// The URL to open.
    pub fn url(&self) -> Result<String, ConfigError> {
        if let Some(url) = set(self.database_url.as_ref()) {
            return Ok(url.to_string());
        }
        let Some(host) = set(self.db_host.as_ref()) else {
            return Ok(store::DEFAULT_SQLITE_URL.to_string());
        };
        let port = match set(self.db_port.as_ref()) {
            Some(port) => port.parse::<u16>().map_err(|_| ConfigError::Invalid {
                setting: "DB_PORT",
                reason: format!("`{port}` is not a port number"),
            })?,
            None => 5432,
        };
        let name = set(self.db_name.as_ref()).unwrap_or("challenge_db");
        let user = set(self.db_user.as_ref()).unwrap_or("postgres");
        for (setting, value, bad) in [("DB_NAME", name, '/'), ("DB_USER", user, '@')] {
            if value.contains(bad) {
                return Err(ConfigError::Invalid {
                    setting,
                    reason: format!("`{value}` must be a plain name"),
                });
            }
        }
        let auth = match set(self.db_password.as_ref()) {
            Some(password) => format!("{user}:{}", encode(password)),
            None => user.to_string(),
        };
        Ok(format!("postgres://{auth}@{host}:{port}/{name}"))
    }
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

#[cfg(test)]
mod tests {
    use super::DatabaseArgs;

    fn args(pairs: &[(&str, &str)]) -> DatabaseArgs {
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        DatabaseArgs {
            database_url: get("DATABASE_URL"),
            db_host: get("DB_HOST"),
            db_port: get("DB_PORT"),
            db_name: get("DB_NAME"),
            db_user: get("DB_USER"),
            db_password: get("DB_PASSWORD"),
        }
    }

    #[test]
    fn resolution_order() {
        assert_eq!(args(&[]).url().unwrap(), store::DEFAULT_SQLITE_URL);
        assert!(args(&[]).is_embedded());
        assert_eq!(
            args(&[("DATABASE_URL", "postgres://a/b"), ("DB_HOST", "db")])
                .url()
                .unwrap(),
            "postgres://a/b"
        );
        let parts = args(&[
            ("DB_HOST", "db"),
            ("DB_PASSWORD", "p@ss/word"),
            ("DB_NAME", "challenges"),
        ]);
        assert!(!parts.is_embedded());
        // A SQLite file named by URL is the embedded database too (its defaults follow).
        assert!(args(&[("DATABASE_URL", "sqlite:///tmp/x.db")]).is_embedded());
        assert!(!args(&[("DATABASE_URL", "postgres://a/b")]).is_embedded());
        assert_eq!(
            parts.url().unwrap(),
            "postgres://postgres:p%40ss%2Fword@db:5432/challenges"
        );
        let err = args(&[("DB_HOST", "db"), ("DB_PORT", "x")])
            .url()
            .unwrap_err();
        assert_eq!(err.setting(), "DB_PORT");
    }
}
