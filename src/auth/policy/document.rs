//! Policy document text → statements: the grammar of the module doc, checked element by element
//! so every error names its place (`Statement[2].Action[0]`).
//!
//! The JSON is first read into [`Node`], a value tree that keeps an object's members in order
//! with duplicates (serde_json's `Value` keeps the last of a repeated key, so
//! `{"Effect": "Deny", "Effect": "Allow"}` would silently read as Allow). The size limit is
//! checked before parsing, and serde_json's recursion limit bounds the nesting, so parsing is
//! bounded in time, memory and stack whatever the input.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use super::actions::Action;
use super::glob::Pattern;
use super::{Effect, MAX_PATTERNS, MAX_POLICY_BYTES, MAX_STATEMENTS, PolicyError, Statement};

/// A JSON value, objects as ordered member lists.
enum Node {
    Str(String),
    Arr(Vec<Node>),
    Obj(Vec<(String, Node)>),
    Num,
    Bool,
    Null,
}

impl Node {
    /// What the value is, for messages: "is a number".
    fn describe(&self) -> &'static str {
        match self {
            Node::Str(_) => "a string",
            Node::Arr(_) => "a list",
            Node::Obj(_) => "an object",
            Node::Num => "a number",
            Node::Bool => "a boolean",
            Node::Null => "null",
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Node, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Node, E> {
        Ok(Node::Bool)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Node, E> {
        Ok(Node::Num)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Node, E> {
        Ok(Node::Num)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Node, E> {
        Ok(Node::Num)
    }

    fn visit_str<E>(self, s: &str) -> Result<Node, E> {
        Ok(Node::Str(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Node, E> {
        Ok(Node::Str(s))
    }

    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Arr(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut members = Vec::new();
        while let Some(member) = map.next_entry::<String, Node>()? {
            members.push(member);
        }
        Ok(Node::Obj(members))
    }
}

/// Which grammar version the document declares: under `2012-10-17`, IAM substitutes `${...}`
/// policy variables, which vidstream does not, so they are refused there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V2008,
    V2012,
}

const TOP_ELEMENTS: &[&str] = &["Version", "Id", "Statement"];
const STATEMENT_ELEMENTS: &[&str] = &[
    "Sid",
    "Effect",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
];

fn invalid(at: &str, problem: impl Into<String>) -> PolicyError {
    PolicyError::Invalid {
        at: at.to_owned(),
        problem: problem.into(),
    }
}

/// A string from the document, fit for a message: control characters escaped, long ones cut.
pub(super) fn shown(s: &str) -> String {
    const MAX_CHARS: usize = 80;
    let mut out: String = s
        .chars()
        .take(MAX_CHARS)
        .flat_map(char::escape_debug)
        .collect();
    if s.chars().nth(MAX_CHARS).is_some() {
        out.push('…');
    }
    out
}

/// Parses a document into its statements, in document order.
pub(super) fn parse(json: &str) -> Result<Vec<Statement>, PolicyError> {
    if json.len() > MAX_POLICY_BYTES {
        return Err(PolicyError::TooLarge { len: json.len() });
    }
    let root: Node = serde_json::from_str(json).map_err(|e| PolicyError::Json(e.to_string()))?;
    let Node::Obj(members) = root else {
        return Err(invalid(
            "policy document",
            format!(
                "is {}; write an object: {{\"Version\": \"2012-10-17\", \"Statement\": [...]}}",
                root.describe()
            ),
        ));
    };
    let mut version = None;
    let mut id = false;
    let mut statement = None;
    for (name, value) in members {
        let at = "policy document";
        match name.as_str() {
            "Version" => {
                once(at, &name, version.is_some())?;
                version = Some(parse_version(value)?);
            }
            "Id" => {
                once(at, &name, id)?;
                id = true;
                string("Id", value)?;
            }
            "Statement" => {
                once(at, &name, statement.is_some())?;
                statement = Some(value);
            }
            _ => return Err(unknown_element(at, &name, TOP_ELEMENTS)),
        }
    }
    // IAM reads a document without Version as 2008-10-17.
    let version = version.unwrap_or(Version::V2008);
    let statements: Vec<(String, Node)> = match statement {
        None => {
            return Err(invalid(
                "policy document",
                "has no Statement; add \"Statement\": [{\"Effect\": ..., \"Action\": ..., \"Resource\": ...}]",
            ));
        }
        Some(node @ Node::Obj(_)) => vec![("Statement".to_owned(), node)],
        Some(Node::Arr(items)) => {
            if items.is_empty() {
                return Err(invalid(
                    "Statement",
                    "is an empty list; add at least one statement",
                ));
            }
            if items.len() > MAX_STATEMENTS {
                return Err(invalid(
                    "Statement",
                    format!(
                        "has {} statements; the limit is {MAX_STATEMENTS}: split the document into several policies",
                        items.len()
                    ),
                ));
            }
            items
                .into_iter()
                .enumerate()
                .map(|(i, node)| (format!("Statement[{i}]"), node))
                .collect()
        }
        Some(other) => {
            return Err(invalid(
                "Statement",
                format!(
                    "is {}; write a statement object or a list of them",
                    other.describe()
                ),
            ));
        }
    };
    let mut sids: Vec<(String, String)> = Vec::new();
    statements
        .into_iter()
        .map(|(at, node)| parse_statement(&at, node, version, &mut sids))
        .collect()
}

/// Refuses a second occurrence of an element.
fn once(at: &str, name: &str, seen: bool) -> Result<(), PolicyError> {
    if seen {
        Err(invalid(at, format!("has {name} twice; keep one")))
    } else {
        Ok(())
    }
}

fn string(at: &str, node: Node) -> Result<String, PolicyError> {
    match node {
        Node::Str(s) => Ok(s),
        other => Err(invalid(
            at,
            format!("is {}; write a string", other.describe()),
        )),
    }
}

fn parse_version(node: Node) -> Result<Version, PolicyError> {
    let v = string("Version", node)?;
    match v.as_str() {
        "2012-10-17" => Ok(Version::V2012),
        "2008-10-17" => Ok(Version::V2008),
        _ => Err(invalid(
            "Version",
            format!(
                "`{}` is not a policy language version; write \"2012-10-17\"",
                shown(&v)
            ),
        )),
    }
}

fn unknown_element(at: &str, name: &str, known: &[&str]) -> PolicyError {
    let refused = match name {
        "Condition" => Some(
            "a condition it ignored would grant more than its author meant: remove it and narrow Action or Resource instead",
        ),
        "Principal" | "NotPrincipal" => {
            Some("policies attach to users and access keys, which are the principal: remove it")
        }
        _ => None,
    };
    if let Some(hint) = refused {
        // Reads "Statement[0].Condition is not supported by vidstream; ...".
        return invalid(
            &format!("{at}.{name}"),
            format!("is not supported by vidstream; {hint}"),
        );
    }
    let close = known
        .iter()
        .find(|k| k.eq_ignore_ascii_case(name))
        .or_else(|| known.iter().find(|k| distance(k, name, 2).is_some()));
    let hint = match close {
        Some(k) => format!("did you mean `{k}`? (element names are case-sensitive)"),
        None => format!("the elements here are {}", known.join(", ")),
    };
    invalid(
        at,
        format!("has an unknown element `{}`; {hint}", shown(name)),
    )
}

fn parse_statement(
    at: &str,
    node: Node,
    version: Version,
    sids: &mut Vec<(String, String)>,
) -> Result<Statement, PolicyError> {
    let Node::Obj(members) = node else {
        return Err(invalid(
            at,
            format!(
                "is {}; a statement is an object with Effect, Action and Resource",
                node.describe()
            ),
        ));
    };
    let mut sid = false;
    let mut effect = None;
    let mut action: Option<(String, Node)> = None;
    let mut resource: Option<(String, Node)> = None;
    for (name, value) in members {
        match name.as_str() {
            "Sid" => {
                once(at, &name, sid)?;
                sid = true;
                let s = string(&format!("{at}.Sid"), value)?;
                if let Some((_, other)) = sids.iter().find(|(seen, _)| *seen == s) {
                    return Err(invalid(
                        &format!("{at}.Sid"),
                        format!(
                            "`{}` is also the Sid of {other}; Sids must be unique",
                            shown(&s)
                        ),
                    ));
                }
                sids.push((s, at.to_owned()));
            }
            "Effect" => {
                once(at, &name, effect.is_some())?;
                effect = Some(parse_effect(&format!("{at}.Effect"), value)?);
            }
            "Action" | "NotAction" => set_either(at, &mut action, name, value)?,
            "Resource" | "NotResource" => set_either(at, &mut resource, name, value)?,
            _ => return Err(unknown_element(at, &name, STATEMENT_ELEMENTS)),
        }
    }
    let effect = effect.ok_or_else(|| {
        invalid(
            at,
            "has no Effect; add \"Effect\": \"Allow\" or \"Effect\": \"Deny\"",
        )
    })?;
    let (action_name, action) = action.ok_or_else(|| {
        invalid(
            at,
            "has no Action; add \"Action\" (or \"NotAction\") with action names such as \"kinesisvideo:GetMedia\"",
        )
    })?;
    let (resource_name, resource) = resource.ok_or_else(|| {
        invalid(
            at,
            "has no Resource; add \"Resource\" (or \"NotResource\"): \"*\" or ARN patterns such as \"arn:aws:kinesisvideo:*:*:stream/NAME/*\"",
        )
    })?;

    let action_at = format!("{at}.{action_name}");
    let mut actions = Vec::new();
    let mut action_bits = 0;
    for (i, text) in patterns(&action_at, action)? {
        let pattern = Pattern::new(&text);
        let bits = Statement::catalog_bits(std::slice::from_ref(&pattern));
        if bits == 0 {
            return Err(unknown_action(&element_at(&action_at, i), &text, &pattern));
        }
        action_bits |= bits;
        actions.push(pattern);
    }

    let resource_at = format!("{at}.{resource_name}");
    let mut resources = Vec::new();
    for (i, text) in patterns(&resource_at, resource)? {
        check_resource(&element_at(&resource_at, i), &text, version)?;
        resources.push(Pattern::new(&text));
    }

    Ok(Statement {
        effect,
        not_action: action_name == "NotAction",
        actions: actions.into_boxed_slice(),
        action_bits,
        not_resource: resource_name == "NotResource",
        resources: resources.into_boxed_slice(),
    })
}

/// Records `Action`/`NotAction` (or the Resource pair), refusing both or either twice.
fn set_either(
    at: &str,
    slot: &mut Option<(String, Node)>,
    name: String,
    value: Node,
) -> Result<(), PolicyError> {
    if let Some((seen, _)) = slot {
        return Err(if *seen == name {
            invalid(at, format!("has {name} twice; keep one"))
        } else {
            invalid(at, format!("has both {seen} and {name}; keep one"))
        });
    }
    *slot = Some((name, value));
    Ok(())
}

fn parse_effect(at: &str, node: Node) -> Result<Effect, PolicyError> {
    let s = string(at, node)?;
    match s.as_str() {
        "Allow" => Ok(Effect::Allow),
        "Deny" => Ok(Effect::Deny),
        _ => Err(invalid(
            at,
            format!(
                "`{}` is not an effect; write \"Allow\" or \"Deny\"",
                shown(&s)
            ),
        )),
    }
}

/// Where entry `i` of an element is: `Statement[0].Action[1]`, or `Statement[0].Action` when the
/// element is a single string (`i` is `None`).
fn element_at(at: &str, i: Option<usize>) -> String {
    match i {
        Some(i) => format!("{at}[{i}]"),
        None => at.to_owned(),
    }
}

/// The non-empty strings of an element that is a string or a list of 1..=MAX_PATTERNS strings,
/// each with its list index.
fn patterns(at: &str, node: Node) -> Result<Vec<(Option<usize>, String)>, PolicyError> {
    let entries: Vec<(Option<usize>, Node)> = match node {
        Node::Str(s) => vec![(None, Node::Str(s))],
        Node::Arr(items) => {
            if items.is_empty() {
                return Err(invalid(
                    at,
                    "is an empty list, which matches nothing; list at least one pattern",
                ));
            }
            if items.len() > MAX_PATTERNS {
                return Err(invalid(
                    at,
                    format!(
                        "has {} entries; the limit is {MAX_PATTERNS}: use wildcards or split the statement",
                        items.len()
                    ),
                ));
            }
            items
                .into_iter()
                .enumerate()
                .map(|(i, n)| (Some(i), n))
                .collect()
        }
        other => {
            return Err(invalid(
                at,
                format!(
                    "is {}; write a string or a list of strings",
                    other.describe()
                ),
            ));
        }
    };
    entries
        .into_iter()
        .map(|(i, node)| {
            let here = element_at(at, i);
            let s = string(&here, node)?;
            if s.is_empty() {
                return Err(invalid(&here, "is empty; write a pattern"));
            }
            Ok((i, s))
        })
        .collect()
}

fn unknown_action(at: &str, text: &str, pattern: &Pattern) -> PolicyError {
    let problem = match pattern {
        Pattern::Glob { .. } => format!(
            "`{}` matches no known action; actions are named like kinesisvideo:Get* or vidstream:*",
            shown(text)
        ),
        _ => match suggest(text) {
            Some(a) => format!(
                "`{}` is not a known action; did you mean `{a}`?",
                shown(text)
            ),
            None => format!(
                "`{}` is not a known action; actions are named like kinesisvideo:GetMedia or vidstream:ListCameras",
                shown(text)
            ),
        },
    };
    invalid(at, problem)
}

/// The catalog action closest to a misspelt name (or to a name missing its `service:`).
fn suggest(text: &str) -> Option<Action> {
    const MAX_EDITS: usize = 3;
    if text.len() > 64 {
        return None;
    }
    Action::ALL
        .iter()
        .filter_map(|&a| {
            let full = distance(a.as_str(), text, MAX_EDITS);
            let short = if text.contains(':') {
                None
            } else {
                distance(a.short_name(), text, MAX_EDITS)
            };
            full.into_iter().chain(short).min().map(|d| (d, a))
        })
        .min_by_key(|&(d, _)| d)
        .map(|(_, a)| a)
}

/// ASCII-case-insensitive Levenshtein distance between `a` and `b`, if at most `max`.
fn distance(a: &str, b: &str, max: usize) -> Option<usize> {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len().abs_diff(b.len()) > max {
        return None;
    }
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, &ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(!ca.eq_ignore_ascii_case(&cb));
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(diagonal + 1);
        }
    }
    let d = row[b.len()];
    (d <= max).then_some(d)
}

fn check_resource(at: &str, text: &str, version: Version) -> Result<(), PolicyError> {
    if text == "*" {
        return Ok(());
    }
    // AWS ARNs have six fields (`arn:aws:kinesisvideo:REGION:ACCOUNT:stream/...`), vidstream's
    // own five (`arn:vidstream:REGION:ACCOUNT:camera/...`).
    if !text.starts_with("arn:") || text.matches(':').count() < 4 {
        return Err(invalid(
            at,
            format!(
                "`{}` is not an ARN; write \"*\" or an ARN pattern such as \"arn:aws:kinesisvideo:*:*:stream/NAME/*\"",
                shown(text)
            ),
        ));
    }
    if version == Version::V2012 && text.contains("${") {
        return Err(invalid(
            at,
            format!(
                "`{}` uses a policy variable, which vidstream does not substitute; write the value itself",
                shown(text)
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_is_levenshtein_ignoring_case() {
        assert_eq!(distance("GetMedia", "getmedia", 3), Some(0));
        assert_eq!(distance("GetMedia", "GetMedai", 3), Some(2));
        assert_eq!(distance("GetMedia", "GetMedi", 3), Some(1));
        assert_eq!(distance("GetMedia", "PutMedia", 3), Some(2));
        assert_eq!(distance("abc", "abcdefg", 3), None);
        assert_eq!(distance("", "ab", 3), Some(2));
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest("kinesisvideo:GetMedai"), Some(Action::GetMedia));
        assert_eq!(suggest("PutMedia"), Some(Action::PutMedia));
        assert_eq!(suggest("vidstream:ListCamera"), Some(Action::ListCameras));
        assert_eq!(suggest("s3:GetObject"), None);
    }

    #[test]
    fn shown_escapes_and_cuts() {
        assert_eq!(shown("a\nb"), "a\\nb");
        assert_eq!(shown(&"x".repeat(100)), format!("{}…", "x".repeat(80)));
    }
}
