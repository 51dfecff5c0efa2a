//! Escaping for the three output languages, and the natural order of column names.

/// Escape text for HTML element content and double-quoted attribute values.
pub fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escape text for a Markdown table cell (outside code spans): pipes, angle brackets,
/// emphasis characters and newlines.
pub fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '|' => out.push_str("\\|"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '*' | '_' | '`' | '[' | ']' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A Markdown code span for a table cell (pipes escaped, which GitHub honours in tables).
pub fn md_code(s: &str) -> String {
    let ticks = if s.contains('`') { "``" } else { "`" };
    format!("{ticks}{}{ticks}", s.replace('|', "\\|"))
}

/// An inline literal in reStructuredText.
pub fn rst_code(s: &str) -> String {
    if s.is_empty() {
        return String::new();
    }
    format!("``{}``", s.replace('`', "'"))
}

/// Plain reStructuredText text: backslash the characters that start markup.
pub fn rst(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '*' | '`' | '_' | '|' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A key that sorts names with numbers naturally: `cpython-3.9` before `cpython-3.10`.
pub fn natural_key(s: &str) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    let mut num = String::new();
    let mut txt = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            if !txt.is_empty() {
                out.push((u64::MAX, std::mem::take(&mut txt)));
            }
            num.push(c);
        } else {
            if !num.is_empty() {
                out.push((num.parse().unwrap_or(u64::MAX), String::new()));
                num.clear();
            }
            txt.push(c);
        }
    }
    if !num.is_empty() {
        out.push((num.parse().unwrap_or(u64::MAX), String::new()));
    }
    if !txt.is_empty() {
        out.push((u64::MAX, txt));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order() {
        let mut v = vec![
            "cpython-3.10.13",
            "cpython-3.9.18+ref",
            "cpython-3.9.18",
            "cpython-2.7.18",
        ];
        v.sort_by_key(|s| natural_key(s));
        assert_eq!(
            v,
            [
                "cpython-2.7.18",
                "cpython-3.9.18",
                "cpython-3.9.18+ref",
                "cpython-3.10.13"
            ]
        );
    }

    #[test]
    fn escapes() {
        assert_eq!(
            html("<a href=\"x\">&</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;"
        );
        assert_eq!(md("a|b <c>"), "a\\|b &lt;c&gt;");
        assert_eq!(md_code(".co_flags&0x20"), "`.co_flags&0x20`");
    }
}
