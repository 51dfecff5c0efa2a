//! The `read` paths of spellings: `.gi_frame.f_lasti`, `inspect.getgeneratorstate()`,
//! `.gi_code.co_flags&0x20`, and the events of a step: `events:settrace`, `events:monitoring`.

use introspec_protocol::{EventSource, Path, Segment};

/// Parse a read path into protocol segments.
pub fn parse_read(text: &str) -> Result<Path, String> {
    let bad = |why: &str| {
        format!("`{text}` is not a read path ({why}); write `.attr`, `module.func()` or `&0x20`, chained, or `events:settrace` / `events:monitoring` alone")
    };
    let mut segs = Vec::new();
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad("it is empty"));
    }
    if let Some(source) = rest.strip_prefix("events:") {
        let source = EventSource::ALL
            .into_iter()
            .find(|s| s.name() == source)
            .ok_or_else(|| bad("the events sources are `settrace` and `monitoring`"))?;
        return Ok(vec![Segment::Events(source)]);
    }
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('&') {
            let end = r.find(['.', '&']).unwrap_or(r.len());
            let num = &r[..end];
            let mask = if let Some(hex) = num.strip_prefix("0x") {
                i64::from_str_radix(hex, 16)
            } else {
                num.parse()
            }
            .map_err(|_| bad("a flag needs an integer mask"))?;
            segs.push(Segment::Flag(mask));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '&']).unwrap_or(r.len());
            let name = &r[..end];
            if !is_ident(name) {
                return Err(bad("an attribute name must be an identifier"));
            }
            segs.push(Segment::Attr(name.to_string()));
            rest = &r[end..];
        } else {
            let end = rest
                .find("()")
                .ok_or_else(|| bad("a call must end with ()"))?;
            let dotted = &rest[..end];
            if !dotted.contains('.') || !dotted.split('.').all(is_ident) {
                return Err(bad("a call is module.function()"));
            }
            segs.push(Segment::Call(dotted.to_string()));
            rest = &rest[end + 2..];
        }
    }
    Ok(segs)
}

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads() {
        assert_eq!(
            parse_read(".gi_code.co_flags&0x20").unwrap(),
            vec![
                Segment::Attr("gi_code".into()),
                Segment::Attr("co_flags".into()),
                Segment::Flag(32)
            ]
        );
        assert_eq!(
            parse_read("inspect.getgeneratorstate()").unwrap(),
            vec![Segment::Call("inspect.getgeneratorstate".into())]
        );
        assert!(parse_read("gi_frame").is_err());
        assert!(parse_read(".gi frame").is_err());
        assert!(parse_read("&x").is_err());
        assert_eq!(
            parse_read("events:monitoring").unwrap(),
            vec![Segment::Events(EventSource::Monitoring)]
        );
        assert!(parse_read("events:profile").is_err());
        assert!(parse_read("events:settrace.x").is_err());
    }
}
