//! Persistence of per-player progress (PostgreSQL in production, SQLite embedded) and the
//! group-commit writer. Not built yet: see issue #3. It will persist what
//! `engine::RuleSet::apply` computes and never re-implement progress rules in SQL.
