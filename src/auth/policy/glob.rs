//! IAM wildcard matching: `*` matches any run of characters (none included, `/` and `:`
//! included), `?` exactly one character, every other character itself. Action names compare
//! ASCII case-insensitively, resources exactly (IAM semantics).
//!
//! The algorithm is the classic two-pointer glob: on a mismatch only the most recent `*` is
//! retried, one character further on (skipping straight to the next occurrence of the literal
//! byte that follows the `*`, when there is one). That is enough for `*`/`?` patterns (an earlier `*` could
//! only absorb what the later one can), so the cost is at most `pattern × text` steps with no
//! recursion and no allocation; `*a*a*a*b` against a long run of `a` stays quadratic-bounded
//! instead of exponential as a backtracking matcher would be.

/// One `Action`/`Resource` entry of a statement, classified once at parse time so the common
/// cases (`*`, a literal name or ARN) skip the glob loop.
#[derive(Debug, Clone)]
pub(super) enum Pattern {
    /// `*`: matches everything.
    Any,
    /// No wildcard: an (in the action case, case-insensitive) string comparison.
    Literal(Box<str>),
    /// Has `*` or `?`; `prefix` and `suffix` are the lengths of its literal ends (before the
    /// first and after the last wildcard), compared as slices before the glob loop runs on the
    /// rest: ARN patterns share long literal heads (`arn:aws:kinesisvideo:`).
    Glob {
        text: Box<str>,
        prefix: usize,
        suffix: usize,
    },
}

impl Pattern {
    pub(super) fn new(text: &str) -> Pattern {
        if text == "*" {
            Pattern::Any
        } else if let Some(first) = text.find(['*', '?']) {
            let last = text.rfind(['*', '?']).unwrap_or(first);
            Pattern::Glob {
                text: text.into(),
                prefix: first,
                suffix: text.len() - last - 1,
            }
        } else {
            Pattern::Literal(text.into())
        }
    }

    /// Whether the pattern matches `text`; `FOLD` compares ASCII letters case-insensitively.
    #[inline]
    pub(super) fn matches<const FOLD: bool>(&self, text: &str) -> bool {
        match self {
            Pattern::Any => true,
            Pattern::Literal(l) if FOLD => l.eq_ignore_ascii_case(text),
            Pattern::Literal(l) => **l == *text,
            Pattern::Glob {
                text: pattern,
                prefix,
                suffix,
            } => {
                let (p, t) = (pattern.as_bytes(), text.as_bytes());
                let (prefix, suffix) = (*prefix, *suffix);
                t.len() >= prefix + suffix
                    && same_bytes::<FOLD>(&p[..prefix], &t[..prefix])
                    && same_bytes::<FOLD>(&p[p.len() - suffix..], &t[t.len() - suffix..])
                    && glob_bytes::<FOLD>(
                        &p[prefix..p.len() - suffix],
                        &t[prefix..t.len() - suffix],
                    )
            }
        }
    }
}

#[inline]
fn same_bytes<const FOLD: bool>(a: &[u8], b: &[u8]) -> bool {
    if FOLD {
        a.eq_ignore_ascii_case(b)
    } else {
        a == b
    }
}

#[inline]
fn same<const FOLD: bool>(a: u8, b: u8) -> bool {
    if FOLD {
        a.eq_ignore_ascii_case(&b)
    } else {
        a == b
    }
}

/// Length of the UTF-8 character starting with `lead`. `?` consumes, and a retried `*` skips,
/// whole characters, so positions handed to them are always character boundaries.
#[inline]
fn char_len(lead: u8) -> usize {
    match lead {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

/// [`glob_bytes`] on strings, for the tests.
#[cfg(test)]
fn glob<const FOLD: bool>(pattern: &str, text: &str) -> bool {
    glob_bytes::<FOLD>(pattern.as_bytes(), text.as_bytes())
}

/// Whether pattern `p` (with `*` and `?`) matches all of text `t`: UTF-8 bytes that start and
/// end on character boundaries (the literal ends a [`Pattern::Glob`] cuts off are whole
/// characters, and the text matched them byte for byte).
fn glob_bytes<const FOLD: bool>(p: &[u8], t: &[u8]) -> bool {
    let (mut pi, mut ti) = (0, 0);
    // The last `*` seen: the pattern position after it and the text position it now starts at
    // (what it absorbs is `t[start_of_star..ti_resume]`).
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if let Some(&c) = p.get(pi) {
            match c {
                b'*' => {
                    pi += 1;
                    if pi == p.len() {
                        return true;
                    }
                    star = Some((pi, ti));
                    continue;
                }
                b'?' => {
                    pi += 1;
                    ti = (ti + char_len(t[ti])).min(t.len());
                    continue;
                }
                c if same::<FOLD>(c, t[ti]) => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                _ => {}
            }
        }
        // Mismatch (or pattern used up with text left): let the last `*` absorb one more char.
        let Some((after_star, resume)) = star else {
            return false;
        };
        let mut next = (resume + char_len(t[resume])).min(t.len());
        // ...or as many as it takes to reach the next place where the byte after the `*` can
        // match, when that byte is a literal; if there is none, nothing can match. (A literal
        // right after `*` starts a character, and so only matches at a character boundary.)
        if let Some(&c) = p.get(after_star).filter(|&&c| c != b'?' && c != b'*') {
            match t[next..].iter().position(|&b| same::<FOLD>(c, b)) {
                Some(skip) => next += skip,
                None => return false,
            }
        }
        star = Some((after_star, next));
        pi = after_star;
        ti = next;
    }
    p[pi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, by recursion over characters: exponential, for small cases only.
    fn reference(p: &[char], t: &[char], fold: bool) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('*', rest)) => (0..=t.len()).any(|i| reference(rest, &t[i..], fold)),
            Some(('?', rest)) => !t.is_empty() && reference(rest, &t[1..], fold),
            Some((c, rest)) => match t.split_first() {
                Some((d, t_rest)) => {
                    let eq = if fold {
                        c.eq_ignore_ascii_case(d)
                    } else {
                        c == d
                    };
                    eq && reference(rest, t_rest, fold)
                }
                None => false,
            },
        }
    }

    fn check(p: &str, t: &str) {
        let pc: Vec<char> = p.chars().collect();
        let tc: Vec<char> = t.chars().collect();
        assert_eq!(
            glob::<false>(p, t),
            reference(&pc, &tc, false),
            "{p:?} vs {t:?}"
        );
        assert_eq!(
            glob::<true>(p, t),
            reference(&pc, &tc, true),
            "{p:?} vs {t:?} folded"
        );
        assert_eq!(Pattern::new(p).matches::<false>(t), glob::<false>(p, t));
        assert_eq!(Pattern::new(p).matches::<true>(t), glob::<true>(p, t));
    }

    #[test]
    fn table() {
        for (p, t, want) in [
            ("*", "", true),
            ("*", "arn:aws:kinesisvideo:x:1:stream/a/1", true),
            ("", "", true),
            ("", "a", false),
            ("?", "", false),
            ("?", "a", true),
            ("?", "é", true),
            ("??", "é", false),
            ("a*", "a", true),
            ("*a", "ba", true),
            ("*a", "ab", false),
            ("a*b*c", "a--b--c", true),
            ("a*b*c", "a--c--b", false),
            ("stream/cam-*/*", "stream/cam-1/17", true),
            ("stream/cam-*/*", "stream/lobby/17", false),
            // `*` crosses `/` and `:` (IAM).
            ("arn:*:1", "arn:a/b:c:1", true),
            ("kinesisvideo:Get*", "kinesisvideo:GetMedia", true),
            ("kinesisvideo:Get?edia", "kinesisvideo:GetMedia", true),
            ("***", "x", true),
            ("*?*", "", false),
        ] {
            assert_eq!(glob::<false>(p, t), want, "{p:?} vs {t:?}");
            check(p, t);
        }
    }

    #[test]
    fn case_rules() {
        assert!(glob::<true>("KINESISVIDEO:get*", "kinesisvideo:GetMedia"));
        assert!(!glob::<false>("stream/CAM-*", "stream/cam-1"));
        assert!(Pattern::new("KinesisVideo:PutMedia").matches::<true>("kinesisvideo:putmedia"));
        assert!(!Pattern::new("stream/Cam").matches::<false>("stream/cam"));
        // Folding is ASCII only: multibyte characters compare exactly.
        assert!(glob::<true>("É?", "Éa"));
        assert!(!glob::<true>("é", "É"));
    }

    #[test]
    fn agrees_with_the_definition() {
        // Exhaustive over short strings of a small alphabet, multibyte characters included.
        let alphabet = ['a', 'B', 'b', '/', 'é', '€', '*', '?'];
        let mut strings = vec![String::new()];
        let mut level = vec![String::new()];
        for _ in 0..4 {
            level = level
                .iter()
                .flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}")))
                .collect();
            strings.extend(level.iter().cloned());
        }
        let texts: Vec<&String> = strings.iter().filter(|s| !s.contains(['*', '?'])).collect();
        for p in strings.iter().filter(|s| s.chars().count() <= 3) {
            for t in &texts {
                check(p, t);
            }
        }
    }

    #[test]
    fn pathological_patterns_stay_polynomial() {
        // A backtracking matcher takes exponential time here; the two-pointer one at most
        // pattern × text steps (here 100 × 6000), well under a millisecond per call.
        let pattern = "*a".repeat(50) + "b";
        let text = "a".repeat(6000);
        for _ in 0..10 {
            assert!(!glob::<false>(&pattern, &text));
            assert!(!glob::<true>(&pattern, &text));
            assert!(!Pattern::new(&pattern).matches::<false>(&text));
        }
        let text = text + "b";
        assert!(glob::<false>(&pattern, &text));
        let pattern = "*?".repeat(100) + "c";
        assert!(!glob::<false>(&pattern, &"ab".repeat(3000)));
    }
}
