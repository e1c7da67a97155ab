//! Lint report formats.

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::PathBuf;

use engine::{Compiled, Diagnostic, Severity};
use serde::Serialize;

/// Counts shown at the end of a report.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub errors: usize,
    pub warnings: usize,
    pub files: usize,
    pub goals: usize,
    pub tests: usize,
}

impl Summary {
    pub fn of(compiled: &Compiled) -> Self {
        let files = compiled
            .diagnostics
            .iter()
            .filter_map(|d| d.file.clone())
            .chain(compiled.rules.iter().flat_map(|r| r.info.files.clone()))
            .collect::<std::collections::HashSet<_>>()
            .len();
        Self {
            errors: compiled.errors(),
            warnings: compiled.warnings(),
            files,
            goals: compiled.rules.as_ref().map_or(0, |r| r.goals().len()),
            tests: compiled.rules.as_ref().map_or(0, |r| r.test_count()),
        }
    }
}

fn plural(count: usize, word: &str) -> String {
    if count == 1 {
        format!("{count} {word}")
    } else {
        format!("{count} {word}s")
    }
}

/// People: each diagnostic with the offending line quoted and a caret under the column.
pub fn human(
    diagnostics: &[Diagnostic],
    summary: &Summary,
    out: &mut impl Write,
) -> io::Result<()> {
    let mut files: HashMap<PathBuf, Option<String>> = HashMap::new();
    for diagnostic in diagnostics {
        let severity = match diagnostic.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        writeln!(
            out,
            "{severity}[{} {}]: {}",
            diagnostic.code.id(),
            diagnostic.code.name(),
            diagnostic.message
        )?;
        // The gutter is as wide as the line number, as rustc prints it.
        let gutter = " ".repeat(diagnostic.pos.map_or(1, |p| p.line.to_string().len()));
        if let Some(file) = &diagnostic.file {
            match diagnostic.pos {
                Some(pos) => {
                    writeln!(
                        out,
                        "{gutter}--> {}:{}:{}",
                        file.display(),
                        pos.line,
                        pos.column
                    )?;
                    let text = files
                        .entry(file.clone())
                        .or_insert_with(|| std::fs::read_to_string(file).ok());
                    if let Some(line) = text.as_deref().and_then(|t| t.lines().nth(pos.line - 1)) {
                        let number = pos.line.to_string();
                        let caret_pad: String = line
                            .chars()
                            .take(pos.column.saturating_sub(1))
                            .map(|c| if c == '\t' { '\t' } else { ' ' })
                            .collect();
                        writeln!(out, "{gutter} |")?;
                        writeln!(out, "{number} | {line}")?;
                        writeln!(out, "{gutter} | {caret_pad}^")?;
                    }
                }
                None => writeln!(out, "{gutter}--> {}", file.display())?,
            }
        }
        if let Some(hint) = &diagnostic.hint {
            writeln!(out, "{gutter} = hint: {hint}")?;
        }
        writeln!(out)?;
    }
    if summary.errors == 0 && summary.warnings == 0 {
        writeln!(
            out,
            "ok: {}, {}, {} passed",
            plural(summary.files, "file"),
            plural(summary.goals, "goal"),
            plural(summary.tests, "rule test")
        )
    } else if summary.errors == 0 {
        writeln!(
            out,
            "{} ({}, {}, {} passed)",
            plural(summary.warnings, "warning"),
            plural(summary.files, "file"),
            plural(summary.goals, "goal"),
            plural(summary.tests, "rule test")
        )
    } else {
        writeln!(
            out,
            "{}, {}",
            plural(summary.errors, "error"),
            plural(summary.warnings, "warning")
        )
    }
}

/// One diagnostic as `--format json` prints it (and the REST lint and simulate answer it).
#[derive(Debug, Serialize)]
pub struct JsonDiagnostic<'a> {
    code: String,
    severity: Severity,
    message: &'a str,
    file: Option<String>,
    line: Option<usize>,
    column: Option<usize>,
    hint: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    diagnostics: Vec<JsonDiagnostic<'a>>,
    errors: usize,
    warnings: usize,
}

impl<'a> JsonDiagnostic<'a> {
    pub fn of(d: &'a Diagnostic) -> Self {
        JsonDiagnostic {
            code: format!("{} {}", d.code.id(), d.code.name()),
            severity: d.severity,
            message: &d.message,
            file: d.file.as_ref().map(|f| f.display().to_string()),
            line: d.pos.map(|p| p.line),
            column: d.pos.map(|p| p.column),
            hint: d.hint.as_deref(),
        }
    }
}

/// Tools: one JSON document, 1-based lines.
pub fn json(diagnostics: &[Diagnostic], summary: &Summary, out: &mut impl Write) -> io::Result<()> {
    let report = JsonReport {
        diagnostics: diagnostics.iter().map(JsonDiagnostic::of).collect(),
        errors: summary.errors,
        warnings: summary.warnings,
    };
    serde_json::to_writer_pretty(&mut *out, &report).map_err(io::Error::other)?;
    writeln!(out)
}

/// GitHub Actions workflow commands: annotations on the pull request's files.
pub fn github(
    diagnostics: &[Diagnostic],
    summary: &Summary,
    out: &mut impl Write,
) -> io::Result<()> {
    for d in diagnostics {
        let level = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut properties = Vec::new();
        if let Some(file) = &d.file {
            properties.push(format!(
                "file={}",
                escape_property(&file.display().to_string())
            ));
        }
        if let Some(pos) = d.pos {
            properties.push(format!("line={}", pos.line));
            properties.push(format!("col={}", pos.column));
        }
        properties.push(format!(
            "title={}",
            escape_property(&format!("{} {}", d.code.id(), d.code.name()))
        ));
        let mut message = d.message.clone();
        if let Some(hint) = &d.hint {
            message.push_str(&format!(" (hint: {hint})"));
        }
        writeln!(
            out,
            "::{level} {}::{}",
            properties.join(","),
            escape_data(&message)
        )?;
    }
    writeln!(
        out,
        "{}, {}",
        plural(summary.errors, "error"),
        plural(summary.warnings, "warning")
    )
}

fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}
