//! Observations are compared across processes, observers and runs: text that names a memory
//! address (`<generator object gen at 0x7f3a…>` in an exception message) differs between
//! them while meaning the same. Every address in a string the worker returns is replaced by
//! `0xADDR`, once, here.

use introspec_protocol::{CaseResult, Exc, Outcome, Value};

/// Replace addresses in every string of a result, and give one text to the two messages
/// CPython has for one fact about a module that failed to load (see [`unreported`]).
pub fn result(r: &mut CaseResult) {
    if let Some(e) = r.error.as_mut() {
        text(&mut e.msg);
        if e.type_name == "SystemError" {
            unreported(&mut e.msg);
        }
    }
    for step in &mut r.steps {
        match &mut step.outcome {
            Outcome::Returned(v) => value(v),
            Outcome::Raised(e) => exc(e),
        }
        for snap in std::iter::once(&mut step.after).chain(step.inside.iter_mut()) {
            for vals in snap.iter_mut() {
                vals.iter_mut().for_each(value);
            }
        }
    }
}

fn exc(e: &mut Exc) {
    text(&mut e.msg);
    if let Some(v) = e.value.as_mut() {
        value(v);
    }
}

fn value(v: &mut Value) {
    match v {
        Value::Str(s) => text(s),
        Value::Seq(items) => items.iter_mut().for_each(value),
        Value::Dict(items) => items.iter_mut().for_each(|(k, x)| {
            value(k);
            value(x);
        }),
        Value::Raised(e) => exc(e),
        _ => {}
    }
}

/// What a C extension's module init that returns a module with an exception set gets: CPython
/// says `initialization of M raised unreported exception` when its import machinery checks
/// right after the init (Python/importdl.c), or `<built-in function __import__> returned a
/// result with an error set` when the check after the `__import__` call is the first to see
/// it (Objects/call.c, `_Py_CheckFunctionResult`); which one a run gets depends on where the
/// exception was set, which for mypyc 1.14-1.19 modules varies from run to run (seen on 3.8,
/// 3.9). Both are recorded as one text, without the module name only one of them has.
const UNREPORTED: &str = "module initialization raised unreported exception";

fn unreported(msg: &mut String) {
    let from_init =
        msg.starts_with("initialization of ") && msg.ends_with(" raised unreported exception");
    let from_call = msg.ends_with("returned a result with an error set")
        || msg.ends_with("returned a result with an exception set");
    if from_init || from_call {
        *msg = UNREPORTED.to_string();
    }
}

/// `0x` followed by 6 or more hex digits → `0xADDR`.
pub fn text(s: &mut String) {
    if !s.contains("0x") {
        return;
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s.as_str();
    while let Some(i) = rest.find("0x") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let n = after.bytes().take_while(u8::is_ascii_hexdigit).count();
        if n >= 6 {
            out.push_str("0xADDR");
            rest = &after[n..];
        } else {
            out.push_str("0x");
            rest = after;
        }
    }
    out.push_str(rest);
    *s = out;
}

#[cfg(test)]
mod tests {
    #[test]
    fn both_of_cpythons_words_for_an_unreported_exception_are_one() {
        for m in [
            "initialization of ic_x raised unreported exception",
            "<built-in function __import__> returned a result with an error set",
            "<built-in function __import__> returned a result with an exception set",
        ] {
            let mut s = m.to_string();
            super::unreported(&mut s);
            assert_eq!(
                s, "module initialization raised unreported exception",
                "{m}"
            );
        }
        let mut other = "something else".to_string();
        super::unreported(&mut other);
        assert_eq!(other, "something else");
    }

    #[test]
    fn addresses_are_replaced_small_hex_is_not() {
        let mut s = "<async_generator_asend object at 0x7f3a2c1b2d40> is not 0x20".to_string();
        super::text(&mut s);
        assert_eq!(s, "<async_generator_asend object at 0xADDR> is not 0x20");
    }
}
