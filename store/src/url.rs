//! Database URLs: the embedded default, and how one is shown in logs. Which URL a process uses
//! is its configuration's decision (`pipeline::database`); the store reads no environment.

/// The embedded default: a SQLite file in the working directory.
pub const DEFAULT_SQLITE_URL: &str = "sqlite://challenge.db";

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

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(
            redacted("postgres://u:secret@h:5432/d"),
            "postgres://u:***@h:5432/d"
        );
        assert_eq!(redacted("sqlite://challenge.db"), "sqlite://challenge.db");
    }
}
