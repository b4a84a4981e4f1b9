//! Parsing errors, evaluation semantics, and a deterministic mutation loop over `Policy::parse`.

use super::*;

const CAM1: &str = "arn:aws:kinesisvideo:us-east-1:123456789012:stream/cam-1/1700000000000";
const LOBBY: &str = "arn:aws:kinesisvideo:us-east-1:123456789012:stream/lobby/1700000000000";

fn err(json: &str) -> String {
    match Policy::parse(json) {
        Ok(_) => panic!("parsed: {json}"),
        Err(e) => e.to_string(),
    }
}

/// A document with one statement made of `members` (JSON text without braces).
fn one(members: &str) -> String {
    format!(r#"{{"Version": "2012-10-17", "Statement": [{{{members}}}]}}"#)
}

fn allow(action: &str, resource: &str) -> String {
    one(&format!(
        r#""Effect": "Allow", "Action": {action}, "Resource": {resource}"#
    ))
}

fn decide(json: &str, action: &str, resource: &str) -> Decision {
    let p = Policy::parse(json).unwrap_or_else(|e| panic!("{e}: {json}"));
    p.check_invariants();
    p.decide(action, resource)
}

#[track_caller]
fn assert_err(json: &str, want: &str) {
    let got = err(json);
    assert!(got.contains(want), "got {got:?}, want {want:?}");
}

#[test]
fn parses_the_grammar() {
    // Statement as a single object, Version absent, single strings, Id.
    let p = Policy::parse(
        r#"{"Id": "x", "Statement": {"Effect": "Allow", "Action": "kinesisvideo:GetMedia", "Resource": "*"}}"#,
    )
    .unwrap();
    assert_eq!(p.statement_count(), 1);
    assert_eq!(p.decide("kinesisvideo:GetMedia", CAM1), Decision::Allow);
    // 2008-10-17 accepted; lists; Sids; NotAction/NotResource.
    let json = r#"{"Version": "2008-10-17", "Statement": [
        {"Sid": "A", "Effect": "Allow", "Action": ["kinesisvideo:Get*", "vidstream:*"], "Resource": ["*"]},
        {"Sid": "B", "Effect": "Deny", "NotAction": ["kinesisvideo:GetMedia"], "NotResource": "arn:aws:kinesisvideo:*:*:stream/cam-*/*"}
    ]}"#;
    let p = Policy::parse(json).unwrap();
    p.check_invariants();
    assert_eq!(p.statement_count(), 2);
    // The text is kept exactly, whitespace and all.
    assert_eq!(p.json(), json);
}

#[test]
fn document_errors() {
    assert_err(&" ".repeat(MAX_POLICY_BYTES + 1), "the limit is 6144");
    assert!(matches!(
        Policy::parse(&" ".repeat(MAX_POLICY_BYTES + 1)),
        Err(PolicyError::TooLarge { len: 6145 })
    ));
    assert_err("", "not valid JSON");
    assert_err("{\"Statement\": [}", "not valid JSON");
    assert_err("{} x", "not valid JSON");
    assert_err(&("[".repeat(200) + &"]".repeat(200)), "not valid JSON");
    assert_err("[]", "policy document is a list; write an object");
    assert_err("\"x\"", "policy document is a string");
    assert_err("{}", "policy document has no Statement");
    assert_err(
        r#"{"Statment": []}"#,
        "policy document has an unknown element `Statment`; did you mean `Statement`?",
    );
    assert_err(
        r#"{"version": "2012-10-17"}"#,
        "did you mean `Version`? (element names are case-sensitive)",
    );
    assert_err(
        r#"{"Version": "2012-10-17", "Version": "2012-10-17"}"#,
        "policy document has Version twice",
    );
    assert_err(
        r#"{"Version": "2020-01-01", "Statement": []}"#,
        "Version `2020-01-01` is not a policy language version",
    );
    assert_err(
        r#"{"Version": 2012}"#,
        "Version is a number; write a string",
    );
    assert_err(r#"{"Id": [], "Statement": []}"#, "Id is a list");
    assert_err(r#"{"Statement": []}"#, "Statement is an empty list");
    assert_err(r#"{"Statement": "x"}"#, "Statement is a string");
    assert_err(r#"{"Statement": [1]}"#, "Statement[0] is a number");
    let many = vec![r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#; MAX_STATEMENTS + 1];
    assert_err(
        &format!(r#"{{"Statement": [{}]}}"#, many.join(",")),
        "Statement has 101 statements; the limit is 100",
    );
    let most = vec![r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#; MAX_STATEMENTS];
    assert!(Policy::parse(&format!(r#"{{"Statement": [{}]}}"#, most.join(","))).is_ok());
}

#[test]
fn statement_errors() {
    let action = r#""Action": "*""#;
    let resource = r#""Resource": "*""#;
    assert_err(
        &one(&format!("{action}, {resource}")),
        "Statement[0] has no Effect",
    );
    assert_err(
        &one(&format!(r#""Effect": "allow", {action}, {resource}"#)),
        "Statement[0].Effect `allow` is not an effect; write \"Allow\" or \"Deny\"",
    );
    assert_err(
        &one(&format!(r#""Effect": true, {action}, {resource}"#)),
        "Statement[0].Effect is a boolean",
    );
    assert_err(
        &one(&format!(
            r#""Effect": "Allow", "Effect": "Deny", {action}, {resource}"#
        )),
        "Statement[0] has Effect twice",
    );
    assert_err(
        &one(&format!(r#""Effect": "Allow", {resource}"#)),
        "Statement[0] has no Action",
    );
    assert_err(
        &one(&format!(r#""Effect": "Allow", {action}"#)),
        "Statement[0] has no Resource",
    );
    assert_err(
        &one(&format!(
            r#""Effect": "Allow", {action}, "NotAction": "*", {resource}"#
        )),
        "Statement[0] has both Action and NotAction; keep one",
    );
    assert_err(
        &one(&format!(
            r#""Effect": "Allow", {action}, {action}, {resource}"#
        )),
        "Statement[0] has Action twice",
    );
    assert_err(
        &one(&format!(
            r#""Effect": "Allow", {action}, "NotResource": "*", {resource}"#
        )),
        "Statement[0] has both NotResource and Resource; keep one",
    );
    assert_err(
        &one(&format!(r#""Effect": "Allow", {action}, "Resources": "*""#)),
        "Statement[0] has an unknown element `Resources`; did you mean `Resource`?",
    );
    assert_err(
        &one(&format!(
            r#""Effect": "Allow", {action}, {resource}, "Foo": 1"#
        )),
        "the elements here are Sid, Effect, Action, NotAction, Resource, NotResource",
    );
    assert_err(
        &format!(r#"{{"Statement": [{{"Effect": "Allow", {action}, {resource}}}, 2]}}"#),
        "Statement[1] is a number",
    );
}

#[test]
fn condition_and_principal_are_refused() {
    let base = r#""Effect": "Allow", "Action": "*", "Resource": "*""#;
    assert_err(
        &one(&format!(
            r#"{base}, "Condition": {{"IpAddress": {{"aws:SourceIp": "10.0.0.0/8"}}}}"#
        )),
        "Statement[0].Condition is not supported by vidstream; a condition it ignored would grant more than its author meant",
    );
    assert_err(
        &one(&format!(r#"{base}, "Principal": "*""#)),
        "Statement[0].Principal is not supported by vidstream",
    );
    assert_err(
        &one(&format!(r#"{base}, "NotPrincipal": {{"AWS": "x"}}"#)),
        "Statement[0].NotPrincipal is not supported by vidstream",
    );
    // Where the statement is a lone object, the path says so.
    assert_err(
        r#"{"Statement": {"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {}}}"#,
        "Statement.Condition is not supported by vidstream",
    );
}

#[test]
fn sid_errors() {
    let body = r#""Effect": "Allow", "Action": "*", "Resource": "*""#;
    assert_err(
        &format!(r#"{{"Statement": [{{"Sid": "A", {body}}}, {{"Sid": "A", {body}}}]}}"#),
        "Statement[1].Sid `A` is also the Sid of Statement[0]; Sids must be unique",
    );
    assert_err(
        &one(&format!(r#""Sid": 1, {body}"#)),
        "Statement[0].Sid is a number",
    );
    assert_err(
        &one(&format!(r#""Sid": "a", "Sid": "b", {body}"#)),
        "Statement[0] has Sid twice",
    );
}

#[test]
fn pattern_list_errors() {
    assert_err(
        &allow("[]", r#""*""#),
        "Statement[0].Action is an empty list",
    );
    assert_err(&allow(r#""""#, r#""*""#), "Statement[0].Action is empty");
    assert_err(
        &allow(r#"["*", 3]"#, r#""*""#),
        "Statement[0].Action[1] is a number; write a string",
    );
    assert_err(
        &allow(r#"{"a": 1}"#, r#""*""#),
        "Statement[0].Action is an object; write a string or a list of strings",
    );
    assert_err(
        &allow(r#""*""#, r#"[null]"#),
        "Statement[0].Resource[0] is null",
    );
    let many = format!("[{}]", vec![r#""*""#; MAX_PATTERNS + 1].join(","));
    assert_err(
        &allow(&many, r#""*""#),
        "Statement[0].Action has 101 entries; the limit is 100",
    );
    assert_err(
        &allow(r#""*""#, &many),
        "Statement[0].Resource has 101 entries",
    );
    let most = format!("[{}]", vec![r#""*""#; MAX_PATTERNS].join(","));
    assert!(Policy::parse(&allow(&most, &most)).is_ok());
}

#[test]
fn unknown_actions_are_refused() {
    let doc = r#"{"Statement": [
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Allow", "Action": ["kinesisvideo:GetMedai"], "Resource": "*"}]}"#;
    assert_eq!(
        err(doc),
        "Statement[2].Action[0] `kinesisvideo:GetMedai` is not a known action; did you mean `kinesisvideo:GetMedia`?"
    );
    assert_err(
        &allow(r#""GetMedia""#, r#""*""#),
        "did you mean `kinesisvideo:GetMedia`?",
    );
    assert_err(
        &allow(r#""s3:GetObject""#, r#""*""#),
        "Statement[0].Action `s3:GetObject` is not a known action; actions are named like",
    );
    assert_err(
        &allow(r#""s3:*""#, r#""*""#),
        "`s3:*` matches no known action",
    );
    assert_err(
        &allow(r#""kinesisvideo:Put?""#, r#""*""#),
        "matches no known action",
    );
    // A typo in NotAction would allow more, so it is refused as well.
    assert_err(
        &one(r#""Effect": "Allow", "NotAction": "kinesisvideo:DeleteStraem", "Resource": "*""#),
        "Statement[0].NotAction `kinesisvideo:DeleteStraem` is not a known action",
    );
    // Known in any case, and wildcards that match something.
    for ok in [
        r#""KinesisVideo:getmedia""#,
        r#""*""#,
        r#""*:*""#,
        r#""kinesisvideo:*""#,
        r#""vidstream:*Camera*""#,
        r#""kinesisvideo:GetHLS?asterPlaylist""#,
    ] {
        assert!(Policy::parse(&allow(ok, r#""*""#)).is_ok(), "{ok}");
    }
}

#[test]
fn resource_errors() {
    assert_err(
        &allow(r#""*""#, r#""cam-1""#),
        "Statement[0].Resource `cam-1` is not an ARN; write \"*\" or an ARN pattern",
    );
    assert_err(
        &allow(r#""*""#, r#""arn:aws:kinesisvideo:stream/x""#),
        "is not an ARN",
    );
    assert_err(
        &allow(
            r#""*""#,
            r#"["*", "arn:aws:kinesisvideo:*:*:stream/${aws:username}/*"]"#,
        ),
        "Statement[0].Resource[1] `arn:aws:kinesisvideo:*:*:stream/${aws:username}/*` uses a policy variable",
    );
    // Under 2008-10-17 (or no Version) IAM reads `${` literally, and so do we.
    let literal =
        r#"{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "arn:x:y:z:1:a/${b}"}}"#;
    assert_eq!(
        decide(literal, "kinesisvideo:GetMedia", "arn:x:y:z:1:a/${b}"),
        Decision::Allow
    );
}

#[test]
fn messages_show_bounded_escaped_text() {
    let long = "s".repeat(500);
    let e = err(&allow(&format!(r#""{long}""#), r#""*""#));
    assert!(e.len() < 300, "{e}");
    let e = err(&allow(r#""a\nb""#, r#""*""#));
    assert!(e.contains("`a\\nb`"), "{e}");
}

#[test]
fn action_and_resource_case_rules() {
    let json = allow(
        r#""kinesisvideo:PutMedia""#,
        r#""arn:aws:kinesisvideo:*:*:stream/cam-*/*""#,
    );
    assert_eq!(
        decide(&json, "kinesisvideo:PutMedia", CAM1),
        Decision::Allow
    );
    // Actions: any case (IAM); this takes the glob path, not the catalog's exact lookup.
    assert_eq!(
        decide(&json, "KINESISVIDEO:putmedia", CAM1),
        Decision::Allow
    );
    // Resources: exact case.
    let upper = CAM1.replace("cam-1", "CAM-1");
    assert_eq!(
        decide(&json, "kinesisvideo:PutMedia", &upper),
        Decision::NotMatched
    );
}

#[test]
fn wildcards_in_resources() {
    let json = allow(r#""*""#, r#""arn:aws:kinesisvideo:*:*:stream/cam-?/*""#);
    assert_eq!(
        decide(&json, "kinesisvideo:GetMedia", CAM1),
        Decision::Allow
    );
    let cam10 = CAM1.replace("cam-1", "cam-10");
    assert_eq!(
        decide(&json, "kinesisvideo:GetMedia", &cam10),
        Decision::NotMatched
    );
    // `*` crosses `/`: this pattern also matches cam-10's ARN (IAM semantics).
    let json = allow(r#""*""#, r#""arn:aws:kinesisvideo:*:*:stream/cam-1*""#);
    assert_eq!(
        decide(&json, "kinesisvideo:GetMedia", &cam10),
        Decision::Allow
    );
    // A resource-less request is `*`, matched by `*` only (not by an ARN pattern).
    assert_eq!(
        decide(&json, "kinesisvideo:ListStreams", resource::ANY),
        Decision::NotMatched
    );
}

#[test]
fn not_action_and_not_resource() {
    // Allow everything but deletes.
    let json = one(r#""Effect": "Allow", "NotAction": "kinesisvideo:Delete*", "Resource": "*""#);
    assert_eq!(
        decide(&json, "kinesisvideo:GetMedia", CAM1),
        Decision::Allow
    );
    assert_eq!(decide(&json, "vidstream:PutCamera", CAM1), Decision::Allow);
    assert_eq!(
        decide(&json, "kinesisvideo:DeleteStream", CAM1),
        Decision::NotMatched
    );
    // Deny everything outside cam-* streams.
    let json = r#"{"Statement": [
        {"Effect": "Allow", "Action": "kinesisvideo:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "*", "NotResource": "arn:aws:kinesisvideo:*:*:stream/cam-*/*"}]}"#;
    assert_eq!(decide(json, "kinesisvideo:GetMedia", CAM1), Decision::Allow);
    assert_eq!(decide(json, "kinesisvideo:GetMedia", LOBBY), Decision::Deny);
    // ...which also denies resource-less requests (IAM semantics: `*` is not a cam-* ARN).
    assert_eq!(
        decide(json, "kinesisvideo:ListStreams", resource::ANY),
        Decision::Deny
    );
    // NotAction "*" and NotResource "*" never apply.
    let never = one(r#""Effect": "Deny", "NotAction": "*", "NotResource": "*""#);
    assert_eq!(
        decide(&never, "kinesisvideo:GetMedia", CAM1),
        Decision::NotMatched
    );
}

#[test]
fn deny_wins_and_default_deny() {
    let json = r#"{"Statement": [
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "Action": "kinesisvideo:DeleteStream", "Resource": "*"}]}"#;
    assert_eq!(
        decide(json, "kinesisvideo:DeleteStream", CAM1),
        Decision::Deny
    );
    assert_eq!(decide(json, "kinesisvideo:GetMedia", CAM1), Decision::Allow);
    assert_eq!(
        decide(json, "vidstream:not-in-the-catalog", CAM1),
        Decision::Allow
    );

    let everything = builtin("admin", "*").unwrap();
    let no_lobby = Policy::parse(
        r#"{"Statement": {"Effect": "Deny", "Action": "*", "Resource": "arn:aws:kinesisvideo:*:*:stream/lobby/*"}}"#,
    )
    .unwrap();
    let viewer = builtin("viewer", "*").unwrap();
    // Explicit deny in one policy beats an allow in another, in either order.
    for set in [vec![&everything, &no_lobby], vec![&no_lobby, &everything]] {
        assert_eq!(
            evaluate(set.iter().copied(), "kinesisvideo:GetMedia", LOBBY),
            Decision::Deny
        );
        assert_eq!(
            evaluate(set.iter().copied(), "kinesisvideo:GetMedia", CAM1),
            Decision::Allow
        );
    }
    // Default deny: nothing applies, or no policies at all.
    assert_eq!(
        evaluate([&viewer], "kinesisvideo:PutMedia", CAM1),
        Decision::NotMatched
    );
    assert!(!is_allowed([&viewer], "kinesisvideo:PutMedia", CAM1));
    assert_eq!(
        evaluate(std::iter::empty::<&Policy>(), "kinesisvideo:GetMedia", CAM1),
        Decision::NotMatched
    );
    // Owned and shared policies work too.
    let shared = vec![std::sync::Arc::new(viewer.clone())];
    assert!(is_allowed(&shared, "kinesisvideo:GetMedia", CAM1));
    assert!(is_allowed(vec![viewer], "kinesisvideo:GetMedia", CAM1));
}

#[test]
fn actions_outside_the_catalog_go_through_the_patterns() {
    let json = allow(
        r#"["kinesisvideo:Get*", "vidstream:ListCameras"]"#,
        r#""*""#,
    );
    assert_eq!(
        decide(&json, "kinesisvideo:GetFuture", CAM1),
        Decision::Allow
    );
    assert_eq!(
        decide(&json, "kinesisvideo:PutFuture", CAM1),
        Decision::NotMatched
    );
    assert_eq!(decide(&json, "", CAM1), Decision::NotMatched);
}

/// The catalog fast path and the glob path decide alike for every action.
fn paths_agree(p: &Policy, resources: &[&str]) {
    for &a in Action::ALL {
        let slow = a.as_str().to_ascii_uppercase();
        for r in resources {
            assert_eq!(
                p.decide(a.as_str(), r),
                p.decide(&slow, r),
                "{a} on {r}: {}",
                p.json()
            );
        }
    }
}

#[test]
fn fast_and_slow_paths_agree_on_the_builtins() {
    for name in BUILTIN_NAMES {
        for streams in ["*", "cam-*", "lobby", "c?m-1"] {
            let Ok(p) = builtin(name, streams) else {
                continue;
            };
            paths_agree(
                &p,
                &[CAM1, LOBBY, resource::ANY, "arn:vidstream:r:1:camera/cam-1"],
            );
        }
    }
}

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const TOKENS: &[&str] = &[
    "\"",
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "*",
    "?",
    "\\",
    "\\u0000",
    "\\ud800",
    "null",
    "true",
    "1e999",
    "-0",
    "[]",
    "{}",
    "\"*\"",
    "\"Action\"",
    "\"NotAction\"",
    "\"Resource\"",
    "\"NotResource\"",
    "\"Condition\"",
    "\"Principal\"",
    "\"Effect\"",
    "\"Allow\"",
    "\"Deny\"",
    "\"Statement\"",
    "\"Sid\"",
    "\"Version\"",
    "\"2012-10-17\"",
    "kinesisvideo:",
    "vidstream:",
    "Get",
    "arn:",
    "${",
    "é",
    "\u{10FFFF}",
    "\u{0}",
    "/",
    "?*",
    "**",
];

fn mutate(rng: &mut Rng, seeds: &[String], input: &mut Vec<u8>) {
    for _ in 0..=rng.below(4) {
        let at = rng.below(input.len() + 1);
        match rng.below(6) {
            0 if !input.is_empty() => {
                let end = (at + 1 + rng.below(8)).min(input.len());
                input.drain(at.min(end)..end);
            }
            1 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                input.splice(at..at, token.bytes());
            }
            2 if at < input.len() => input[at] = rng.next() as u8,
            3 if !input.is_empty() => {
                let start = rng.below(input.len());
                let end = (start + rng.below(64)).min(input.len());
                let piece = input[start..end].to_vec();
                input.splice(at..at, piece);
            }
            4 => {
                // Splice in part of another seed.
                let other = seeds[rng.below(seeds.len())].as_bytes();
                let start = rng.below(other.len());
                let end = (start + rng.below(200)).min(other.len());
                input.splice(at..at, other[start..end].iter().copied());
            }
            _ => {
                let token = TOKENS[rng.below(TOKENS.len())];
                let end = (at + token.len()).min(input.len());
                input.splice(at..end, token.bytes());
            }
        }
    }
}

const ACTION_PIECES: &[&str] = &[
    "*",
    "kinesisvideo:*",
    "kinesisvideo:Get*",
    "kinesisvideo:PutMedia",
    "KinesisVideo:getmedia",
    "vidstream:*Camera*",
    "vidstream:?ist*",
    "*Media*",
    "kinesisvideo:GetHLS?asterPlaylist",
];

const RESOURCE_PIECES: &[&str] = &[
    "*",
    "arn:aws:kinesisvideo:*:*:stream/cam-*/*",
    CAM1,
    "arn:aws:kinesisvideo:*:*:stream/lobby/*",
    "arn:vidstream:*:*:camera/*",
    "arn:*:*:*:*:*a*a*b",
    "arn:aws:kinesisvideo:us-east-1:*:stream/c?m-1/1*",
];

/// A document from the grammar with random elements (mostly valid).
fn generate(rng: &mut Rng) -> String {
    let list = |rng: &mut Rng, pieces: &[&str]| {
        let items: Vec<String> = (0..=rng.below(3))
            .map(|_| format!("\"{}\"", pieces[rng.below(pieces.len())]))
            .collect();
        if items.len() == 1 && rng.below(2) == 0 {
            items[0].clone()
        } else {
            format!("[{}]", items.join(","))
        }
    };
    let statements: Vec<String> = (0..=rng.below(4))
        .map(|_| {
            let effect = ["Allow", "Deny", "Allow"][rng.below(3)];
            let action = ["Action", "Action", "Action", "NotAction"][rng.below(4)];
            let resource = ["Resource", "Resource", "Resource", "NotResource"][rng.below(4)];
            let actions = list(rng, ACTION_PIECES);
            let resources = list(rng, RESOURCE_PIECES);
            format!(r#"{{"Effect":"{effect}","{action}":{actions},"{resource}":{resources}}}"#)
        })
        .collect();
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        statements.join(",")
    )
}

#[test]
fn parse_survives_mutated_documents() {
    let mut seeds: Vec<String> = BUILTIN_NAMES
        .iter()
        .map(|n| builtin(n, if *n == "admin" { "*" } else { "cam-*" }).unwrap())
        .map(|p| p.json().to_owned())
        .collect();
    seeds.push(
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"a","Effect":"Deny","NotAction":["kinesisvideo:Get*","vidstream:?ist*"],"NotResource":["arn:aws:kinesisvideo:*:*:stream/*a*a*b/*","*"]},{"Effect":"Allow","Action":"*","Resource":"arn:vidstream:*:*:camera/x"}]}"#
            .to_owned(),
    );
    let resources = [CAM1, LOBBY, resource::ANY, "arn:vidstream:r:1:camera/x", ""];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut parsed, mut refused) = (0, 0);
    for i in 0..4000 {
        let mut input = if i % 2 == 0 {
            let mut input = seeds[i % seeds.len()].clone().into_bytes();
            mutate(&mut rng, &seeds, &mut input);
            input
        } else {
            let mut input = generate(&mut rng).into_bytes();
            if rng.below(3) == 0 {
                mutate(&mut rng, &seeds, &mut input);
            }
            input
        };
        if i % 50 == 0 {
            // Now and then, bytes with no JSON shape at all.
            input = (0..rng.below(64)).map(|_| rng.next() as u8).collect();
        }
        let text = String::from_utf8_lossy(&input);
        match Policy::parse(&text) {
            Ok(p) => {
                parsed += 1;
                p.check_invariants();
                assert_eq!(p.json(), text);
                if parsed % 10 == 0 {
                    paths_agree(&p, &resources);
                }
                for r in resources {
                    let _ = p.decide("", r);
                    let _ = p.decide("kinesisvideo:", r);
                }
            }
            Err(e) => {
                refused += 1;
                assert!(!e.to_string().is_empty());
            }
        }
    }
    // Both outcomes are exercised, or the mutations are too weak (or too strong) to test much.
    assert!(
        parsed > 1000 && refused > 1000,
        "parsed {parsed}, refused {refused}"
    );
}
