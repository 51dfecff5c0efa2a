//! The expectation language: what a case (or a state invariant) says an observation must be.
//!
//! TOML booleans, integers, floats, arrays and tables match the Python value of the same
//! shape. A string matches that exact `str`, except in the `state` domain, where it names
//! one of the four states, and except the forms in angle brackets:
//!
//! | pattern | matches |
//! |---|---|
//! | `<none>` | `None` |
//! | `<any>` | any value that was read (not missing, not raised) |
//! | `<not none>` | any value that was read, except `None` |
//! | `<absent>` | the spelling does not exist (the attribute or function is missing) |
//! | `<raises TypeError>` | reading (or the operation) raised that exception type |
//! | `<frame>`, `<code>`, `<int>`… | an object whose `type(x).__name__` is that name |
//! | `<is gen.__code__>` | the very object that the Python expression evaluates to in the case namespace |
//! | `<str …>` | the literal string `…` (to write a string that itself starts with `<`) |

use std::fmt;

/// One parsed expectation.
#[derive(Debug, Clone, PartialEq)]
pub enum Pattern {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// One of the four states, translated per spelling by its `values`.
    State(String),
    Seq(Vec<Pattern>),
    Dict(Vec<(String, Pattern)>),
    None,
    Any,
    NotNone,
    Absent,
    Raises(String),
    Type(String),
    Is(String),
}

/// The value domain of an observable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Domain {
    Bool,
    Int,
    Str,
    State,
    Object,
    Value,
}

impl Domain {
    pub fn parse(s: &str) -> Option<Domain> {
        Some(match s {
            "bool" => Domain::Bool,
            "int" => Domain::Int,
            "str" => Domain::Str,
            "state" => Domain::State,
            "object" => Domain::Object,
            "value" => Domain::Value,
            _ => return None,
        })
    }
}

pub const STATES: [&str; 4] = ["created", "running", "suspended", "closed"];

impl Pattern {
    /// Parse a TOML value as a pattern of `domain`. The error says what was expected.
    pub fn from_toml(value: &toml::Value, domain: Domain) -> Result<Pattern, String> {
        Ok(match value {
            toml::Value::String(s) => {
                if let Some(special) = parse_special(s)? {
                    special
                } else if domain == Domain::State {
                    if !STATES.contains(&s.as_str()) {
                        return Err(format!(
                            "`{s}` is not a state: use one of created, running, suspended, closed (or a <pattern>)"
                        ));
                    }
                    Pattern::State(s.clone())
                } else if matches!(domain, Domain::Bool | Domain::Int | Domain::Object) {
                    return Err(format!(
                        "`{s}` does not fit this observable's domain ({domain:?}); objects are written <none>, <frame>, <is NAME>…"
                    ));
                } else {
                    Pattern::Str(s.clone())
                }
            }
            toml::Value::Boolean(b) => {
                check_domain(domain, &[Domain::Bool, Domain::Value], "a boolean")?;
                Pattern::Bool(*b)
            }
            toml::Value::Integer(i) => {
                check_domain(domain, &[Domain::Int, Domain::Value], "an integer")?;
                Pattern::Int(*i)
            }
            toml::Value::Float(f) => {
                check_domain(domain, &[Domain::Value], "a float")?;
                Pattern::Float(*f)
            }
            toml::Value::Array(items) => {
                check_domain(domain, &[Domain::Value], "a list")?;
                Pattern::Seq(
                    items
                        .iter()
                        .map(|v| Pattern::from_toml(v, Domain::Value))
                        .collect::<Result<_, _>>()?,
                )
            }
            toml::Value::Table(t) => {
                check_domain(domain, &[Domain::Value], "a table")?;
                Pattern::Dict(
                    t.iter()
                        .map(|(k, v)| Ok((k.clone(), Pattern::from_toml(v, Domain::Value)?)))
                        .collect::<Result<_, String>>()?,
                )
            }
            toml::Value::Datetime(_) => return Err("a date is not a pattern".into()),
        })
    }

    /// Every `<is REF>` reference expression in the pattern.
    pub fn refs<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Pattern::Is(r) => out.push(r),
            Pattern::Seq(items) => items.iter().for_each(|p| p.refs(out)),
            Pattern::Dict(items) => items.iter().for_each(|(_, p)| p.refs(out)),
            _ => {}
        }
    }
}

fn check_domain(domain: Domain, allowed: &[Domain], what: &str) -> Result<(), String> {
    if allowed.contains(&domain) {
        Ok(())
    } else {
        Err(format!(
            "{what} does not fit this observable's domain ({domain:?})"
        ))
    }
}

fn parse_special(s: &str) -> Result<Option<Pattern>, String> {
    let Some(inner) = s.strip_prefix('<').and_then(|r| r.strip_suffix('>')) else {
        return Ok(None);
    };
    let inner = inner.trim();
    Ok(Some(match inner {
        "none" => Pattern::None,
        "any" => Pattern::Any,
        "not none" => Pattern::NotNone,
        "absent" => Pattern::Absent,
        _ => {
            if let Some(r) = inner.strip_prefix("is ") {
                Pattern::Is(r.trim().to_string())
            } else if let Some(e) = inner.strip_prefix("raises ") {
                Pattern::Raises(e.trim().to_string())
            } else if let Some(lit) = inner.strip_prefix("str ") {
                Pattern::Str(lit.to_string())
            } else if !inner.is_empty()
                && inner
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '.')
            {
                Pattern::Type(inner.to_string())
            } else {
                return Err(format!(
                    "`{s}` is not a pattern: use <none>, <any>, <not none>, <absent>, <raises EXC>, <TYPE>, <is EXPR> or <str TEXT>"
                ));
            }
        }
    }))
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pattern::Bool(b) => write!(f, "{}", if *b { "True" } else { "False" }),
            Pattern::Int(i) => write!(f, "{i}"),
            Pattern::Float(x) => write!(f, "{x:?}"),
            Pattern::Str(s) => write!(f, "{s:?}"),
            Pattern::State(s) => write!(f, "{s}"),
            Pattern::Seq(items) => {
                write!(f, "[")?;
                for (i, p) in items.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{p}")?;
                }
                write!(f, "]")
            }
            Pattern::Dict(items) => {
                write!(f, "{{")?;
                for (i, (k, p)) in items.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{k:?}: {p}")?;
                }
                write!(f, "}}")
            }
            Pattern::None => write!(f, "None"),
            Pattern::Any => write!(f, "<any>"),
            Pattern::NotNone => write!(f, "<not none>"),
            Pattern::Absent => write!(f, "<absent>"),
            Pattern::Raises(e) => write!(f, "<raises {e}>"),
            Pattern::Type(t) => write!(f, "<{t}>"),
            Pattern::Is(r) => write!(f, "<is {r}>"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(src: &str, d: Domain) -> Result<Pattern, String> {
        let v: toml::Value =
            toml::from_str::<toml::Table>(&format!("x = {src}")).unwrap()["x"].clone();
        Pattern::from_toml(&v, d)
    }

    #[test]
    fn parses_each_form() {
        assert_eq!(p("\"<none>\"", Domain::Object).unwrap(), Pattern::None);
        assert_eq!(
            p("\"<frame>\"", Domain::Object).unwrap(),
            Pattern::Type("frame".into())
        );
        assert_eq!(
            p("\"<is gen.__code__>\"", Domain::Object).unwrap(),
            Pattern::Is("gen.__code__".into())
        );
        assert_eq!(
            p("\"suspended\"", Domain::State).unwrap(),
            Pattern::State("suspended".into())
        );
        assert!(p("\"paused\"", Domain::State).is_err());
        assert!(p("1", Domain::Bool).is_err());
        assert!(p("\"<what ever>\"", Domain::Object).is_err());
        assert_eq!(
            p("{ x = 1 }", Domain::Value).unwrap(),
            Pattern::Dict(vec![("x".into(), Pattern::Int(1))])
        );
    }
}
