//! Localized text: a name or description written per locale, and which one a player reads
//! (RFC 4647 lookup over their `Accept-Language`, falling back to the file's default locale).

/// A text's translations besides its default: `(language tag, text)`, tags lowercased.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Localized(pub Vec<(String, String)>);

impl Localized {
    /// The text for the first of `preferences` it has, else `default`.
    pub fn pick<'a>(&'a self, preferences: &[String], default: &'a str) -> &'a str {
        (preferences.iter())
            .find_map(|wanted| self.0.iter().find(|(tag, _)| tag == wanted))
            .map_or(default, |(_, text)| text.as_str())
    }

    /// The locales it is written in.
    pub fn locales(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(tag, _)| tag.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A goal's or challenge's name and description in the locales besides their default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Texts {
    pub name: Localized,
    pub description: Localized,
}

/// The locales a player asks for, most wanted first, as RFC 4647 "lookup" tries them: each
/// range of `Accept-Language` by quality (`q=0` and `*` left out), then the range with its
/// last subtag removed, and so on (`de-CH-1996`, `de-CH`, `de`), keeping only those in
/// `available` (lowercase).
pub fn preferences(accept_language: &str, available: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (range, quality) in accept_language::parse_with_quality(accept_language) {
        if quality <= 0.0 || range == "*" {
            continue;
        }
        let mut tag = range.to_ascii_lowercase();
        loop {
            if available.contains(&tag) && !out.contains(&tag) {
                out.push(tag.clone());
            }
            let Some(cut) = tag.rfind('-') else {
                break;
            };
            tag.truncate(cut);
            // A single-letter subtag (an extension's or private use's singleton) goes with
            // the subtag after it.
            if tag.len() >= 2 && tag.as_bytes()[tag.len() - 2] == b'-' {
                tag.truncate(tag.len() - 2);
            }
        }
    }
    out
}

/// Whether `tag` is a well-formed BCP 47 language tag in the shape files use: a 2 or 3 letter
/// language (ISO 639; `english` is not one), then subtags of 1 to 8 letters or digits (`en`,
/// `pt-BR`, `zh-Hant-TW`).
pub fn is_language_tag(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let language = parts.next().unwrap_or_default();
    (2..=3).contains(&language.len())
        && language.bytes().all(|b| b.is_ascii_alphabetic())
        && parts.all(|part| {
            (1..=8).contains(&part.len()) && part.bytes().all(|b| b.is_ascii_alphanumeric())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn available(tags: &[&str]) -> Vec<String> {
        tags.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn lookup_tries_each_range_then_its_shorter_forms() {
        let have = available(&["de", "fr", "pt-br", "en"]);
        assert_eq!(preferences("de-CH-1996, fr;q=0.8", &have), ["de", "fr"]);
        assert_eq!(
            preferences("fr;q=0.5, de;q=0.9", &have),
            ["de", "fr"],
            "by quality"
        );
        assert_eq!(
            preferences("PT-br", &have),
            ["pt-br"],
            "case does not matter"
        );
        assert_eq!(
            preferences("pt", &have),
            Vec::<String>::new(),
            "lookup never widens pt to pt-br"
        );
        assert_eq!(preferences("de;q=0, *", &have), Vec::<String>::new());
        assert_eq!(preferences("", &have), Vec::<String>::new());
        assert_eq!(preferences("en-x-pirate", &have), ["en"]);
    }

    #[test]
    fn a_text_falls_back_to_its_default() {
        let text = Localized(vec![("de".into(), "Gewinne".into())]);
        assert_eq!(text.pick(&["fr".into(), "de".into()], "Win"), "Gewinne");
        assert_eq!(text.pick(&["fr".into()], "Win"), "Win");
    }

    #[test]
    fn language_tags() {
        for good in ["en", "pt-BR", "zh-Hant-TW", "de-CH-1996", "es-419"] {
            assert!(is_language_tag(good), "{good}");
        }
        for bad in [
            "",
            "e",
            "english language",
            "english",
            "en_US",
            "en-",
            "123",
        ] {
            assert!(!is_language_tag(bad), "{bad}");
        }
    }
}
