//! Diagnostics: every problem the loader, compiler, lint rules and rule tests find, each with a
//! stable code, a severity and a position in the designer's file.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

/// How bad a problem is. Errors keep a rule set from loading; warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// A 1-based position in a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    pub fn new(line: usize, column: usize) -> Self {
        Self { line, column }
    }
}

/// The stable diagnostic codes. The number and the kebab-case name never change meaning once
/// released: CI scripts and editors match on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Code {
    YamlSyntax,
    UnknownKey,
    InvalidValue,
    MissingField,
    NoChallengeFiles,
    UnsupportedVersion,
    UnreadableFile,
    InvalidId,
    DuplicateChallengeId,
    DuplicateGoalId,
    UnknownPrerequisite,
    PrerequisiteCycle,
    InvalidTarget,
    InvalidReward,
    MissingStat,
    CountModeMismatch,
    ExpressionNotAllowed,
    RhaiCompile,
    UnknownEventProperty,
    RhaiEvaluation,
    RhaiResultType,
    UndeclaredField,
    BundleNotOneFulfillment,
    ScheduleOrder,
    TestFailed,
    TestUnknownGoal,
    TestInvalidStep,
    NeverCompletes,
    RotationInconsistent,
    EmptyChallenge,
    PrerequisiteNeverCompletes,
    TypeMismatch,
    MissingLocale,
    TestPayloadMismatch,
    RemovedGoalInUse,
}

impl Code {
    /// The short code, e.g. `E012`. `E` codes are errors, `W` codes warnings.
    pub fn id(self) -> &'static str {
        self.parts().0
    }

    /// The kebab-case name, e.g. `duplicate-goal-id`.
    pub fn name(self) -> &'static str {
        self.parts().1
    }

    /// The severity every diagnostic with this code has.
    pub fn severity(self) -> Severity {
        if self.id().starts_with('W') {
            Severity::Warning
        } else {
            Severity::Error
        }
    }

    fn parts(self) -> (&'static str, &'static str) {
        match self {
            Code::YamlSyntax => ("E001", "yaml-syntax"),
            Code::UnknownKey => ("E002", "unknown-key"),
            Code::InvalidValue => ("E003", "invalid-value"),
            Code::MissingField => ("E004", "missing-field"),
            Code::NoChallengeFiles => ("E005", "no-challenge-files"),
            Code::UnsupportedVersion => ("E006", "unsupported-version"),
            Code::UnreadableFile => ("E007", "unreadable-file"),
            Code::InvalidId => ("E010", "invalid-id"),
            Code::DuplicateChallengeId => ("E011", "duplicate-challenge-id"),
            Code::DuplicateGoalId => ("E012", "duplicate-goal-id"),
            Code::UnknownPrerequisite => ("E013", "unknown-prerequisite"),
            Code::PrerequisiteCycle => ("E014", "prerequisite-cycle"),
            Code::InvalidTarget => ("E015", "invalid-target"),
            Code::InvalidReward => ("E016", "invalid-reward"),
            Code::MissingStat => ("E017", "missing-stat"),
            Code::CountModeMismatch => ("E018", "count-mode-mismatch"),
            Code::ExpressionNotAllowed => ("E019", "expression-not-allowed"),
            Code::RhaiCompile => ("E020", "rhai-compile"),
            Code::UnknownEventProperty => ("E021", "unknown-event-property"),
            Code::RhaiEvaluation => ("E022", "rhai-evaluation"),
            Code::RhaiResultType => ("E023", "rhai-result-type"),
            Code::UndeclaredField => ("E024", "undeclared-field"),
            Code::BundleNotOneFulfillment => ("E025", "bundle-not-one-fulfillment"),
            Code::ScheduleOrder => ("E030", "schedule-order"),
            Code::TestFailed => ("E040", "test-failed"),
            Code::TestUnknownGoal => ("E041", "test-unknown-goal"),
            Code::TestInvalidStep => ("E042", "test-invalid-step"),
            Code::RemovedGoalInUse => ("E050", "removed-goal-in-use"),
            Code::NeverCompletes => ("W101", "never-completes"),
            Code::RotationInconsistent => ("W102", "rotation-inconsistent"),
            Code::EmptyChallenge => ("W103", "empty-challenge"),
            Code::PrerequisiteNeverCompletes => ("W104", "prerequisite-never-completes"),
            Code::TypeMismatch => ("W105", "type-mismatch"),
            Code::MissingLocale => ("W106", "missing-locale"),
            Code::TestPayloadMismatch => ("W107", "test-payload-mismatch"),
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.id(), self.name())
    }
}

/// One problem found in the challenge files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    /// The file the problem is in; `None` for problems of the whole folder.
    pub file: Option<PathBuf>,
    /// Where in the file; `None` when the problem has no better place than the file itself.
    pub pos: Option<Pos>,
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            severity: code.severity(),
            message: message.into(),
            file: None,
            pos: None,
            hint: None,
        }
    }

    pub fn at(mut self, file: impl Into<PathBuf>, pos: Option<Pos>) -> Self {
        self.file = Some(file.into());
        self.pos = pos;
        self
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Sort key: file, position, code — the order lint prints in.
    pub fn sort_key(&self) -> (Option<&PathBuf>, Option<Pos>, Code) {
        (self.file.as_ref(), self.pos, self.code)
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        if let Some(file) = &self.file {
            write!(f, "{}", file.display())?;
            if let Some(pos) = self.pos {
                write!(f, ":{}:{}", pos.line, pos.column)?;
            }
            write!(f, ": ")?;
        }
        write!(f, "{severity}[{}]: {}", self.code, self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

/// Suggests the closest known name for a misspelt one, if any is close enough.
pub fn did_you_mean<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    known
        .into_iter()
        .map(|candidate| (strsim::jaro_winkler(name, candidate), candidate))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique() {
        let all = [
            Code::YamlSyntax,
            Code::UnknownKey,
            Code::InvalidValue,
            Code::MissingField,
            Code::NoChallengeFiles,
            Code::UnsupportedVersion,
            Code::UnreadableFile,
            Code::InvalidId,
            Code::DuplicateChallengeId,
            Code::DuplicateGoalId,
            Code::UnknownPrerequisite,
            Code::PrerequisiteCycle,
            Code::InvalidTarget,
            Code::InvalidReward,
            Code::MissingStat,
            Code::CountModeMismatch,
            Code::ExpressionNotAllowed,
            Code::RhaiCompile,
            Code::UnknownEventProperty,
            Code::RhaiEvaluation,
            Code::RhaiResultType,
            Code::UndeclaredField,
            Code::BundleNotOneFulfillment,
            Code::ScheduleOrder,
            Code::TestFailed,
            Code::TestUnknownGoal,
            Code::TestInvalidStep,
            Code::NeverCompletes,
            Code::RotationInconsistent,
            Code::EmptyChallenge,
            Code::PrerequisiteNeverCompletes,
            Code::TypeMismatch,
            Code::MissingLocale,
            Code::TestPayloadMismatch,
        ];
        let ids: std::collections::HashSet<_> = all.iter().map(|c| c.id()).collect();
        let names: std::collections::HashSet<_> = all.iter().map(|c| c.name()).collect();
        assert_eq!(ids.len(), all.len());
        assert_eq!(names.len(), all.len());
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            did_you_mean("valeu", ["value", "inc", "kind"]),
            Some("value")
        );
        assert_eq!(did_you_mean("zzz", ["value", "inc"]), None);
    }
}
