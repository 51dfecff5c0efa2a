//! A stable, compact pretty-printer for JSON reports: objects and arrays that fit in one
//! short line, and arrays of numbers or strings whatever their length, are written on one
//! line; others one member per line. Keys come in serde_json's map
//! order (sorted by name), so the bytes depend only on the value.

use serde_json::Value;

/// The longest object or array (in compact form, indentation aside) kept on one line.
const INLINE: usize = 160;

/// Format a value, ending with a newline.
pub fn pretty(v: &Value) -> String {
    let mut s = String::new();
    write(&mut s, v, 0);
    s.push('\n');
    s
}

fn write(s: &mut String, v: &Value, indent: usize) {
    let compact = serde_json::to_string(v).expect("JSON values serialise");
    let scalars =
        matches!(v, Value::Array(items) if items.iter().all(|x| !x.is_array() && !x.is_object()));
    if compact.len() <= INLINE || scalars || !matches!(v, Value::Array(_) | Value::Object(_)) {
        s.push_str(&compact);
        return;
    }
    let pad = " ".repeat(indent + 2);
    match v {
        Value::Array(items) => {
            s.push_str("[\n");
            for (i, x) in items.iter().enumerate() {
                s.push_str(&pad);
                write(s, x, indent + 2);
                if i + 1 < items.len() {
                    s.push(',');
                }
                s.push('\n');
            }
            s.push_str(&" ".repeat(indent));
            s.push(']');
        }
        Value::Object(map) => {
            s.push_str("{\n");
            for (i, (k, x)) in map.iter().enumerate() {
                s.push_str(&pad);
                s.push_str(&serde_json::to_string(k).expect("keys serialise"));
                s.push_str(": ");
                write(s, x, indent + 2);
                if i + 1 < map.len() {
                    s.push(',');
                }
                s.push('\n');
            }
            s.push_str(&" ".repeat(indent));
            s.push('}');
        }
        _ => unreachable!(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_stay_on_one_line() {
        let v: Value = serde_json::from_str(r#"{"a": [1, 2, 3], "b": {"c": "d"}}"#).unwrap();
        assert_eq!(pretty(&v), "{\"a\":[1,2,3],\"b\":{\"c\":\"d\"}}\n");
        let long: Value = serde_json::json!({"k": "x".repeat(170), "n": [1]});
        assert_eq!(
            pretty(&long),
            format!("{{\n  \"k\": \"{}\",\n  \"n\": [1]\n}}\n", "x".repeat(170))
        );
    }
}
