//! Fuzzes `auth::policy::Policy::parse` and evaluation with arbitrary bytes.
//!
//! Checks, for every input: no panic; a parsed policy passes `check_invariants()`, keeps its text,
//! and decides the given action and resource the same way through the catalog's fast path and
//! through the patterns (the action's exact name vs the same name upper-cased), alone and as a
//! one-policy set; refused documents produce a message.
//!
//! Input layout: `DOCUMENT \0 ACTION \0 RESOURCE` (missing parts are empty; invalid UTF-8 is
//! replaced), so a seed can be a plain policy document (see `fuzz/seed_corpus.sh`).

#![no_main]

use libfuzzer_sys::fuzz_target;
use vidstream::auth::policy::{Action, Policy, evaluate};

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |&b| b == 0);
    let mut next = || String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let (document, action, resource) = (next(), next(), next());
    let policy = match Policy::parse(&document) {
        Ok(policy) => policy,
        Err(error) => {
            assert!(!error.to_string().is_empty());
            return;
        }
    };
    policy.check_invariants();
    assert_eq!(policy.json(), document);

    let decision = policy.decide(&action, &resource);
    assert_eq!(evaluate([&policy], &action, &resource), decision);
    assert_eq!(
        evaluate([&policy, &policy], &action, &resource),
        decision,
        "a policy twice decides as once"
    );
    // Case does not matter to actions: the upper-cased name (never a catalog name, so it takes
    // the glob path) decides like the name.
    assert_eq!(policy.decide(&action.to_ascii_uppercase(), &resource), decision);
    for &a in Action::ALL {
        let fast = policy.decide(a.as_str(), &resource);
        let slow = policy.decide(&a.as_str().to_ascii_uppercase(), &resource);
        assert_eq!(fast, slow, "{a}");
    }
});
