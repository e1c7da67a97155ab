//! What Rhai does with a payload key the event does not carry (`()`): comparisons and text
//! functions answer as a designer expects instead of failing the evaluation.

use rhai::Engine;

/// A payload key an event does not carry reads as `()`. `()` equals nothing (`==` is false,
/// `!=` true, where Rhai would otherwise fail on the mixed types), and it is not
/// greater or smaller than anything either: `event.additional.level > 5` is simply false for
/// an event without `level`, instead of an evaluation error.
pub(crate) fn register_unit_comparisons(engine: &mut Engine) {
    macro_rules! unit_cmp {
        ($($op:literal),*) => {$(
            engine.register_fn($op, |_: (), _: rhai::INT| false);
            engine.register_fn($op, |_: rhai::INT, _: ()| false);
            engine.register_fn($op, |_: (), _: rhai::FLOAT| false);
            engine.register_fn($op, |_: rhai::FLOAT, _: ()| false);
            engine.register_fn($op, |_: (), _: rhai::ImmutableString| false);
            engine.register_fn($op, |_: rhai::ImmutableString, _: ()| false);
            engine.register_fn($op, |_: (), _: ()| false);
        )*};
    }
    unit_cmp!(">", ">=", "<", "<=");
    macro_rules! unit_eq {
        ($($ty:ty),*) => {$(
            engine.register_fn("==", |_: (), _: $ty| false);
            engine.register_fn("==", |_: $ty, _: ()| false);
            engine.register_fn("!=", |_: (), _: $ty| true);
            engine.register_fn("!=", |_: $ty, _: ()| true);
        )*};
    }
    unit_eq!(rhai::INT, rhai::FLOAT, rhai::ImmutableString, bool);
}

/// String functions on a payload key the event does not carry read it as empty text:
/// `event.additional.mode.to_lower() == "ranked"` is false for an event without `mode`, not an
/// evaluation error (`?? "casual"` gives another default).
pub(crate) fn register_unit_strings(engine: &mut Engine) {
    use rhai::ImmutableString;
    engine
        .register_fn("to_lower", |_: ()| ImmutableString::new())
        .register_fn("to_upper", |_: ()| ImmutableString::new())
        .register_fn("trim", |_: ()| ImmutableString::new())
        .register_fn("len", |_: ()| 0 as rhai::INT)
        .register_fn("is_empty", |_: ()| true)
        .register_fn("contains", |_: (), _: ImmutableString| false)
        .register_fn("starts_with", |_: (), _: ImmutableString| false)
        .register_fn("ends_with", |_: (), _: ImmutableString| false);
}
