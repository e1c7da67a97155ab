//! Names and descriptions as players read them: one text, or one per locale. Each locale tag is
//! checked, the file's `default_locale` text is the fallback, and a file whose texts are
//! localized is checked for goals and challenges that lack a locale others in it have.

use std::collections::BTreeSet;

use super::Context;
use crate::diagnostic::{Code, Diagnostic};
use crate::locale::{Localized, is_language_tag};
use crate::model::TextDef;
use crate::source::child;

/// The locale a file's plain texts are in, and the fallback, when it names none.
pub(super) const DEFAULT_LOCALE: &str = "en";

/// A compiled text: the default (what a player matching none of its locales reads) and every
/// locale it is written in.
pub(super) struct Text {
    pub default: String,
    pub localized: Localized,
}

/// Compiles the text at `pointer` (`…/name`, `…/description`), reporting bad locale tags and
/// a missing default.
pub(super) fn text(
    ctx: &mut Context,
    doc: usize,
    pointer: &str,
    def: &TextDef,
    default_locale: &str,
) -> Text {
    let texts = match def {
        TextDef::Plain(text) => {
            return Text {
                default: text.clone(),
                localized: Localized::default(),
            };
        }
        TextDef::Localized(texts) => texts,
    };
    let mut localized: Vec<(String, String)> = Vec::new();
    let mut written: Vec<&str> = Vec::new();
    for (tag, text) in texts {
        let lower = tag.to_ascii_lowercase();
        if !is_language_tag(tag) {
            let d = ctx
                .at_key(
                    doc,
                    &child(pointer, tag),
                    Code::InvalidValue,
                    format!("`{tag}` is not a language tag"),
                )
                .with_hint(tag_hint(tag));
            ctx.report(d);
        } else if let Some(other) = written
            .iter()
            .find(|seen| seen.to_ascii_lowercase() == lower)
        {
            let d = ctx
                .at_key(
                    doc,
                    &child(pointer, tag),
                    Code::InvalidValue,
                    format!(
                        "`{tag}` is written twice (as `{other}` too): tags do not depend on case"
                    ),
                )
                .with_hint("keep one of them");
            ctx.report(d);
        } else {
            if text.trim().is_empty() {
                let d = ctx
                    .at_value(
                        doc,
                        &child(pointer, tag),
                        Code::MissingLocale,
                        format!("the `{tag}` text is empty: players asking for `{tag}` read nothing"),
                    )
                    .with_hint(format!("write the `{tag}` text, or leave `{tag}` out so they read the file's default"));
                ctx.report(d);
            }
            localized.push((lower, text.clone()));
            written.push(tag);
        }
    }
    let default_tag = default_locale.to_ascii_lowercase();
    let default = match localized.iter().find(|(tag, _)| *tag == default_tag) {
        Some((_, text)) => text.clone(),
        None => {
            let first = localized
                .first()
                .map(|(_, text)| text.clone())
                .unwrap_or_default();
            if let Some((tag, _)) = localized.first() {
                let d = ctx
                    .at_value(
                        doc,
                        pointer,
                        Code::MissingLocale,
                        format!("no `{default_locale}` text, the file's default locale: players matching none of its locales read the `{tag}` one"),
                    )
                    .with_hint(format!("add `{default_locale}: …`, or set `default_locale:` at the top of the file"));
                ctx.report(d);
            }
            first
        }
    };
    Text {
        default,
        localized: Localized(localized),
    }
}

/// A name and a description, compiled.
pub(super) struct Shown {
    pub name: Text,
    pub description: Text,
}

impl Shown {
    /// The name and description of the goal or challenge at `pointer`, with its file's texts
    /// recorded in `written` for [`missing_locales`].
    #[allow(clippy::too_many_arguments)]
    pub fn of(
        ctx: &mut Context,
        doc: usize,
        pointer: &str,
        owner: String,
        name: &TextDef,
        description: &TextDef,
        default_locale: &str,
        written: &mut Vec<Written>,
    ) -> Self {
        let name_pointer = child(pointer, "name");
        let description_pointer = child(pointer, "description");
        let shown = Shown {
            name: text(ctx, doc, &name_pointer, name, default_locale),
            description: text(ctx, doc, &description_pointer, description, default_locale),
        };
        written.push(Written::of(
            doc,
            name_pointer,
            owner.clone(),
            "name",
            &shown.name,
            default_locale,
        ));
        if !description.is_empty() {
            written.push(Written::of(
                doc,
                description_pointer,
                owner,
                "description",
                &shown.description,
                default_locale,
            ));
        }
        shown
    }

    /// The defaults, and the locales besides.
    pub fn split(self) -> (String, String, crate::locale::Texts) {
        (
            self.name.default,
            self.description.default,
            crate::locale::Texts {
                name: self.name.localized,
                description: self.description.localized,
            },
        )
    }
}

/// How to write `tag` as a language tag.
pub(super) fn tag_hint(tag: &str) -> String {
    let dashed = tag.replace('_', "-");
    if dashed != tag && is_language_tag(&dashed) {
        return format!("did you mean `{dashed}`? (subtags are joined with `-`)");
    }
    "write a BCP 47 tag: a 2 or 3 letter language, then an optional region or script (`en`, `de`, `pt-BR`, `zh-Hant`)".to_string()
}

/// One text of a file, for [`missing_locales`]: where, whose, and its locales.
pub(super) struct Written {
    pub doc: usize,
    pub pointer: String,
    /// "goal `daily-win`", "challenge `daily`".
    pub owner: String,
    pub field: &'static str,
    pub locales: BTreeSet<String>,
    /// The locale of the text read when none of the player's match.
    pub fallback: String,
    /// The file's default locale, lowercase.
    pub default_locale: String,
}

impl Written {
    pub fn of(
        doc: usize,
        pointer: String,
        owner: String,
        field: &'static str,
        text: &Text,
        default_locale: &str,
    ) -> Self {
        let default_tag = default_locale.to_ascii_lowercase();
        let mut locales: BTreeSet<String> = text.localized.locales().map(str::to_string).collect();
        let fallback = if text.localized.is_empty() || locales.contains(&default_tag) {
            default_tag.clone()
        } else {
            text.localized
                .locales()
                .next()
                .unwrap_or(default_locale)
                .to_string()
        };
        if text.localized.is_empty() {
            locales.insert(default_tag.clone());
        }
        Self {
            default_locale: default_tag.clone(),
            fallback,
            doc,
            pointer,
            owner,
            field,
            locales,
        }
    }
}

/// Warns (W106) for each text of a file that lacks a locale other texts of the file have.
pub(super) fn missing_locales(ctx: &mut Context, texts: &[Written]) {
    let all: BTreeSet<&String> = texts.iter().flat_map(|t| &t.locales).collect();
    if all.len() < 2 {
        return;
    }
    for text in texts {
        // A text without the default locale is warned about that already.
        let missing: Vec<&str> = (all.iter())
            .filter(|tag| !text.locales.contains(**tag))
            .filter(|tag| text.fallback == text.default_locale || **tag != &text.default_locale)
            .map(|tag| tag.as_str())
            .collect();
        if missing.is_empty() {
            continue;
        }
        let list = missing
            .iter()
            .map(|tag| format!("`{tag}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let d: Diagnostic = ctx
            .at_value(
                text.doc,
                &text.pointer,
                Code::MissingLocale,
                format!(
                    "{} has no {list} {}, which other texts of this file have: players asking for it read the `{}` one",
                    text.owner, text.field, text.fallback
                ),
            )
            .with_hint(format!("write `{}` as a map of locales with {list}", text.field));
        ctx.report(d);
    }
}
